"""A fake of the Zendesk Support API v2 (https://SUBDOMAIN.zendesk.com), as far as dsarctl's `zendesk`
definition uses it, with the documented shapes:

- `GET /api/v2/users/search.json?query=email:ADDRESS` (or `query=ADDRESS`): `{users, next_page,
  previous_page, count}`; active users only, the address compared case-insensitively.
- `GET /api/v2/users/{id}.json`: `{user}`; `GET /api/v2/users/{id}/tickets/requested.json` and
  `GET /api/v2/tickets/{id}/comments.json`: offset pagination (`page`, `per_page` ≤ 100, `next_page` an
  absolute URL) or cursor pagination (`page[size]`, `page[after]`: `meta.has_more`, `links.next`).
- `DELETE /api/v2/users/{id}`: `200 {user}` with `active: false` (soft deletion); `422` while the user is
  the requester of a ticket that is not closed, as Zendesk refuses it.
- `DELETE /api/v2/deleted_users/{id}`: `200 {deleted_user}`, the user's personal data gone (name
  "Permanently Deleted User", e-mail and phone null); `404` unless the user was soft-deleted first.
- `DELETE /api/v2/tickets/{id}`: `204` (soft); `DELETE /api/v2/deleted_tickets/{id}`: `200 {job_status}`.
  Closed tickets otherwise stay after their requester is deleted, with their comments, unless redacted.
- Auth: HTTP basic `AGENT_EMAIL/token` and the API token; `401 {"error": "Couldn't authenticate you"}`.
- Errors: `404 {"error": "RecordNotFound", "description": "Not found"}`.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any
from urllib.parse import urlencode

from .server import FakeApi, FakeRequest, FakeResponse

TIMESTAMP = "2026-01-05T10:00:00Z"
NOT_FOUND = FakeResponse(404, {"error": "RecordNotFound", "description": "Not found"})


class ZendeskFake(FakeApi):
    """Zendesk users, the tickets they requested and the tickets' comments."""

    name = "zendesk"

    def __init__(self, agent: str = "agent@example.com", api_token: str = "zd-test-token") -> None:
        super().__init__()
        self.credentials = f"{agent}/token:{api_token}"
        self.users: dict[int, dict[str, Any]] = {}
        self.deleted_users: dict[int, dict[str, Any]] = {}
        self.permanently_deleted: list[int] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.deleted_tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self._user_ids = itertools.count(361000)
        self._ticket_ids = itertools.count(1)
        self._comment_ids = itertools.count(900001)
        self.route("GET", "/api/v2/users/search.json", self.search_users)
        self.route("GET", "/api/v2/users/{id}.json", self.show_user)
        self.route("GET", "/api/v2/users/{id}/tickets/requested.json", self.requested)
        self.route("GET", "/api/v2/tickets/{id}.json", self.show_ticket)
        self.route("GET", "/api/v2/tickets/{id}/comments.json", self.list_comments)
        self.route("DELETE", "/api/v2/users/{id}", self.delete_user)
        self.route("DELETE", "/api/v2/users/{id}.json", self.delete_user)
        self.route("GET", "/api/v2/deleted_users/{id}.json", self.show_deleted_user)
        self.route("DELETE", "/api/v2/deleted_users/{id}", self.permanently_delete_user)
        self.route("DELETE", "/api/v2/deleted_users/{id}.json", self.permanently_delete_user)
        self.route("DELETE", "/api/v2/tickets/{id}", self.delete_ticket)
        self.route("DELETE", "/api/v2/tickets/{id}.json", self.delete_ticket)
        self.route("DELETE", "/api/v2/deleted_tickets/{id}", self.permanently_delete_ticket)
        self.route("DELETE", "/api/v2/deleted_tickets/{id}.json", self.permanently_delete_ticket)

    # -- state ------------------------------------------------------------------------------------------
    def add_user(self, name: str, email: str | None, **fields: Any) -> int:
        user_id = next(self._user_ids)
        with self.lock:
            self.users[user_id] = {
                "id": user_id, "name": name, "email": email, "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
                "time_zone": "London", "iana_time_zone": "Europe/London", "phone": None,
                "shared_phone_number": None, "photo": None, "locale_id": 1176, "locale": "en-gb",
                "organization_id": None, "role": "end-user", "verified": True, "external_id": None, "tags": [],
                "alias": None, "active": True, "shared": False, "shared_agent": False, "last_login_at": None,
                "two_factor_auth_enabled": False, "signature": None, "details": "", "notes": "",
                "role_type": None, "custom_role_id": None, "moderator": False, "ticket_restriction": "requested",
                "only_private_comments": False, "restricted_agent": True, "suspended": False,
                "default_group_id": None, "report_csv": False, "user_fields": {}, **fields}
        return user_id

    def add_ticket(self, requester_id: int, subject: str, comments: list[str], *, status: str = "closed",
                   **fields: Any) -> int:
        """A ticket the user requested, its first comment its description, the rest as later comments."""
        ticket_id = next(self._ticket_ids)
        with self.lock:
            self.tickets[ticket_id] = {
                "id": ticket_id, "external_id": None, "via": {"channel": "email", "source": {}},
                "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "type": "question", "subject": subject,
                "raw_subject": subject, "description": comments[0] if comments else "", "priority": "normal",
                "status": status, "recipient": "support@northwind.example", "requester_id": requester_id,
                "submitter_id": requester_id, "assignee_id": None, "organization_id": None, "group_id": None,
                "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None,
                "problem_id": None, "has_incidents": False, "is_public": True, "due_at": None, "tags": [],
                "custom_fields": [], "satisfaction_rating": None, "sharing_agreement_ids": [],
                "followup_ids": [], "brand_id": 1, "allow_channelback": False, "allow_attachments": True,
                **fields}
            self.comments[ticket_id] = [
                {"id": next(self._comment_ids), "type": "Comment", "author_id": requester_id, "body": text,
                 "html_body": f"<div class=\"zd-comment\"><p>{text}</p></div>", "plain_body": text,
                 "public": True, "attachments": [], "audit_id": 0, "via": {"channel": "email"},
                 "created_at": TIMESTAMP, "metadata": {"system": {}, "custom": {}}}
                for text in comments]
        return ticket_id

    def add_comment(self, ticket_id: int, author_id: int, text: str, *, public: bool = True) -> int:
        """A later comment on a ticket, written by `author_id` (an agent, or an end user in CC)."""
        comment_id = next(self._comment_ids)
        with self.lock:
            self.comments[ticket_id].append(
                {"id": comment_id, "type": "Comment", "author_id": author_id, "body": text,
                 "html_body": f"<div class=\"zd-comment\"><p>{text}</p></div>", "plain_body": text,
                 "public": public, "attachments": [], "audit_id": 0, "via": {"channel": "web"},
                 "created_at": TIMESTAMP, "metadata": {"system": {}, "custom": {}}})
        return comment_id

    def user_by_email(self, email: str) -> list[int]:
        wanted = email.strip().lower()
        return [i for i, u in sorted(self.users.items()) if (u.get("email") or "").lower() == wanted]

    # -- the API ----------------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                if base64.b64decode(header[6:]).decode("utf-8") == self.credentials:
                    return None
            except ValueError:
                pass
        return FakeResponse(401, {"error": "Couldn't authenticate you"},
                            {"WWW-Authenticate": 'Basic realm="Web Password"'})

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _url(self, request: FakeRequest, path: str) -> str:
        return f"http://{request.headers.get('host', 'localhost')}{path}"

    def _user(self, request: FakeRequest, user: dict[str, Any]) -> dict[str, Any]:
        return {"url": self._url(request, f"/api/v2/users/{user['id']}.json"), **user}

    def _ticket(self, request: FakeRequest, ticket: dict[str, Any]) -> dict[str, Any]:
        return {"url": self._url(request, f"/api/v2/tickets/{ticket['id']}.json"), **ticket}

    def _page(self, request: FakeRequest, key: str, items: list[Any]) -> FakeResponse:
        """Offset pagination by default, cursor pagination when `page[size]` is given, as Zendesk does."""
        size_arg = request.arg("page[size]")
        if size_arg is not None:
            try:
                size, start = int(size_arg), int(request.arg("page[after]") or 0)
            except ValueError:
                return FakeResponse(400, {"error": "InvalidPaginationParameter", "description": "bad cursor"})
            size = max(1, min(size, 100))
            chunk, more = items[start:start + size], start + size < len(items)
            nxt = self._url(request, f"{request.path}?{urlencode({'page[size]': size, 'page[after]': start + size})}")
            return FakeResponse(200, {key: chunk, "meta": {"has_more": more,
                                                           "after_cursor": str(start + size) if more else None,
                                                           "before_cursor": str(start) if start else None},
                                      "links": {"next": nxt if more else None, "prev": None}})
        try:
            page, per_page = int(request.arg("page") or 1), int(request.arg("per_page") or 100)
        except ValueError:
            return FakeResponse(400, {"error": "InvalidPaginationParameter", "description": "bad page"})
        per_page = max(1, min(per_page, 100))
        start = (page - 1) * per_page
        chunk = items[start:start + per_page]

        def link(number: int) -> str:
            query = {k: v[0] for k, v in request.query.items() if k not in ("page", "per_page")}
            return self._url(request, f"{request.path}?{urlencode({**query, 'page': number, 'per_page': per_page})}")

        return FakeResponse(200, {key: chunk, "next_page": link(page + 1) if start + per_page < len(items) else None,
                                  "previous_page": link(page - 1) if page > 1 else None, "count": len(items)})

    def search_users(self, request: FakeRequest) -> FakeResponse:
        query = (request.arg("query") or "").strip()
        if not query:
            return FakeResponse(400, {"error": "InvalidSearchParameter", "description": "query is required"})
        address = query[len("email:"):] if query.lower().startswith("email:") else query
        address = address.strip().strip('"')
        found = [self._user(request, self.users[i]) for i in self.user_by_email(address)]
        return self._page(request, "users", found)

    def show_user(self, request: FakeRequest) -> FakeResponse:
        user = self.users.get(_int(request.params["id"]))
        return NOT_FOUND if user is None else FakeResponse(200, {"user": self._user(request, user)})

    def requested(self, request: FakeRequest) -> FakeResponse:
        user_id = _int(request.params["id"])
        if user_id not in self.users:
            return NOT_FOUND
        mine = [self._ticket(request, t) for _, t in sorted(self.tickets.items()) if t["requester_id"] == user_id]
        return self._page(request, "tickets", mine)

    def show_ticket(self, request: FakeRequest) -> FakeResponse:
        ticket = self.tickets.get(_int(request.params["id"]))
        return NOT_FOUND if ticket is None else FakeResponse(200, {"ticket": self._ticket(request, ticket)})

    def list_comments(self, request: FakeRequest) -> FakeResponse:
        ticket_id = _int(request.params["id"])
        if ticket_id not in self.tickets:
            return NOT_FOUND
        return self._page(request, "comments", list(self.comments.get(ticket_id, [])))

    def delete_user(self, request: FakeRequest) -> FakeResponse:
        user_id = _int(request.params["id"])
        user = self.users.get(user_id)
        if user is None:
            return NOT_FOUND
        if any(t["requester_id"] == user_id and t["status"] != "closed" for t in self.tickets.values()):
            return FakeResponse(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                      "details": {"base": [{"description": "The user is the requester of "
                                                            "tickets that are not closed", "error": "InvalidValue"}]}})
        del self.users[user_id]
        deleted = {**user, "active": False, "updated_at": TIMESTAMP}
        self.deleted_users[user_id] = deleted
        return FakeResponse(200, {"user": self._user(request, deleted)})

    def show_deleted_user(self, request: FakeRequest) -> FakeResponse:
        user = self.deleted_users.get(_int(request.params["id"]))
        return NOT_FOUND if user is None else FakeResponse(200, {"deleted_user": user})

    def permanently_delete_user(self, request: FakeRequest) -> FakeResponse:
        user_id = _int(request.params["id"])
        user = self.deleted_users.get(user_id)
        if user is None or user_id in self.permanently_deleted:
            return NOT_FOUND
        scrubbed = {**user, "name": "Permanently Deleted User", "email": None, "phone": None, "notes": None,
                    "details": None, "external_id": None, "alias": None, "photo": None}
        self.deleted_users[user_id] = scrubbed
        self.permanently_deleted.append(user_id)
        return FakeResponse(200, {"deleted_user": scrubbed})

    def delete_ticket(self, request: FakeRequest) -> FakeResponse:
        ticket_id = _int(request.params["id"])
        if ticket_id not in self.tickets:
            return NOT_FOUND
        self.deleted_tickets[ticket_id] = self.tickets.pop(ticket_id)
        return FakeResponse(204)

    def permanently_delete_ticket(self, request: FakeRequest) -> FakeResponse:
        ticket_id = _int(request.params["id"])
        if ticket_id not in self.deleted_tickets:
            return NOT_FOUND
        del self.deleted_tickets[ticket_id]
        self.comments.pop(ticket_id, None)
        return FakeResponse(200, {"job_status": {"id": f"job-{ticket_id}", "status": "completed", "total": 1,
                                                 "progress": 1, "message": "Completed", "results": None}})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1
