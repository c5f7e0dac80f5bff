"""A fake of the Google Analytics User Deletion API (https://www.googleapis.com/analytics/v3) and of the
OAuth 2.0 token endpoint a service account signs in at, as far as dsarctl's `google-analytics` definition
uses them:

- `POST /analytics/v3/userDeletion/userDeletionRequests:upsert` with a UserDeletionRequest
  `{kind: "analytics#userDeletionRequest", id: {type: CLIENT_ID | USER_ID | APP_INSTANCE_ID, userId},
  propertyId | webPropertyId | firebaseProjectId}`: answers the resource with `deletionRequestTime` set;
  the fake forgets the user's data in that property (Google deletes it from reports within about 72 hours
  and from its servers in the next deletion cycle). Upserting the same request again is accepted, as the
  method's name says. Errors in Google's JSON error shape (`{error: {code, message, errors, status}}`).
- `POST /v1alpha/properties/{id}:submitUserDeletion` (the Admin API's newer form, body `{clientId |
  userId | appInstanceId | userProvidedData}`), answering `{deletionRequestTime}`.
- `POST /token` (the service account's `token_uri`): a JWT-bearer grant answers `{access_token,
  expires_in, token_type}`. The assertion's claims are checked (iss, scope, aud), its signature is not: a
  test key is fine.
- Auth: `Authorization: Bearer ACCESS_TOKEN` issued by `/token` (or the fixed `token` given); `401`.

There is no read API for a user's data: the fake's `events` are what a test or the demo can inspect.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from .server import FakeApi, FakeRequest, FakeResponse

DELETION_SCOPE = "https://www.googleapis.com/auth/analytics.user.deletion"
ID_TYPES = ("CLIENT_ID", "USER_ID", "APP_INSTANCE_ID")
REQUEST_TIME = "2026-01-05T10:00:00.000Z"


def _error(code: int, message: str, reason: str, status: str) -> FakeResponse:
    return FakeResponse(code, {"error": {"code": code, "message": message, "status": status,
                                         "errors": [{"message": message, "domain": "global", "reason": reason}]}})


class GoogleAnalyticsFake(FakeApi):
    """Per property, the users (by id type and id) it holds events of; deletion requests forget them."""

    name = "google-analytics"

    def __init__(self, token: str | None = "ya29.test-token", now: str = REQUEST_TIME) -> None:
        super().__init__()
        self.tokens: set[str] = {token} if token else set()
        self.now = now
        self.events: dict[tuple[str, str, str], int] = {}  # (propertyId, id type, user id) -> events held
        self.deletion_requests: list[dict[str, Any]] = []
        self.route("POST", "/analytics/v3/userDeletion/userDeletionRequests:upsert", self.upsert)
        self.route("POST", "/v1alpha/properties/{property}:submitUserDeletion", self.submit_user_deletion)
        self.route("POST", "/token", self.token)

    def add_user(self, property_id: str, id_type: str, user_id: str, events: int = 1) -> None:
        with self.lock:
            key = (str(property_id), id_type, user_id)
            self.events[key] = self.events.get(key, 0) + events

    def holds(self, property_id: str, id_type: str, user_id: str) -> bool:
        return (str(property_id), id_type, user_id) in self.events

    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == "/token":
            return None
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.tokens:
            return None
        return _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                           "login cookie or other valid authentication credential.", "authError", "UNAUTHENTICATED")

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return _error(404, f"The requested URL {request.path} was not found on this server.", "notFound",
                      "NOT_FOUND")

    def upsert(self, request: FakeRequest) -> FakeResponse:
        try:
            body = request.json() or {}
        except ValueError:
            return _error(400, "Invalid JSON payload received.", "parseError", "INVALID_ARGUMENT")
        ident = body.get("id") or {}
        id_type, user_id = ident.get("type"), ident.get("userId")
        targets = [k for k in ("propertyId", "webPropertyId", "firebaseProjectId") if body.get(k)]
        if id_type not in ID_TYPES or not user_id:
            return _error(400, "Field id.type must be one of CLIENT_ID, USER_ID, APP_INSTANCE_ID and id.userId "
                               "is required.", "invalidParameter", "INVALID_ARGUMENT")
        if len(targets) != 1:
            return _error(400, "Exactly one of propertyId, webPropertyId or firebaseProjectId must be set.",
                          "invalidParameter", "INVALID_ARGUMENT")
        if body.get("kind", "analytics#userDeletionRequest") != "analytics#userDeletionRequest":
            return _error(400, "Invalid kind.", "invalidParameter", "INVALID_ARGUMENT")
        target = str(body[targets[0]])
        self.events.pop((target, id_type, user_id), None)
        self.deletion_requests.append({"target": target, "type": id_type, "userId": user_id})
        return FakeResponse(200, {"kind": "analytics#userDeletionRequest", "id": {"type": id_type, "userId": user_id},
                                  targets[0]: target, "deletionRequestTime": self.now})

    def submit_user_deletion(self, request: FakeRequest) -> FakeResponse:
        body = request.json() or {}
        given = {k: body[k] for k in ("userId", "clientId", "appInstanceId", "userProvidedData") if body.get(k)}
        if len(given) != 1:
            return _error(400, "Exactly one user identifier must be set.", "invalidParameter", "INVALID_ARGUMENT")
        (field, value), = given.items()
        id_type = {"userId": "USER_ID", "clientId": "CLIENT_ID", "appInstanceId": "APP_INSTANCE_ID"}.get(field)
        if id_type:
            self.events.pop((request.params["property"], id_type, value), None)
        self.deletion_requests.append({"target": request.params["property"], "type": field, "userId": value})
        return FakeResponse(200, {"deletionRequestTime": self.now})

    def token(self, request: FakeRequest) -> FakeResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return FakeResponse(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        claims = _claims(form.get("assertion", ""))
        if claims is None or not claims.get("iss") or DELETION_SCOPE not in str(claims.get("scope", "")).split():
            return FakeResponse(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        access = f"ya29.{secrets.token_urlsafe(24)}"
        self.tokens.add(access)
        return FakeResponse(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})


def _claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
