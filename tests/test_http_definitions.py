"""A user's own definition file for another service: its mistakes named with the definition's file:line,
each kind of auth as the service receives it (API key in a header, in the query, bearer, basic, OAuth2
client credentials, a Google service-account JWT checked with the key's public half), next-link and
cursor-in-body pagination, and a next link to another host refused."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap
from contextlib import ExitStack

import pytest

from fakes import FakeApi, Fault, serve
from fakes import FakeRequest as Request
from fakes import FakeResponse as Response
from helpers import write_inventory

ZOE = "zoe@example.org"
KEY = "helpdesk-key-7f3c9a1b"


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventories take their secrets from the environment, as the loader requires."""
    monkeypatch.setenv("HELPDESK_KEY", KEY)
    monkeypatch.setenv("HELPDESK_PASSWORD", "s3cret-token")
    monkeypatch.setenv("HELPDESK_CLIENT_SECRET", "client-secret-9")


class Helpdesk(FakeApi):
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
        self.soft_deleted: list[dict] = []
        self.accept: set[str] = set()  # Authorization headers (or "query:KEY") that are let in
        self.route("POST", "/oauth/token", self.token)
        self.route("GET", "/api/users/search", self.search)
        self.route("DELETE", "/api/users/{user_id}", self.delete_user)
        self.route("DELETE", "/api/deleted_users/{user_id}", self.purge_user)
        self.route("GET", "/api/users", self.all_users)
        self.route("GET", "/api/deleted_users", self.deleted_users)
        self.route("GET", "/api/orders", self.orders)
        self.route("GET", "/api/notes/search", self.notes)
        self.route("POST", "/api/tickets/search", self.tickets_search)

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            return super().handle(request)
        given = {request.headers.get("authorization", ""), request.headers.get("x-api-key", ""),
                 "query:" + (request.arg("key") or "")}
        if not given & self.accept:
            return Response(401, {"error": "unauthorised"})
        return super().handle(request)

    def token(self, request: Request) -> Response:
        self.tokens.append({"authorization": request.headers.get("authorization"), **request.form()})
        token = f"tok-{len(self.tokens)}-abcdef"
        self.accept.add(f"Bearer {token}")
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def search(self, request: Request) -> Response:
        query = (request.arg("email") or "").lower()
        found = [u for u in self.users if query and query in u["email"].lower()]  # wider than exact
        page = int(request.arg("page", 1))
        more = page * 2 < len(found)
        return Response(200, {"users": found[(page - 1) * 2: page * 2],
                              "next_page": f"{self.base}/api/users/search?email={query}&page={page + 1}" if more else None})

    def delete_user(self, request: Request) -> Response:
        user_id = request.params["user_id"]
        user = next((u for u in self.users if str(u["id"]) == user_id), None)
        if user is None:
            return Response(404, {"error": "RecordNotFound"})
        self.users.remove(user)
        self.soft_deleted.append(user)
        return Response(204)

    def purge_user(self, request: Request) -> Response:
        user_id = request.params["user_id"]
        user = next((u for u in self.soft_deleted if str(u["id"]) == user_id), None)
        if user is None:
            return Response(404, {"error": "RecordNotFound"})
        self.soft_deleted.remove(user)
        return Response(200, {"deleted_user": {"id": user["id"], "active": False}})

    def all_users(self, request: Request) -> Response:
        return Response(200, {"users": self.users})

    def deleted_users(self, request: Request) -> Response:
        return Response(200, {"deleted_users": self.soft_deleted})

    def orders(self, request: Request) -> Response:
        mine = [{"id": i, "email": ZOE, "item": f"item {i}"} for i in range(95)]
        offset, limit = int(request.arg("offset")), int(request.arg("limit"))
        return Response(200, {"orders": mine[offset: offset + limit], "total": len(mine)})

    def notes(self, request: Request) -> Response:
        # notes of a user, which do not say whose they are
        return Response(200, {"notes": [{"id": 900 + int(request.arg("user")), "text": "a note"}]})

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
        api.served = stack.enter_context(serve(api))
        api.base = api.served.url
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
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}"))
    assert result.code == 0, result
    assert counts == {"users": 3, "tickets": 5}  # Xavier's address holds Zoe's: searched, not kept
    pages = helpdesk.served.requests("GET", "/api/users/search")
    assert [r.arg("page") for r in pages] == [None, "2"]
    bodies = [r.json() for r in helpdesk.served.requests("POST", "/api/tickets/search")]
    assert sorted((b["requester"], b.get("after") or "") for b in bodies) == [
        ("1", ""), ("1", "100"), ("2", ""), ("2", "101"), ("3", "")]  # the cursor in the body, page by page
    assert all(r.headers.get("x-api-key") == KEY for r in pages)


def test_an_api_key_in_the_query(helpdesk, tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION.replace("api_key: {in: header, name: X-API-Key}",
                                                               "api_key: {in: query, name: key}"))
    helpdesk.accept.add(f"query:{KEY}")
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}"))
    assert result.code == 0 and counts["users"] == 3, result
    assert KEY not in result.out + result.err


def test_basic_auth(helpdesk, tmp_path, cli):
    helpdesk.accept.add("Basic " + base64.b64encode(b"agent@example.com/token:s3cret-token").decode())
    result, counts = found(cli, inventory(tmp_path, helpdesk.base,
                                          "basic: {username: agent@example.com/token, password: \"${HELPDESK_PASSWORD}\"}"))
    assert result.code == 0 and counts["users"] == 3, result


def test_oauth2_client_credentials_fetch_one_token_and_send_it(helpdesk, tmp_path, cli):
    path = inventory(tmp_path, helpdesk.base, f"""
        oauth2:
          token_url: {helpdesk.base}/oauth/token
          client_id: client-1
          client_secret: ${{HELPDESK_CLIENT_SECRET}}
        """)
    # one request at a time to this host: the token request, on the same host, is sent from inside the
    # sign-in of a request that holds that place, and must not wait for it
    text = open(path).read().replace("    auth:\n", "    concurrency: 1\n    auth:\n")
    open(path, "w").write(text)
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
    result, counts = found(cli, inventory(tmp_path, served, "api_key: ${HELPDESK_KEY}"))
    assert result.code == 3, result
    assert "support.users: helpdesk: GET /api/users/search: the next page is on another host: not followed" \
        in result.err
    assert not any("elsewhere" in r.raw_path for r in helpdesk.served.requests())


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
    result = cli("-i", inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}"), "inventory", "check")
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
    result = cli("-i", inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}"), "inventory", "check")
    assert result.code == 2 and "headers.Authorization: 'Authorization' carries a secret" in result.err, result


def test_every_built_in_definition_loads():
    from dsarctl.connectors.http import definition

    names = definition.builtin_names()
    assert {"mailchimp", "stripe"} <= set(names)
    for name in names:
        loaded = definition.load(definition.resolve(name, definition.BUILTIN_DIR))
        assert loaded.name == name and loaded.collections


ECHO_DEFINITION = """\
definition: 1
name: analytics
base_url: https://analytics.invalid
auth:
  api_key: {in: header, name: X-API-Key}
params:
  property_id: {required: true, description: The GA4 property id}
identities:
  ga_client_id: {type: string}
collections:
  user_deletion:
    key: client_id
    identities:
      ga_client_id: client_id
    locate:
      ga_client_id:
        record: {client_id: "{ga_client_id}", property: "{params.property_id}"}
    delete:
      method: POST
      path: /v3/userDeletion/userDeletionRequests:upsert
      json: {kind: "analytics#userDeletionRequest", id: {type: CLIENT_ID, userId: "{client_id}"},
             propertyId: "{params.property_id}"}
"""


class Analytics(FakeApi):
    def __init__(self):
        super().__init__()
        self.deletions: list[dict] = []
        self.route("POST", "/v3/userDeletion/userDeletionRequests:upsert", self.upsert)

    def upsert(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != KEY:
            return Response(401, {"error": "unauthorised"})
        self.deletions.append(request.json())
        return Response(200, {**request.json(), "deletionRequestTime": "2026-03-02T09:00:00Z"})


def test_a_service_that_cannot_be_searched_takes_the_identifier_as_its_record(tmp_path, cli, monkeypatch):
    (tmp_path / "analytics.yaml").write_text(ECHO_DEFINITION)
    api = Analytics()
    with serve(api) as served:
        base = served.url
        path = str(write_inventory(tmp_path, f"ga:\n  connector: http\n  definition: analytics.yaml\n"
                                             f"  base_url: {base}\n  auth:\n    api_key: ${{HELPDESK_KEY}}\n"
                                             f"  params: {{property_id: '123456'}}\n  erase: delete\n"))
        found = cli("-i", path, "find", "ga_client_id:1197596843.1673515272", "--json")
        assert found.code == 0 and found.json()["total"] == 1, found
        assert served.requests() == []  # nothing to ask: the identifier is the record
        erased = cli("-i", path, "erase", "ga_client_id:1197596843.1673515272", "--yes", "--json")
        assert erased.code == 0, erased
    assert api.deletions == [{"kind": "analytics#userDeletionRequest", "propertyId": "123456",
                              "id": {"type": "CLIENT_ID", "userId": "1197596843.1673515272"}}]


def test_a_param_the_definition_needs_is_asked_for(tmp_path, cli):
    (tmp_path / "analytics.yaml").write_text(ECHO_DEFINITION)
    path = str(write_inventory(tmp_path, "ga:\n  connector: http\n  definition: analytics.yaml\n"
                                         "  auth:\n    api_key: ${HELPDESK_KEY}\n"))
    result = cli("-i", path, "inventory", "check")
    assert result.code == 2 and "systems.ga: the analytics definition needs params: {property_id: ...}" \
        in result.err, result


def test_a_delete_in_two_steps_finishes_after_a_crash_between_them(helpdesk, tmp_path, cli):
    """Zendesk's shape: a user is deleted, then deleted permanently; the second step of a run cut between
    the two is done by the next run (the first step then answers 404: done already)."""
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION.replace(
        "        paginate: {type: next_link, from_response: next_page}\n",
        "        paginate: {type: next_link, from_response: next_page}\n"
        "    delete:\n      - {method: DELETE, path: \"/api/users/{id}\"}\n"
        "      - {method: DELETE, path: \"/api/deleted_users/{id}\"}\n"
        "    scan:\n      - {path: /api/users, records: users}\n"
        "      - {path: /api/deleted_users, records: deleted_users}\n", 1))
    helpdesk.accept.add(KEY)
    path = inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}")
    text = open(path).read().replace("    auth:\n", "    erase: delete\n    auth:\n")
    open(path, "w").write(text)
    helpdesk.served.inject(Fault("503", method="DELETE", path="^/api/deleted_users/1$", times=5))
    first = cli("-i", path, "erase", ZOE, "--yes", "--json")
    assert first.code == 3, first
    assert [u["id"] for u in helpdesk.soft_deleted] == [1]  # step one done, step two refused
    second = cli("-i", path, "erase", ZOE, "--yes", "--json")
    assert second.code == 0, second
    assert [u["status"] for u in second.json()["resumed"][0]["units"]] == ["done"], second.json()["resumed"]
    assert helpdesk.soft_deleted == [] and [u["id"] for u in helpdesk.users] == [4, 5]
    gone = [r.path for r in helpdesk.served.requests("DELETE")]
    assert gone.count("/api/deleted_users/2") == 1 and gone.count("/api/deleted_users/3") == 1


def test_set_writes_the_value_searched_into_records_that_do_not_hold_it(helpdesk, tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION + """\
  notes:
    key: id
    identities:
      helpdesk_user: user
    locate:
      helpdesk_user:
        path: /api/notes/search
        query: {user: "{helpdesk_user}"}
        records: notes
        set: {user: "{helpdesk_user}"}
""")
    helpdesk.accept.add(KEY)
    result, counts = found(cli, inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}"))
    assert result.code == 0 and counts["notes"] == 3, result


def test_placeholders_encode_a_path_segment_and_filter_values():
    from dsarctl.connectors.http import templates

    values = {"id": "a/../b?c", "email": "O'Brien@Example.org"}.__getitem__
    assert templates.render("/users/{id}/x", values, segment=True) == "/users/a%2F..%2Fb%3Fc/x"
    assert templates.render("email:'{email|quote}'", values) == "email:'O\\'Brien@Example.org'"
    assert templates.render("{email|md5}", values) == hashlib.md5(b"o'brien@example.org").hexdigest()
    assert templates.render("{{literal}} {email|lower}", values) == "{literal} o'brien@example.org"
    with pytest.raises(ValueError, match="unknown filter 'upper'"):
        templates.names("{email|upper}")


def test_retry_after_reads_seconds_and_dates(monkeypatch):
    from datetime import datetime, timezone

    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "now", lambda: datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc))
    assert client.retry_after("30") == 30.0
    assert client.retry_after("Mon, 02 Mar 2026 09:01:00 GMT") == 60.0
    assert client.retry_after("Mon, 02 Mar 2026 08:00:00 GMT") == 0.0  # a date past: at once
    assert client.retry_after("soon") is None and client.retry_after(None) is None


def test_offset_pages_are_fetched_side_by_side_once_the_total_is_known(helpdesk, tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION + """\
  orders:
    key: id
    identities:
      email: email
    locate:
      email:
        path: /api/orders
        query: {email: "{email}"}
        records: orders
        paginate: {type: offset, param: offset, size_param: limit, size: 10, total: total}
""")
    helpdesk.accept.add(KEY)
    helpdesk.served.server.latency = 0.05
    path = inventory(tmp_path, helpdesk.base, "api_key: ${HELPDESK_KEY}")
    text = open(path).read().replace("    auth:\n", "    concurrency: 3\n    auth:\n")
    open(path, "w").write(text)
    result, counts = found(cli, path)
    assert result.code == 0 and counts["orders"] == 95, result
    pages = helpdesk.served.requests("GET", "^/api/orders$")
    assert sorted(int(r.arg("offset")) for r in pages) == list(range(0, 95, 10))
    assert helpdesk.served.server.max_in_flight == 3  # the other nine pages at once, three at a time (the host's limit)


@pytest.mark.parametrize("auth, key", [
    ("api_key: helpdesk-key-in-the-file", "auth.api_key"),
    ("bearer: tok-in-the-file", "auth.bearer"),
    ("basic: {username: agent@example.com/token, password: pw-in-the-file}", "auth.basic.password"),
    ("oauth2: {token_url: https://a.example/t, client_id: c1, client_secret: cs-in-the-file}",
     "auth.oauth2.client_secret"),
])
def test_a_secret_written_in_the_inventory_is_refused_at_its_line(tmp_path, cli, auth, key):
    """Issue 22: secrets come from ${VAR} only. A literal one is refused where it is written (exit 2)."""
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION)
    path = inventory(tmp_path, "https://helpdesk.example", auth)
    line = next(n for n, text in enumerate(open(path).read().splitlines(), 1) if "in-the-file" in text)
    result = cli("-i", path, "inventory", "check")
    assert result.code == 2, result
    assert result.err.startswith(f"dsarctl: error: inventory.yaml:{line}: systems.support.{key}: the "), result.err
    assert "is a secret: give it from the environment" in result.err and "in-the-file" not in result.err, result


def test_a_secret_from_the_environment_with_a_default_is_taken(tmp_path, cli):
    (tmp_path / "helpdesk.yaml").write_text(DEFINITION)
    path = inventory(tmp_path, "https://helpdesk.example", "api_key: ${NOT_SET_HERE:-fallback-key}")
    result = cli("-i", path, "inventory", "check")
    assert result.code == 0, result


def test_a_definition_file_not_found_is_named_at_the_inventorys_line_too(tmp_path, cli):
    path = inventory(tmp_path, "https://helpdesk.example", "api_key: ${HELPDESK_KEY}", definition="./nofile.yaml")
    line = next(n for n, text in enumerate(open(path).read().splitlines(), 1) if "definition: ./nofile" in text)
    result = cli("-i", path, "inventory", "check")
    assert result.code == 2, result
    assert result.err == (f"dsarctl: error: inventory.yaml:{line}: systems.support.definition: ./nofile.yaml: "
                          "definition file not found\n"), result.err

