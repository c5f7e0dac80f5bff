"""The `hubspot` built-in definition through the real command line, against the HubSpot fake
(dsarctl/fakes/hubspot.py): what find, export and erase send and what they leave in the fake, and how the
client copes with 429s, 5xx answers and a connection dropped after the GDPR delete was carried out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from dsarctl.fakes.hubspot import HubSpotFake
from dsarctl.fakes.server import FakeServer, Fault
from dsarctl.fakes.zendesk import ZendeskFake

INVENTORY = """\
version: 1
controller: {{name: Test Ltd, contact: privacy@test.example, timezone: UTC}}
identities:
  email: {{type: email}}
systems:
  crm:
    connector: http
    definition: hubspot
    base_url: {url}
    auth:
      bearer: ${{HUBSPOT_TOKEN}}
    erase: delete
{extra}"""


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventories' tokens come from the environment, as the loader requires."""
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-test-token")
    monkeypatch.setenv("ZENDESK_TOKEN", "zd-test-token")


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """The client's back-off waits, recorded instead of slept."""
    from dsarctl.connectors.http import client

    waited: list[float] = []
    monkeypatch.setattr(client, "sleep", waited.append)
    return waited


@pytest.fixture
def hubspot():
    api = HubSpotFake()
    alice = api.add("contacts", {"email": "Alice@Example.com", "firstname": "Alice", "lastname": "Example",
                                 "phone": "+44 20 7946 0958", "jobtitle": "CTO"})
    api.add("tickets", {"subject": "Licence invalid", "content": "NW-ALICE-0001"}, associations=[("contacts", alice)])
    api.add("deals", {"dealname": "Desktop upgrade", "amount": "99.00"}, associations=[("contacts", alice)])
    api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Question",
                       "hs_email_text": "Can I upgrade?"}, associations=[("contacts", alice)])
    bob = api.add("contacts", {"email": "bob@example.net", "firstname": "Bob"})
    api.add("tickets", {"subject": "Bob's ticket"}, associations=[("contacts", bob)])
    api.add("contacts", {"email": "xalice@example.com.au", "firstname": "Look-alike"})
    with FakeServer(api) as server:
        yield api, server


def inventory(folder, url, extra=""):
    path = folder / "inventory.yaml"
    path.write_text(INVENTORY.format(url=url, extra=extra), encoding="utf-8")
    return str(path)


def test_find_sends_the_documented_search_and_finds_exactly_alice(hubspot, tmp_path, cli):
    api, server = hubspot
    result = cli("-i", inventory(tmp_path, server.url), "find", "ALICE@example.com", "--json")
    assert result.code == 0, result
    found = {c["collection"]: c["count"] for s in result.json()["systems"] for c in s["collections"]}
    assert found == {"contacts": 1, "emails": 1, "tickets": 1, "deals": 1}
    searches = [r for r in server.requests if r.path == "/crm/v3/objects/contacts/search"]
    assert len(searches) == 1 and searches[0].method == "POST"
    body = searches[0].json()
    assert body["filterGroups"] == [{"filters": [{"propertyName": "email", "operator": "EQ",
                                                  "value": "alice@example.com"}]}]
    assert body["limit"] == 100 and "email" in body["properties"]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer pat-test-token"}
    [tickets] = [r for r in server.requests if r.path == "/crm/v3/objects/tickets/search"]  # round 2: by id
    assert tickets.json()["filterGroups"] == [{"filters": [{"propertyName": "associations.contact", "operator": "EQ",
                                                            "value": "101"}]}]
    assert not [r for r in server.requests if r.path.startswith("/crm/v3/objects/contacts/1")]  # no reads: find


def test_export_holds_the_contact_its_tickets_and_deals_and_nothing_of_bob(hubspot, tmp_path, cli):
    _, server = hubspot
    target = tmp_path / "alice.zip"
    result = cli("-i", inventory(tmp_path, server.url), "export", "alice@example.com", "-o", str(target), "--json")
    assert result.code == 0, result
    with zipfile.ZipFile(target) as package:
        contacts = json.loads(package.read("data/crm/contacts.json"))
        emails = json.loads(package.read("data/crm/emails.json"))
        tickets = json.loads(package.read("data/crm/tickets.json"))
        deals = json.loads(package.read("data/crm/deals.json"))
        everything = " ".join(package.read(n).decode("utf-8", "replace") for n in package.namelist())
    [contact] = contacts
    assert contact["properties"]["email"] == "alice@example.com" and contact["properties"]["jobtitle"] == "CTO"
    assert contact["properties"]["phone"] == "+44 20 7946 0958"  # read in full: more than the search returned
    assert [(t["properties"]["subject"], t["contact_id"]) for t in tickets] == [("Licence invalid", "101")]
    assert [d["properties"]["dealname"] for d in deals] == ["Desktop upgrade"]
    assert contact["associations"]["tickets"]["results"] == [{"id": "102", "type": "contact_to_ticket"}]
    assert set(contact["associations"]) == {"tickets", "deals"}  # no company: none is linked
    assert [e["properties"]["hs_email_subject"] for e in emails] == ["Question"]
    assert "Bob" not in everything and "bob@example.net" not in everything and "Look-alike" not in everything


def test_erase_uses_the_gdpr_delete_and_leaves_bob(hubspot, tmp_path, cli):
    api, server = hubspot
    path = inventory(tmp_path, server.url)
    bob_before = {k: dict(v) for k, v in api.objects["contacts"].items() if v["email"] == "bob@example.net"}
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["problems"] == [], report
    # the retained ticket and deal are out of the search's reach once the contact is gone (the GDPR delete
    # unlinks them), yet still at HubSpot: "What remains" names them, from the plan
    assert sorted((r["collection"], r["status"], r["records"]) for r in report["remaining"]) == [
        ("deals", "retained", ["hubspot deals 103"]), ("tickets", "retained", ["hubspot tickets 102"])], report
    gdpr = [r for r in server.requests if r.path == "/crm/v3/objects/contacts/gdpr-delete"]
    assert [(r.method, r.json()) for r in gdpr] == [("POST", {"objectId": "101"})]
    assert "101" not in api.objects["contacts"] and "alice@example.com" in api.blocklist
    assert [p["hs_email_subject"] for p in api.archived["emails"].values()] == ["Question"]
    assert [p["subject"] for p in api.objects["tickets"].values()] == ["Licence invalid", "Bob's ticket"]  # stay
    assert api.linked("tickets", "102", "contacts") == []  # ... linked to no one
    assert {k: v for k, v in api.objects["contacts"].items() if v["email"] == "bob@example.net"} == bob_before
    again = cli("-i", path, "find", "alice@example.com", "--json")
    assert again.code == 1 and again.json()["total"] == 0


def test_a_429_is_waited_out_as_retry_after_says(hubspot, tmp_path, cli, sleeps):
    _, server = hubspot
    server.inject(Fault("429", path="/contacts/search", retry_after=3, times=2))
    result = cli("-i", inventory(tmp_path, server.url), "find", "alice@example.com", "--json")
    assert result.code == 0 and result.json()["total"] == 4, result  # contact, e-mail, ticket, deal
    assert sleeps.count(3) == 2, sleeps
    assert len([r for r in server.requests if r.path == "/crm/v3/objects/contacts/search"]) == 3


def test_a_delete_whose_answer_is_lost_is_finished_by_the_retry(hubspot, tmp_path, cli):
    api, server = hubspot
    server.inject(Fault("drop-after", path="/gdpr-delete"))  # HubSpot deletes, the answer never arrives
    result = cli("-i", inventory(tmp_path, server.url), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert {r["status"] for r in result.json()["remaining"]} == {"retained"}  # the ticket and deal only
    assert len([r for r in server.requests if r.path.endswith("/gdpr-delete")]) == 2  # retried: 404 = gone
    assert "101" not in api.objects["contacts"]


def test_a_failing_api_fails_its_system_alone(hubspot, tmp_path, cli):
    api, server = hubspot
    zendesk = ZendeskFake()
    zendesk.add_user("Alice", "alice@example.com")
    with FakeServer(zendesk) as helpdesk:
        extra = ("  helpdesk:\n    connector: http\n    definition: zendesk\n"
                 f"    base_url: {helpdesk.url}\n    auth:\n      basic:\n        username: agent@example.com/token\n"
                 "        password: ${ZENDESK_TOKEN}\n")
        server.inject(Fault("503", times=100))
        result = cli("-i", inventory(tmp_path, server.url, extra), "find", "alice@example.com", "--json")
    assert result.code == 3, result
    systems = {s["system"]: s for s in result.json()["systems"]}
    assert systems["crm"]["status"] == "failed" and systems["helpdesk"]["count"] == 1
    assert "503" in result.err and "pat-test-token" not in result.out + result.err


def test_search_pages_follow_the_after_cursor_in_the_body(hubspot, tmp_path, cli):
    api, server = hubspot
    for n in range(250):
        api.add("emails", {"hs_email_from_email": "Bob@Example.net", "hs_email_subject": f"Note {n}"})
    result = cli("-i", inventory(tmp_path, server.url), "find", "bob@example.net", "--json")
    assert result.code == 0, result
    counts = {c["collection"]: c["count"] for s in result.json()["systems"] for c in s["collections"]}
    assert counts == {"contacts": 1, "emails": 250, "tickets": 1, "deals": 0}
    pages = [r.json() for r in server.requests if r.path == "/crm/v3/objects/emails/search"]
    assert [p.get("after") for p in pages] == [None, "100", "200"]
    assert all(p["filterGroups"][0]["filters"][0]["value"] == "bob@example.net" for p in pages)


def test_what_is_associated_with_another_contact_too_is_left_as_it_is(hubspot, tmp_path, cli):
    """A ticket or deal associated with Alice and Bob, an e-mail Alice sent to Bob: shared. With tickets
    and e-mails set to delete, the erase archives only what is Alice's alone (an e-mail to the controller's
    own support address is hers) and names the shared ones in "What remains"."""
    api, server = hubspot
    alice, bob = "101", api.contact_by_email("bob@example.net")
    team = api.add("tickets", {"subject": "Team licence"}, associations=[("contacts", alice), ("contacts", bob)])
    joint = api.add("deals", {"dealname": "Joint purchase"}, associations=[("contacts", alice), ("contacts", bob)])
    to_bob = api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Hi Bob",
                                "hs_email_to_email": "bob@example.net;support@test.example"})
    to_us = api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Upgrade",
                               "hs_email_to_email": "support@test.example", "hs_email_cc_email": "sales@test.example"})
    extra = "    collections:\n      tickets: {erase: delete}\n      emails: {erase: delete}\n"
    path = inventory(tmp_path, server.url, extra)
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    kept = {(r["collection"], r["status"], r["reason"]): sorted(r["records"]) for r in result.json()["remaining"]}
    retained = kept.pop(("deals", "retained", api_reason(path)))
    assert retained == sorted(["hubspot deals 103", f"hubspot deals {joint}"])  # deals cannot be deleted
    assert kept == {("tickets", "kept", "shared with 1 other"): [f"hubspot tickets {team}"],
                    ("emails", "kept", "shared with 1 other"): [f"hubspot emails {to_bob}"]}, result.json()
    plan = {s["record"]: s["others"] for c in result.json()["plan"]["collections"] for s in c.get("shared", ())}
    assert plan == {f"hubspot tickets {team}": 1, f"hubspot emails {to_bob}": 1}  # deals are not changed: not asked
    assert team in api.objects["tickets"] and joint in api.objects["deals"] and to_bob in api.objects["emails"]
    assert to_us in api.archived["emails"] and to_us not in api.objects["emails"]
    assert [p["subject"] for p in api.archived["tickets"].values()] == ["Licence invalid"]  # hers alone: archived
    assert api.linked("tickets", team, "contacts") == [bob]  # still Bob's


def api_reason(path) -> str:
    """The reason the hubspot definition gives for retaining deals."""
    from dsarctl.inventory import load_inventory as load

    return load(path).systems["crm"].collections["deals"].erase.reason


def test_an_email_bcc_or_logged_on_another_contact_is_shared_and_the_export_names_no_other_contact(hubspot, tmp_path, cli):
    api, server = hubspot
    alice, bob = "101", api.contact_by_email("bob@example.net")
    blind = api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Fwd",
                               "hs_email_to_email": "support@test.example", "hs_email_bcc_email": "bob@example.net"})
    logged = api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Both of us",
                                "hs_email_to_email": "support@test.example"},
                     associations=[("contacts", alice), ("contacts", bob)])
    spaced = api.add("emails", {"hs_email_from_email": "alice@example.com", "hs_email_subject": "Spaces",
                                "hs_email_to_email": "support@test.example bob@example.net"})
    team = api.add("tickets", {"subject": "Team licence"}, associations=[("contacts", alice), ("contacts", bob)])
    path = inventory(tmp_path, server.url, "    collections:\n      tickets: {erase: delete}\n      emails: {erase: delete}\n")
    package = tmp_path / "alice.zip"
    assert cli("-i", path, "export", "alice@example.com", "-o", str(package)).code == 0
    with zipfile.ZipFile(package) as z:
        everything = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.startswith("data/"))
    assert f'"{bob}"' not in everything  # no other contact's id in her package
    assert not [r for r in server.requests if "/associations/" in r.path]  # asked only by an erase
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert {blind, logged, spaced} <= set(api.objects["emails"]) and team in api.objects["tickets"]
    kept = sorted(x for r in result.json()["remaining"] if r["status"] == "kept" for x in r["records"])
    assert kept == sorted([f"hubspot emails {blind}", f"hubspot emails {logged}", f"hubspot emails {spaced}",
                           f"hubspot tickets {team}"])


def test_when_the_associations_cannot_be_read_nothing_is_deleted_and_the_report_says_why(hubspot, tmp_path, cli):
    api, server = hubspot
    server.inject(Fault("500", method="GET", path="/associations/contacts", times=1000))
    path = inventory(tmp_path, server.url, "    collections:\n      tickets: {erase: delete}\n")
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert [p["subject"] for p in api.objects["tickets"].values()] == ["Licence invalid", "Bob's ticket"]
    [kept] = [r for r in result.json()["remaining"] if r["collection"] == "tickets"]
    assert kept["status"] == "kept" and kept["reason"].startswith("not erased: who else it names could not be read")


def test_an_erase_killed_after_the_gdpr_delete_is_finished_by_the_next_erase(hubspot, tmp_path):
    """Killed (SIGKILL) right after the contact's GDPR delete: the tickets the plan deletes can no longer
    be found by the contact (gone), and HubSpot cannot list every ticket; the next erase opens the
    journal's sealed keys and archives them."""
    api, server = hubspot
    path = inventory(tmp_path, server.url, "    collections:\n      tickets: {erase: delete}\n")
    command = [sys.executable, "-m", "dsarctl", "-i", path, "erase", "alice@example.com", "--yes", "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("DSARCTL_INVENTORY", "DSARCTL_TEST_KILL_AT")}
    killed = subprocess.run(command, env={**env, "DSARCTL_TEST_KILL_AT": "http.after-request"},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert "101" not in api.objects["contacts"] and "102" in api.objects["tickets"]  # contact gone, ticket not
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    [resumed] = json.loads(again.stdout)["resumed"]
    assert [u["status"] for u in resumed["units"]] == ["done"], resumed
    outcomes = resumed["units"][0]["collections"]
    assert outcomes["contacts"]["missing"] == 1 and outcomes["tickets"]["deleted"] == 1, outcomes
    assert [p["subject"] for p in api.archived["tickets"].values()] == ["Licence invalid"]
    assert [p["subject"] for p in api.objects["tickets"].values()] == ["Bob's ticket"]
    assert [p["hs_email_subject"] for p in api.archived["emails"].values()] == ["Question"]


def test_a_ticket_whose_other_contact_is_on_the_second_page_of_associations_is_shared(hubspot, tmp_path, cli):
    api, server = hubspot
    api.association_page_size = 1  # page 1: Alice alone (the ticket would look hers); page 2: Bob
    alice, bob = "101", api.contact_by_email("bob@example.net")
    team = api.add("tickets", {"subject": "Team"}, associations=[("contacts", alice), ("contacts", bob)])
    path = inventory(tmp_path, server.url, "    collections:\n      tickets: {erase: delete}\n")
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert team in api.objects["tickets"]
    pages = [r for r in server.requests if r.path == f"/crm/v3/objects/tickets/{team}/associations/contacts"]
    assert [r.arg("after") for r in pages] == [None, "1"]
