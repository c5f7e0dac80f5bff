"""A user's own definition file for another service: its mistakes named with the definition's file:line,
each kind of auth as the service receives it (API key in a header, in the query, bearer, basic, OAuth2
client credentials, a Google service-account JWT checked with the key's public half), next-link and
cursor-in-body pagination, and a next link to another host refused."""

from __future__ import annotations

import base64
import json
import textwrap
from contextlib import ExitStack

import pytest

from fakes.base import FakeAPI, Request, Response, route, serve
from helpers import write_inventory

ZOE = "zoe@example.org"
KEY = "helpdesk-key-7f3c9a1b"


class Helpdesk(FakeAPI):
    """A small help desk: users searched by e-mail, 2 per page, linked by `next_page` URLs; tickets by user
    id in a POST search whose cursor travels in the body; and an OAuth2 token endpoint."""

    def __init__(self):
        super().__init__()
        self.users = [{"id": i, "email": email, "name": name} for i, (email, name) in enumerate(
            [(ZOE, "Zoe"), ("Zoe@Example.org", "Zoe again"), ("zoe@example.org", "Zoe thrice"),
             ("xzoe@example.org.uk", "Xavier"), ("bob@example.net", "Bob")], start=1)]
        self.tickets = [{"id": 100 + i, "requester_id": 1 + i % 3, "subject": f"ticket {i}"} for i in range(5)]
        self.base = ""
        self.tokens: list[dict] = []
        self.accept: set[str] = set()  # Authorization headers (or "query:KEY") that are let in

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            return super().handle(request)
        given = {request.headers.get("authorization", ""), request.headers.get("x-api-key", ""),
                 "query:" + (request.arg("key") or "")}
        if not given & self.accept:
            return Response(401, {"error": "unauthorised"})
        return super().handle(request)

    @route("POST", "/oauth/token")
    def token(self, request: Request) -> Response:
        self.tokens.append({"authorization": request.headers.get("authorization"), **request.form()})
        token = f"tok-{len(self.tokens)}-abcdef"
        self.accept.add(f"Bearer {token}")
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    @route("GET", "/api/users/search")
    def search(self, request: Request) -> Response:
        query = (request.arg("email") or "").lower()
        found = [u for u in self.users if query and query in u["email"].lower()]  # wider than exact
        page = int(request.arg("page", 1))
        more = page * 2 < len(found)
        return Response(200, {"users": found[(page - 1) * 2: page * 2],
                              "next_page": f"{self.base}/api/users/search?email={query}&page={page + 1}" if more else None})

    @route("POST", "/api/tickets/search")
    def tickets_search(self, request: Request) -> Response:
        body = request.json()
        found = [t for t in self.tickets if str(t["requester_id"]) == str(body["requester"])]
        after = int(body.get("after") or 0)
        page = [t for t in found if t["id"] > after][:1]
        more = page and page[-1]["id"] != found[-1]["id"]
        return Response(200, {"results": page, "paging": {"next": {"after": str(page[-1]["id"])}} if more else {}})


DEFINITION = """\
definition: 1
name: helpdesk
title: A help desk
base_url: https://helpdesk.invalid
auth:
  api_key: {in: header, name: X-API-Key}
  bearer: {}
  basic: {}
  oauth2: {scope: users.read}
identities:
  helpdesk_user: {type: string}
collections:
  users:
    key: id
    identities:
      email: email
      helpdesk_user: {field: id, search: false}
    locate:
      email:
        path: /api/users/search
        query: {email: "{email}"}
        records: users
        paginate: {type: next_link, from_response: next_page}
  tickets:
    key: id
    identities:
      helpdesk_user: requester_id
    erase: {action: retain, reason: Support history kept 2 years}
    locate:
      helpdesk_user:
        method: POST
        path: /api/tickets/search
        json: {requester: "{helpdesk_user}"}
        records: results
        paginate: {type: cursor, param: after, from_response: paging.next.after, in: json}
"""


@pytest.fixture
def helpdesk(tmp_path, monkeypatch):
    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "sleep", lambda seconds: None)
    api = Helpdesk()
    with ExitStack() as stack:
        api.base = stack.enter_context(serve(api))
        (tmp_path / "helpdesk.yaml").write_text(DEFINITION)
        yield api


def inventory(tmp_path, base: str, auth: str, definition: str = "helpdesk.yaml"):
    auth_block = textwrap.indent(textwrap.dedent(auth).strip(), "    ")
    return str(write_inventory(tmp_path, f"support:\n  connector: http\n  definition: {definition}\n"
                                         f"  base_url: {base}\n  auth:\n{auth_block}\n"))


def found(cli, path: str):
    result = cli("-i", path, "find", ZOE, "--json")
    return result, {(c["collection"]): c["count"] for s in result.json()["systems"] for c in s["collections"]
                    if c["status"] == "ok"} if result.out else None


def test_a_users_definition_finds_across_next_links_and_body_cursors(helpdesk, tmp_path, cli):
    helpdesk.accept.add(KEY)
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, f"api_key: {KEY}"))
    assert result.code == 0, result
    assert counts == {"users": 3, "tickets": 5}  # Xavier's address holds Zoe's: searched, not kept
    pages = helpdesk.requests("GET", "/api/users/search")
    assert [r.arg("page") for r in pages] == [None, "2"]
    bodies = [r.json() for r in helpdesk.requests("POST", "/api/tickets/search")]
    assert sorted((b["requester"], b.get("after") or "") for b in bodies) == [
        ("1", ""), ("1", "100"), ("2", ""), ("2", "101"), ("3", "")]  # the cursor in the body, page by page
    assert all(r.headers.get("x-api-key") == KEY for r in pages)


def test_an_api_key_in_the_query(helpdesk, tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION.replace("api_key: {in: header, name: X-API-Key}",
                                                               "api_key: {in: query, name: key}"))
    helpdesk.accept.add(f"query:{KEY}")
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, f"api_key: {KEY}"))
    assert result.code == 0 and counts["users"] == 3, result
    assert KEY not in result.out + result.err


def test_basic_auth(helpdesk, tmp_path, cli):
    helpdesk.accept.add("Basic " + base64.b64encode(b"agent@example.com/token:s3cret-token").decode())
    result, counts = found(cli, inventory(tmp_path, helpdesk.base,
                                          "basic: {username: agent@example.com/token, password: s3cret-token}"))
    assert result.code == 0 and counts["users"] == 3, result


def test_oauth2_client_credentials_fetch_one_token_and_send_it(helpdesk, tmp_path, cli):
    path = inventory(tmp_path, helpdesk.base, f"""
        oauth2:
          token_url: {helpdesk.base}/oauth/token
          client_id: client-1
          client_secret: client-secret-9
        """)
    result, counts = found(cli, path)
    assert result.code == 0 and counts == {"users": 3, "tickets": 5}, result
    assert helpdesk.tokens == [{"authorization": "Basic " + base64.b64encode(b"client-1:client-secret-9").decode(),
                                "grant_type": "client_credentials", "scope": "users.read"}]
    assert "tok-1-abcdef" not in result.out + result.err and "client-secret-9" not in result.out + result.err


def test_a_google_service_account_signs_a_jwt_for_its_token(helpdesk, tmp_path, cli):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    token_url = f"{helpdesk.base}/oauth/token"
    (tmp_path / "sa.json").write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "kid-1", "private_key": pem,
        "client_email": "dsar@p.iam.gserviceaccount.com", "token_uri": token_url}))
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION.replace(
        "oauth2: {scope: users.read}", "service_account: {scopes: [https://www.googleapis.com/auth/x]}"))
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, "service_account: sa.json"))
    assert result.code == 0 and counts["users"] == 3, result
    [request] = helpdesk.tokens
    assert request["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(request["assertion"], private.public_key(), algorithms=["RS256"], audience=token_url)
    assert claims["iss"] == "dsar@p.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/x" and claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(request["assertion"])["kid"] == "kid-1"


def test_a_next_link_to_another_host_is_not_followed(helpdesk, tmp_path, cli):
    helpdesk.accept.add(KEY)
    served, helpdesk.base = helpdesk.base, "https://elsewhere.invalid"
    result, counts = found(cli, inventory(tmp_path, served, f"api_key: {KEY}"))
    assert result.code == 3, result
    assert "support.users: helpdesk: GET /api/users/search: the next page is on another host: not followed" \
        in result.err
    assert not any("elsewhere" in r.raw_path for r in helpdesk.requests())


@pytest.mark.parametrize("change, line, message", [
    (("        paginate: {type: next_link, from_response: next_page}",
      "        pagniate: {type: next_link, from_response: next_page}"), True,
     "collections.users.locate.email.pagniate: unknown key 'pagniate' in a request; did you mean 'paginate'?"),
    (('        json: {requester: "{helpdesk_user}"}', '        json: {requester: "{email}"}'), False,
     "collections.tickets.locate.helpdesk_user: placeholder '{email}' is not the identity searched (helpdesk_user)"),
    (("    key: id\n    identities:\n      helpdesk_user: requester_id", "    identities:\n      helpdesk_user: requester_id"),
     False, "collections.tickets: collection 'tickets' needs 'key:'"),
    (("definition: 1", "definition: 2"), True, "definition: expected 'definition: 1' (the format's version), got 2"),
    (("        paginate: {type: next_link, from_response: next_page}",
      "        paginate: {type: pages}"), True, "collections.users.locate.email.paginate: paginate: a mapping with type"),
])
def test_a_definitions_mistake_is_named_with_its_file_line_and_key(helpdesk, tmp_path, cli, change, line, message):
    text = DEFINITION.replace(*change)
    assert text != DEFINITION
    (tmp_path / "helpdesk.yaml").write_text(text)
    result = cli("-i", inventory(tmp_path, helpdesk.base, f"api_key: {KEY}"), "inventory", "check")
    assert result.code == 2 and result.out == "", result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    where = result.err.split(": ", 3)[2]
    assert where.startswith("helpdesk.yaml:"), result.err  # the file as the inventory names it
    if line:  # the line of the changed key
        assert where == f"helpdesk.yaml:{text.splitlines().index(change[1].splitlines()[0]) + 1}", result.err
    assert message in result.err, result.err


def test_a_secret_in_a_definitions_headers_is_refused(helpdesk, tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION.replace("base_url: https://helpdesk.invalid",
                                                               "base_url: https://helpdesk.invalid\nheaders: {Authorization: x}"))
    result = cli("-i", inventory(tmp_path, helpdesk.base, f"api_key: {KEY}"), "inventory", "check")
    assert result.code == 2 and "headers.Authorization: 'Authorization' carries a secret" in result.err, result


def test_every_built_in_definition_loads():
    from dsarctl.connectors.http import definition

    names = definition.builtin_names()
    assert {"mailchimp", "stripe"} <= set(names)
    for name in names:
        loaded = definition.load(definition.resolve(name, definition.BUILTIN_DIR))
        assert loaded.name == name and loaded.collections
