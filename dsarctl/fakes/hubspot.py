"""A fake of HubSpot's CRM API v3 (https://api.hubapi.com), as far as dsarctl's `hubspot` definition uses
it, with the documented shapes:

- `POST /crm/v3/objects/{type}/search` (contacts, tickets, deals, companies, emails): `filterGroups` (filters ORed
  across groups, ANDed within one; operators EQ, NEQ, HAS_PROPERTY, IN, and `associations.contact EQ ID`;
  `email` compared case-insensitively as HubSpot stores addresses in lower case), `properties`, `limit`
  (≤ 200, default 10), `after`; answers `{total, results, paging.next.after}`.
- `GET /crm/v3/objects/{type}/{id}?properties=&associations=&idProperty=`: one object, with
  `associations.{type}.results[{id, type}]` when asked; `404` with HubSpot's error body otherwise.
- `GET /crm/v3/objects/contacts/{id}/associations/{toType}`: `{results: [{id, type}], paging}`.
- `POST /crm/v3/objects/contacts/gdpr-delete` `{objectId, idProperty?}`: `204`; the contact is gone for
  good with its associations (the associated deals and tickets stay, unlinked); an address that matches
  no contact is put on the blocklist (still `204`); an unknown id is `404`.
- `DELETE /crm/v3/objects/{type}/{id}`: `204`, the object archived (gone from reads and searches).
- Auth: `Authorization: Bearer TOKEN` (a private-app token); `401` with category INVALID_AUTHENTICATION.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, Iterable

from .server import FakeApi, FakeRequest, FakeResponse

DEFAULT_CONTACT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
DEFAULT_PROPERTIES = {
    "contacts": DEFAULT_CONTACT_PROPERTIES,
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
    "tickets": ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
                "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "emails": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),  # logged e-mails (engagements)
}
OBJECT_TYPES = tuple(DEFAULT_PROPERTIES)
SINGULAR = {"contacts": "contact", "deals": "deal", "tickets": "ticket", "companies": "company", "emails": "email"}
ADDRESS_PROPERTIES = {"email", "hs_email_from_email"}  # compared case-insensitively
TIMESTAMP = "2026-01-05T10:00:00.000Z"


def _error(status: int, message: str, category: str) -> FakeResponse:
    return FakeResponse(status, {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                                 "category": category})


class HubSpotFake(FakeApi):
    """HubSpot's CRM objects: contacts, deals, tickets, companies, and associations between them."""

    name = "hubspot"

    def __init__(self, token: str = "pat-test-token") -> None:
        super().__init__()
        self.token = token
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self.archived: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self.association_page_size = 500  # the associations endpoint's page
        self.links: set[tuple[str, str, str, str]] = set()  # (type, id, other type, other id), both ways
        self.blocklist: set[str] = set()
        self.gdpr_deleted: list[str] = []  # ids, in order
        self._ids = itertools.count(101)
        self.route("POST", "/crm/v3/objects/contacts/gdpr-delete", self.gdpr_delete)
        self.route("POST", "/crm/v3/objects/{type}/search", self.search)
        self.route("GET", "/crm/v3/objects/{type}/{id}/associations/{to}", self.associations)
        self.route("GET", "/crm/v3/objects/{type}/{id}", self.read)
        self.route("DELETE", "/crm/v3/objects/{type}/{id}", self.archive)

    # -- state ------------------------------------------------------------------------------------------
    def add(self, object_type: str, properties: dict[str, Any], *, associations: Iterable[tuple[str, str]] = ()
            ) -> str:
        """Add an object with `properties`, associated with (type, id) pairs; returns its id."""
        object_id = str(next(self._ids))
        props = {k: (None if v is None else str(v)) for k, v in properties.items()}
        if object_type == "contacts" and props.get("email"):
            props["email"] = props["email"].strip().lower()  # HubSpot keeps addresses in lower case
        props.setdefault("hs_createdate" if object_type == "emails" else "createdate", TIMESTAMP)
        props.setdefault("lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate", TIMESTAMP)
        props["hs_object_id"] = object_id
        with self.lock:
            self.objects[object_type][object_id] = props
            for other_type, other_id in associations:
                self.associate(object_type, object_id, other_type, other_id)
        return object_id

    def associate(self, a_type: str, a_id: str, b_type: str, b_id: str) -> None:
        self.links.add((a_type, a_id, b_type, b_id))
        self.links.add((b_type, b_id, a_type, a_id))

    def linked(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        return sorted((b for a, i, t, b in self.links if a == object_type and i == object_id and t == to_type),
                      key=int)

    def contact_by_email(self, email: str) -> str | None:
        wanted = email.strip().lower()
        return next((i for i, p in self.objects["contacts"].items() if p.get("email") == wanted), None)

    # -- the API ----------------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        if request.headers.get("authorization") == f"Bearer {self.token}":
            return None
        return _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                           "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                           "oauth-overview", "INVALID_AUTHENTICATION")

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, b"", {"Content-Type": "text/html"})

    def _shape(self, object_type: str, object_id: str, wanted: list[str] | None) -> dict[str, Any]:
        props = self.objects[object_type][object_id]
        names = list(DEFAULT_PROPERTIES[object_type]) + [n for n in (wanted or []) if n not in DEFAULT_PROPERTIES[object_type]]
        modified = props.get("lastmodifieddate") or props.get("hs_lastmodifieddate") or TIMESTAMP
        return {"id": object_id, "properties": {n: props.get(n) for n in names},
                "createdAt": props.get("createdate") or props.get("hs_createdate") or TIMESTAMP,
                "updatedAt": modified, "archived": False}

    def search(self, request: FakeRequest) -> FakeResponse:
        object_type = request.params["type"]
        if object_type not in self.objects:
            return self.not_found(request)
        try:
            body = request.json() or {}
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
        except (ValueError, TypeError):
            return _error(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
        if not 0 < limit <= 200:
            return _error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or any(len(g.get("filters") or []) > 6 for g in groups):
            return _error(400, "There was a problem with the request: too many filters", "VALIDATION_ERROR")
        hits = [i for i, p in sorted(self.objects[object_type].items(), key=lambda kv: int(kv[0]))
                if not groups or any(all(self._passes(object_type, i, p, f) for f in g.get("filters") or [])
                                     for g in groups)]
        page = hits[after:after + limit]
        answer: dict[str, Any] = {"total": len(hits),
                                  "results": [self._shape(object_type, i, body.get("properties")) for i in page]}
        if after + limit < len(hits):
            answer["paging"] = {"next": {"after": str(after + limit), "link": None}}
        return FakeResponse(200, answer)

    def read(self, request: FakeRequest) -> FakeResponse:
        object_type, object_id = request.params["type"], request.params["id"]
        if object_type not in self.objects:
            return self.not_found(request)
        if request.arg("idProperty") == "email" and object_type == "contacts":
            object_id = self.contact_by_email(object_id) or ""
        if object_id not in self.objects[object_type]:
            return _error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        wanted = [n for n in (request.arg("properties") or "").split(",") if n]
        shaped = self._shape(object_type, object_id, wanted)
        kinds = [k for k in (request.arg("associations") or "").split(",") if k in self.objects]
        if kinds:
            shaped["associations"] = {
                kind: {"results": [{"id": other, "type": f"{SINGULAR[object_type]}_to_{SINGULAR[kind]}"}
                                   for other in self.linked(object_type, object_id, kind)]}
                for kind in kinds if self.linked(object_type, object_id, kind)}
        return FakeResponse(200, shaped)

    def associations(self, request: FakeRequest) -> FakeResponse:
        object_type, object_id, to = request.params["type"], request.params["id"], request.params["to"]
        if object_type not in self.objects or to not in self.objects:
            return self.not_found(request)
        if object_id not in self.objects[object_type]:
            return _error(404, "Object not found.", "OBJECT_NOT_FOUND")
        linked = self.linked(object_type, object_id, to)
        size = int(request.arg("limit") or self.association_page_size)
        start = int(request.arg("after") or 0)
        body: dict[str, Any] = {"results": [{"id": other, "type": f"{SINGULAR[object_type]}_to_{SINGULAR[to]}"}
                                            for other in linked[start:start + size]]}
        if start + size < len(linked):  # HubSpot pages associations (500 a page unless `limit` says fewer)
            body["paging"] = {"next": {"after": str(start + size)}}
        return FakeResponse(200, body)

    def gdpr_delete(self, request: FakeRequest) -> FakeResponse:
        body = request.json() or {}
        object_id, id_property = body.get("objectId"), body.get("idProperty")
        if not object_id:
            return _error(400, "objectId is required", "VALIDATION_ERROR")
        if id_property == "email":
            found = self.contact_by_email(str(object_id))
            if found is None:
                self.blocklist.add(str(object_id).strip().lower())  # HubSpot blocks an unknown address
                return FakeResponse(204)
            object_id = found
        elif id_property not in (None, "hs_object_id"):
            return _error(400, f"Unable to find a property named {id_property}", "VALIDATION_ERROR")
        object_id = str(object_id)
        if object_id not in self.objects["contacts"]:
            return _error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        email = self.objects["contacts"].pop(object_id).get("email")
        if email:
            self.blocklist.add(email)
        self.links = {link for link in self.links if (link[0], link[1]) != ("contacts", object_id)
                      and (link[2], link[3]) != ("contacts", object_id)}
        self.gdpr_deleted.append(object_id)
        return FakeResponse(204)

    def _passes(self, object_type: str, object_id: str, props: dict[str, Any], spec: dict[str, Any]) -> bool:
        name = str(spec.get("propertyName", ""))
        if name.startswith("associations."):  # e.g. associations.contact EQ 101: objects linked to it
            other = {"contact": "contacts", "company": "companies", "deal": "deals", "ticket": "tickets"}.get(
                name.split(".", 1)[1])
            return other is not None and spec.get("operator", "EQ") == "EQ" and \
                str(spec.get("value")) in self.linked(object_type, object_id, other)
        return _passes(props, spec)

    def archive(self, request: FakeRequest) -> FakeResponse:
        object_type, object_id = request.params["type"], request.params["id"]
        if object_type not in self.objects:
            return self.not_found(request)
        if object_id in self.objects[object_type]:  # archiving twice, or an unknown id, is still 204
            self.archived[object_type][object_id] = self.objects[object_type].pop(object_id)
        return FakeResponse(204)


def _passes(props: dict[str, Any], spec: dict[str, Any]) -> bool:
    name, operator = spec.get("propertyName"), spec.get("operator", "EQ")
    value = props.get(name)
    fold = (lambda v: v.lower()) if name in ADDRESS_PROPERTIES else (lambda v: v)
    if operator == "HAS_PROPERTY":
        return value not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if operator == "IN":
        return value is not None and fold(value) in {fold(str(v)) for v in spec.get("values") or []}
    target = spec.get("value")
    if operator == "EQ":
        return value is not None and target is not None and fold(value) == fold(str(target))
    if operator == "NEQ":
        return value is None or target is None or fold(value) != fold(str(target))
    return False
