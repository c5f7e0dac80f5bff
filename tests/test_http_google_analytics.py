"""The `google-analytics` built-in definition against the Analytics fake (dsarctl/fakes/google_analytics.py):
the ids come from another system of the inventory (a CSV that keeps each account's analytics client id
and user id), `find` lists one deletion target per id without sending anything, `erase` sends one
User Deletion upsert per id with the GA4 property id, signing in as a service account (JWT bearer).
The definition also passes the sources conformance suite as a record-style source
(tests/test_http_apis_conformance.py). The guard below skips, with the reason, an engine that cannot load
the definition (one without `record:` locates or per-system `params:`)."""

from __future__ import annotations

import json

import pytest

from dsarctl.fakes.google_analytics import GoogleAnalyticsFake
from dsarctl.fakes.server import FakeServer

PROPERTY = "318000000"
UPSERT = "/analytics/v3/userDeletion/userDeletionRequests:upsert"


@pytest.fixture(autouse=True)
def engine_loads_the_definition():
    from dsarctl.demo_apis import usable

    if not usable("google-analytics"):
        pytest.skip("no google-analytics built-in yet: its definition (docs/sources/google-analytics.yaml) needs "
                    "`record:` locates and `params:` from the http engine (asked in REQUESTS-from-apis.md #4, #5)")


@pytest.fixture
def analytics():
    api = GoogleAnalyticsFake()
    for client_id, user_id in (("1789012345.1700000000", "1042"), ("1122334455.1690000000", "1043")):
        api.add_user(PROPERTY, "CLIENT_ID", client_id, events=20)
        api.add_user(PROPERTY, "USER_ID", user_id, events=5)
    with FakeServer(api) as server:
        yield api, server


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventory's token comes from the environment, as the loader requires."""
    monkeypatch.setenv("GA_TOKEN", "ya29.test-token")


def inventory(folder, url, auth="    auth:\n      bearer: ${GA_TOKEN}\n"):
    (folder / "ids.csv").write_text("email,ga_client_id,ga_user_id\nalice@example.com,1789012345.1700000000,1042\n"
                                    "bob@example.net,1122334455.1690000000,1043\n", encoding="utf-8")
    path = folder / "inventory.yaml"
    path.write_text(f"""\
version: 1
controller: {{name: Test Ltd, contact: privacy@test.example, timezone: UTC}}
identities:
  email: {{type: email}}
systems:
  accounts:
    connector: csv
    path: ids.csv
    identities: {{email: email, ga_client_id: ga_client_id, ga_user_id: ga_user_id}}
  analytics:
    connector: http
    definition: google-analytics
    base_url: {url}
{auth}    params: {{property_id: "{PROPERTY}"}}
    erase: delete
""", encoding="utf-8")
    return str(path)


def test_find_lists_the_ids_found_elsewhere_and_sends_nothing(analytics, tmp_path, cli):
    _, server = analytics
    result = cli("-i", inventory(tmp_path, server.url), "find", "alice@example.com", "--json")
    assert result.code == 0, result
    counts = {c["collection"]: c["count"] for s in result.json()["systems"] if s["system"] == "analytics"
              for c in s["collections"]}
    assert counts == {"client_ids": 1, "user_ids": 1}
    assert server.requests == []  # Analytics cannot be read: nothing to ask


def test_erase_sends_one_upsert_per_id_with_the_property(analytics, tmp_path, cli):
    api, server = analytics
    result = cli("-i", inventory(tmp_path, server.url), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    bodies = sorted((r.json() for r in server.requests if r.path == UPSERT), key=lambda b: b["id"]["type"])
    assert bodies == [
        {"kind": "analytics#userDeletionRequest", "id": {"type": "CLIENT_ID", "userId": "1789012345.1700000000"},
         "propertyId": PROPERTY},
        {"kind": "analytics#userDeletionRequest", "id": {"type": "USER_ID", "userId": "1042"}, "propertyId": PROPERTY}]
    assert not api.holds(PROPERTY, "CLIENT_ID", "1789012345.1700000000") and not api.holds(PROPERTY, "USER_ID", "1042")
    assert api.holds(PROPERTY, "CLIENT_ID", "1122334455.1690000000") and api.holds(PROPERTY, "USER_ID", "1043")


@pytest.fixture
def tokens(analytics):
    """The token endpoint on a host of its own (oauth2.googleapis.com in life), sharing the fake's state."""
    with FakeServer(analytics[0]) as server:
        yield server


def test_a_service_account_signs_in_at_its_token_uri(analytics, tokens, tmp_path, cli):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    api, server = analytics
    api.tokens.clear()  # only a token the fake issues is accepted
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "sa.json").write_text(json.dumps({
        "type": "service_account", "project_id": "northwind", "private_key_id": "k1", "private_key": pem,
        "client_email": "dsarctl@northwind.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": f"{tokens.url}/token"}), encoding="utf-8")
    path = inventory(tmp_path, server.url, "    auth:\n      service_account: sa.json\n")
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")  # erased in another test too
    assert result.code == 0, result
    assert [r.path for r in tokens.requests] == ["/token"]
    assert len([r for r in server.requests if r.path == UPSERT]) == 2
    assert not api.holds(PROPERTY, "CLIENT_ID", "1789012345.1700000000") and not api.holds(PROPERTY, "USER_ID", "1042")
    assert api.holds(PROPERTY, "CLIENT_ID", "1122334455.1690000000")
    assert pem.splitlines()[1] not in result.out + result.err
