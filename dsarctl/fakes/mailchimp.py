"""A stateful fake of the Mailchimp Marketing API 3.0 (base URL `https://SERVER.api.mailchimp.com/3.0`), as
far as dsarctl's `mailchimp` definition uses it, with the documented shapes:

- `GET /search-members?query=` : `{exact_matches: {members, total_items}, full_search: {...}}` (the full
  search also matches parts of addresses and names, as Mailchimp's does).
- `GET /lists`, `GET /lists/{list_id}/members` (`offset`, `count` ≤ 1000), `GET|PATCH
  /lists/{list_id}/members/{subscriber_hash}` (the hash: MD5 of the lower-cased address),
  `GET .../activity-feed` (paged the same way).
- `POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`: `204`; the member and its
  activity are gone and the address is remembered, so that adding it again to that list is refused, as
  Mailchimp does.
- Errors: `application/problem+json` bodies. Auth: HTTP basic, any user name, the API key as password.

The test suite checks every exchange with this fake against Mailchimp's published OpenAPI document
(tests/openapi/); the fake itself needs only the standard library.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .server import FakeApi, FakeRequest, FakeResponse

API_KEY = "0123456789abcdef0123456789abcdef-us21"
OPENAPI = ("mailchimp.com", "https://server.api.mailchimp.com/3.0")  # the published document it speaks


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


def problem(status: int, title: str, detail: str) -> FakeResponse:
    return FakeResponse(status, {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
                                 "status": status, "detail": detail,
                                 "instance": "00000000-0000-0000-0000-000000000000"},
                        {"Content-Type": "application/problem+json"})


class Mailchimp(FakeApi):
    """Audiences (lists) holding members, each with an activity feed."""

    name = "mailchimp"
    prefix = "/3.0"
    openapi = OPENAPI

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.lists: dict[str, dict] = {}
        self.members: dict[str, dict[str, dict]] = {}  # list id -> subscriber hash -> member
        self.activity: dict[tuple[str, str], list[dict]] = {}
        self.forgotten: set[tuple[str, str]] = set()  # (list id, hash) permanently deleted
        self.route("GET", "/search-members", self.search_members)
        self.route("GET", "/lists", self.get_lists)
        self.route("GET", "/lists/{list_id}/members", self.list_members)
        self.route("GET", "/lists/{list_id}/members/{subscriber_hash}", self.get_member)
        self.route("PATCH", "/lists/{list_id}/members/{subscriber_hash}", self.patch_member)
        self.route("GET", "/lists/{list_id}/members/{subscriber_hash}/activity-feed", self.activity_feed)
        self.route("POST", "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent",
                   self.delete_permanent)

    # -- state ---------------------------------------------------------------------------------------
    def add_list(self, list_id: str, name: str) -> dict:
        with self.lock:
            self.lists[list_id] = {"id": list_id, "web_id": len(self.lists) + 1, "name": name,
                                   "stats": {"member_count": 0}}
            self.members[list_id] = {}
            return self.lists[list_id]

    def add_member(self, list_id: str, email: str, *, first: str = "", last: str = "", status: str = "subscribed",
                   activity: int = 0, **extra: Any) -> dict:
        h = subscriber_hash(email)
        if (list_id, h) in self.forgotten:
            raise ValueError(f"{email} was permanently deleted from {list_id}")
        member = {"id": h, "email_address": email, "unique_email_id": h[:10], "contact_id": h[:12],
                  "full_name": f"{first} {last}".strip(), "web_id": 1000 + len(self.members[list_id]),
                  "email_type": "html", "status": status, "merge_fields": {"FNAME": first, "LNAME": last},
                  "ip_signup": "192.0.2.10", "timestamp_signup": "2024-03-01T10:00:00+00:00",
                  "language": "en", "vip": False, "location": {"latitude": 51.5, "longitude": -0.12,
                                                               "country_code": "GB", "timezone": "Europe/London"},
                  "tags_count": 0, "tags": [], "list_id": list_id, **extra}
        with self.lock:
            self.members[list_id][h] = member
            self.activity[(list_id, h)] = [
                {"activity_type": "open", "created_at_timestamp": f"2024-04-{(i % 28) + 1:02d}T09:00:00+00:00",
                 "campaign_id": f"c{i}", "campaign_title": f"Newsletter {i}"} for i in range(activity)]
        return member

    def find(self, email: str) -> list[dict]:
        h = subscriber_hash(email)
        with self.lock:
            return [members[h] for members in self.members.values() if h in members]

    # -- auth and errors ---------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                _, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except ValueError:
                password = ""
            if password == self.api_key:
                return None
        return problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the "
                                               "wrong datacenter.")

    def error(self, status: int, message: str) -> FakeResponse:
        return problem(status, message, message)

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    # -- endpoints ---------------------------------------------------------------------------------------
    def search_members(self, request: FakeRequest) -> FakeResponse:
        query = (request.arg("query") or "").strip()
        exact = [dict(m) for members in self.members.values() for m in members.values()
                 if m["email_address"].lower() == query.lower()]
        partial = [dict(m) for members in self.members.values() for m in members.values()
                   if query and query.lower() in (m["email_address"] + " " + m["full_name"]).lower()
                   and m["email_address"].lower() != query.lower()]
        return FakeResponse(200, {"exact_matches": {"members": exact, "total_items": len(exact)},
                                  "full_search": {"members": partial[:10], "total_items": len(partial)}})

    def get_lists(self, request: FakeRequest) -> FakeResponse:
        offset, count = _page(request)
        lists = list(self.lists.values())
        return FakeResponse(200, {"lists": lists[offset: offset + count], "total_items": len(lists)})

    def list_members(self, request: FakeRequest) -> FakeResponse:
        list_id = request.params["list_id"]
        if list_id not in self.lists:
            return self.not_found(request)
        offset, count = _page(request)
        members = list(self.members[list_id].values())
        return FakeResponse(200, {"members": members[offset: offset + count], "list_id": list_id,
                                  "total_items": len(members)})

    def _member(self, request: FakeRequest) -> dict | None:
        return self.members.get(request.params["list_id"], {}).get(request.params["subscriber_hash"].lower())

    def get_member(self, request: FakeRequest) -> FakeResponse:
        member = self._member(request)
        return FakeResponse(200, member) if member else self.not_found(request)

    def patch_member(self, request: FakeRequest) -> FakeResponse:
        member = self._member(request)
        if member is None:
            return self.not_found(request)
        for key, value in (request.json() or {}).items():
            if isinstance(value, dict) and isinstance(member.get(key), dict):
                member[key].update(value)
            else:
                member[key] = value
        return FakeResponse(200, dict(member))

    def activity_feed(self, request: FakeRequest) -> FakeResponse:
        list_id, h = request.params["list_id"], request.params["subscriber_hash"].lower()
        if (list_id, h) not in self.activity or h not in self.members.get(list_id, {}):
            return self.not_found(request)
        offset, count = _page(request)
        return FakeResponse(200, {"activity": self.activity[(list_id, h)][offset: offset + count], "email_id": h,
                                  "list_id": list_id})

    def delete_permanent(self, request: FakeRequest) -> FakeResponse:
        list_id, h = request.params["list_id"], request.params["subscriber_hash"].lower()
        if self.members.get(list_id, {}).pop(h, None) is None:
            return self.not_found(request)
        self.activity.pop((list_id, h), None)
        self.forgotten.add((list_id, h))
        return FakeResponse(204)


def _page(request: FakeRequest) -> tuple[int, int]:
    return int(request.arg("offset", "0") or 0), min(int(request.arg("count", "10") or 10), 1000)
