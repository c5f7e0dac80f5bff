"""A stateful fake of the Mailchimp Marketing API 3.0 (the endpoints dsarctl's mailchimp definition uses),
judged by Mailchimp's published OpenAPI document (tests/openapi/mailchimp.com.json.gz).

Audiences (lists) hold members keyed by subscriber hash (MD5 of the lower-cased address); each member has
an activity feed. `delete-permanent` removes the member and remembers the address, so that adding it
again to that list is refused ("forgotten"), as Mailchimp does. Auth: HTTP basic, any user name, the API
key as the password."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fakes.base import FakeAPI, Request, Response, route
from fakes.contract import Contract

API_KEY = "0123456789abcdef0123456789abcdef-us21"
SERVER = "https://server.api.mailchimp.com/3.0"


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


def problem(status: int, title: str, detail: str) -> Response:
    return Response(status, {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
                             "status": status, "detail": detail, "instance": "00000000-0000-0000-0000-000000000000"},
                    {"Content-Type": "application/problem+json"})


class Mailchimp(FakeAPI):
    prefix = "/3.0"

    def __init__(self, *, validate: bool = True):
        super().__init__()
        self.lists: dict[str, dict] = {}
        self.members: dict[str, dict[str, dict]] = {}  # list id -> subscriber hash -> member
        self.activity: dict[tuple[str, str], list[dict]] = {}
        self.forgotten: set[tuple[str, str]] = set()  # (list id, hash) permanently deleted
        if validate:
            self.validator = Contract("mailchimp.com", SERVER)

    # -- state ---------------------------------------------------------------------------------------
    def add_list(self, list_id: str, name: str) -> dict:
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
        self.members[list_id][h] = member
        self.activity[(list_id, h)] = [
            {"activity_type": "open", "created_at_timestamp": f"2024-04-{(i % 28) + 1:02d}T09:00:00+00:00",
             "campaign_id": f"c{i}", "campaign_title": f"Newsletter {i}"} for i in range(activity)]
        return member

    def find(self, email: str) -> list[dict]:
        h = subscriber_hash(email)
        return [members[h] for members in self.members.values() if h in members]

    # -- auth ------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            if password == API_KEY:
                return super().handle(request)
        return problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the "
                                               "wrong datacenter.")

    def error(self, status: int, message: str) -> Response:
        return problem(status, message, message)

    def not_found(self, request: Request) -> Response:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    # -- endpoints ---------------------------------------------------------------------------------------
    @route("GET", "/search-members")
    def search_members(self, request: Request) -> Response:
        query = (request.arg("query") or "").strip()
        with self.lock:
            exact = [dict(m) for members in self.members.values() for m in members.values()
                     if m["email_address"].lower() == query.lower()]
            # Mailchimp's full search also matches parts of addresses and names
            partial = [dict(m) for members in self.members.values() for m in members.values()
                       if query and query.lower() in (m["email_address"] + " " + m["full_name"]).lower()
                       and m["email_address"].lower() != query.lower()]
        return Response(200, {"exact_matches": {"members": exact, "total_items": len(exact)},
                              "full_search": {"members": partial[:10], "total_items": len(partial)}})

    @route("GET", "/lists")
    def get_lists(self, request: Request) -> Response:
        offset, count = _page(request)
        with self.lock:
            lists = list(self.lists.values())
        return Response(200, {"lists": lists[offset: offset + count], "total_items": len(lists)})

    @route("GET", "/lists/{list_id}/members")
    def list_members(self, request: Request, list_id: str) -> Response:
        if list_id not in self.lists:
            return self.not_found(request)
        offset, count = _page(request)
        with self.lock:
            members = list(self.members[list_id].values())
        return Response(200, {"members": members[offset: offset + count], "list_id": list_id,
                              "total_items": len(members)})

    @route("GET", "/lists/{list_id}/members/{subscriber_hash}")
    def get_member(self, request: Request, list_id: str, subscriber_hash: str) -> Response:
        member = self.members.get(list_id, {}).get(subscriber_hash.lower())
        return Response(200, member) if member else self.not_found(request)

    @route("PATCH", "/lists/{list_id}/members/{subscriber_hash}")
    def patch_member(self, request: Request, list_id: str, subscriber_hash: str) -> Response:
        with self.lock:
            member = self.members.get(list_id, {}).get(subscriber_hash.lower())
            if member is None:
                return self.not_found(request)
            for key, value in (request.json() or {}).items():
                if isinstance(value, dict) and isinstance(member.get(key), dict):
                    member[key].update(value)
                else:
                    member[key] = value
            return Response(200, dict(member))

    @route("GET", "/lists/{list_id}/members/{subscriber_hash}/activity-feed")
    def activity_feed(self, request: Request, list_id: str, subscriber_hash: str) -> Response:
        key = (list_id, subscriber_hash.lower())
        if key not in self.activity or subscriber_hash.lower() not in self.members.get(list_id, {}):
            return self.not_found(request)
        offset, count = _page(request)
        return Response(200, {"activity": self.activity[key][offset: offset + count], "email_id": key[1],
                              "list_id": list_id})

    @route("POST", "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent")
    def delete_permanent(self, request: Request, list_id: str, subscriber_hash: str) -> Response:
        with self.lock:
            member = self.members.get(list_id, {}).pop(subscriber_hash.lower(), None)
            if member is None:
                return self.not_found(request)
            self.activity.pop((list_id, subscriber_hash.lower()), None)
            self.forgotten.add((list_id, subscriber_hash.lower()))
        return Response(204)


def _page(request: Request) -> tuple[int, int]:
    return int(request.arg("offset", 0)), min(int(request.arg("count", 10)), 1000)
