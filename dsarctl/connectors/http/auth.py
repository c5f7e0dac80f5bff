"""How an `http` system signs in: the inventory's `auth:` (one kind, values from ${VAR}) read with the
definition's `auth:` (which kinds the service takes and where an API key goes).

Checked when the inventory loads (`problems`); at run time `build` gives what the client sends: an
httpx auth, headers and query parameters. OAuth2 (client credentials) and Google service-account tokens
are fetched when first needed and kept in memory until shortly before they expire."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from ...inventory.loader import from_env

INVENTORY_KEYS = {
    "api_key": None,  # a value
    "bearer": None,
    "basic": {"username", "password"},
    "oauth2": {"token_url", "client_id", "client_secret", "scope"},
    "service_account": None,  # a file
}
# The values that are secrets, accepted only from the environment (`${VAR}`, issue 22): a literal one in
# the inventory is refused at its line. (A service account is a file's path; a user name is no secret.)
SECRET: dict[str, tuple[str, ...] | None] = {"api_key": None, "bearer": None, "basic": ("password",),
                                             "oauth2": ("client_secret",)}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EARLY = 60  # seconds before its expiry a token is fetched again


def problems(auth: Any, accepted: dict[str, dict]) -> list[tuple[tuple, str]]:
    """(key path under the system, why) for an inventory `auth:` that the definition does not take."""
    kinds = ", ".join(accepted)
    if auth is None:
        return [((), f"an http system needs 'auth:' (this service takes: {kinds})")]
    if not isinstance(auth, dict) or len(auth) != 1:
        return [(("auth",), f"auth: one of {kinds}, e.g. auth: {{{next(iter(accepted))}: ${{VAR}}}}")]
    [(kind, value)] = auth.items()
    if kind not in INVENTORY_KEYS:
        return [(("auth", kind), f"unknown auth kind '{kind}' (this service takes: {kinds})")]
    if kind not in accepted:
        return [(("auth", kind), f"this service does not take '{kind}' (it takes: {kinds})")]
    allowed = INVENTORY_KEYS[kind]
    if allowed is None:
        if not isinstance(value, str) or not value.strip():
            return [(("auth", kind), f"'{kind}' takes one value, from the environment: {kind}: ${{VAR}}")]
        if kind in SECRET and not from_env(value):
            return [(("auth", kind), _literal(kind))]
        return []
    if not isinstance(value, dict):
        return [(("auth", kind), f"'{kind}' takes a mapping of {', '.join(sorted(allowed))}")]
    for key in value:
        if key not in allowed:
            return [(("auth", kind, key), f"unknown key '{key}' in auth {kind} (allowed: {', '.join(sorted(allowed))})")]
    needed = {"basic": ("username", "password"), "oauth2": ("client_id", "client_secret")}[kind]
    if kind == "oauth2" and not accepted[kind].get("token_url"):
        needed += ("token_url",)
    for key in needed:
        if not isinstance(value.get(key), str) or not value[key]:
            return [(("auth", kind), f"auth {kind} needs '{key}:'")]
    for key in SECRET.get(kind) or ():
        if key in value and not from_env(value[key]):
            return [(("auth", kind, key), _literal(f"{kind} {key}", key))]
    return []


def _literal(what: str, key: str | None = None) -> str:
    return (f"the {what} is a secret: give it from the environment ({key or what.split()[0]}: ${{VAR}}), "
            "not written in the inventory, which is shared and versioned")


class Signed:
    """What the client sends: `auth` (an httpx.Auth or None), `headers` and `params`."""

    def __init__(self, auth: Any = None, headers: dict[str, str] | None = None, params: dict[str, str] | None = None):
        self.auth = auth
        self.headers = headers or {}
        self.params = params or {}


def build(auth: dict, accepted: dict[str, dict], base_dir: Path, fail: Callable[[str], Exception],
          post: Callable[..., Any]) -> Signed:
    """The client's signing for the inventory's `auth` (checked by `problems`). `post(url, data=, auth=)`
    sends a token request (retried, on a client of its own) and returns its parsed answer."""
    [(kind, value)] = auth.items()
    how = accepted[kind] or {}
    if kind == "bearer":
        return Signed(headers={"Authorization": f"Bearer {value}"})
    if kind == "basic":
        return Signed(auth=httpx.BasicAuth(value["username"], value["password"]))
    if kind == "api_key":
        where = how.get("in")
        if where == "header":
            return Signed(headers={how["name"]: f"{how.get('prefix', '')}{value}"})
        if where == "query":
            return Signed(params={how["name"]: value})
        username = how.get("username", "dsarctl")
        if how.get("password_is_key", True):
            return Signed(auth=httpx.BasicAuth(username, value))
        return Signed(auth=httpx.BasicAuth(value, ""))
    if kind == "oauth2":
        token_url = value.get("token_url") or how.get("token_url")
        scope = value.get("scope") or how.get("scope")
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        client = httpx.BasicAuth(value["client_id"], value["client_secret"])
        return Signed(auth=TokenAuth(lambda: post(token_url, data=data, auth=client), fail))
    # service_account
    key = _service_account(value, base_dir, fail)
    token_url = how.get("token_url") or key.get("token_uri") or "https://oauth2.googleapis.com/token"

    def fetch() -> Any:
        return post(token_url, data={"grant_type": JWT_BEARER,
                                     "assertion": service_account_jwt(key, how["scopes"], token_url)})

    return Signed(auth=TokenAuth(fetch, fail))


def _service_account(value: str, base_dir: Path, fail: Callable[[str], Exception]) -> dict:
    import json

    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        key = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise fail(f"cannot read the service-account key file {path.name}: {exc.strerror}") from None
    except ValueError:
        raise fail(f"the service-account key file {path.name} is not JSON") from None
    if not isinstance(key, dict) or key.get("type") != "service_account" or not key.get("private_key") \
            or not key.get("client_email"):
        raise fail(f"{path.name} is not a service-account key (type: service_account, client_email, private_key)")
    from ...inventory.loader import LOADED_SECRETS

    LOADED_SECRETS.add(key["private_key"])
    if key.get("private_key_id"):
        LOADED_SECRETS.add(key["private_key_id"])
    return key


def service_account_jwt(key: dict, scopes: list[str], audience: str, issued: float | None = None) -> str:
    """Google's OAuth2 JWT bearer assertion: the service account's claim, signed RS256 with its key."""
    import jwt

    issued = int(time.time() if issued is None else issued)
    claims = {"iss": key["client_email"], "scope": " ".join(scopes), "aud": audience, "iat": issued,
              "exp": issued + 3600}
    headers = {"kid": key["private_key_id"]} if key.get("private_key_id") else None
    return jwt.encode(claims, key["private_key"], algorithm="RS256", headers=headers)


class TokenAuth(httpx.Auth):
    """An httpx.Auth sending `Authorization: Bearer` with a token `fetch()` obtains (an OAuth2 token
    answer: access_token, expires_in), fetched again shortly before it expires or after a 401."""

    requires_request_body = False
    requires_response_body = False

    def __init__(self, fetch: Callable[[], Any], fail: Callable[[str], Exception]):
        self.fetch = fetch
        self.fail = fail
        self.lock = threading.Lock()
        self.token: str | None = None
        self.expires = 0.0

    def current(self, *, renew: bool = False) -> str:
        with self.lock:
            if renew or self.token is None or time.monotonic() >= self.expires:
                answer = self.fetch()
                token = answer.get("access_token") if isinstance(answer, dict) else None
                if not isinstance(token, str) or not token:
                    raise self.fail("the token endpoint answered without an access_token")
                from ...inventory.loader import LOADED_SECRETS

                LOADED_SECRETS.add(token)
                lifetime = answer.get("expires_in")
                lifetime = float(lifetime) if isinstance(lifetime, (int, float)) else 3600.0
                self.token, self.expires = token, time.monotonic() + max(lifetime - EARLY, 0.0)
            return self.token

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {self.current()}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: once more with a fresh token
            request.headers["Authorization"] = f"Bearer {self.current(renew=True)}"
            yield request

