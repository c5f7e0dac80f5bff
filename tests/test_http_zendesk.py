"""The `zendesk` built-in definition through the real command line, against the Zendesk fake
(dsarctl/fakes/zendesk.py): users by e-mail, their requested tickets across many pages, comments in the
export, and an erase that deletes the tickets before the user (Zendesk refuses to delete the requester of
a ticket that is not closed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from dsarctl.fakes.server import FakeServer, Fault
from dsarctl.fakes.zendesk import ZendeskFake

INVENTORY = """\
version: 1
controller: {{name: Test Ltd, contact: privacy@test.example, timezone: UTC}}
identities:
  email: {{type: email}}
systems:
  helpdesk:
    connector: http
    definition: zendesk
    base_url: {url}
    auth:
      basic:
        username: agent@example.com/token
        password: ${{ZENDESK_TOKEN}}
{collections}"""


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventory's API token comes from the environment, as the loader requires."""
    monkeypatch.setenv("ZENDESK_TOKEN", "zd-test-token")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "sleep", lambda seconds: None)


@pytest.fixture
def zendesk():
    api = ZendeskFake()
    with FakeServer(api) as server:
        yield api, server


BOTH = "    collections:\n      tickets: {erase: delete}\n      users: {erase: delete}\n"


def inventory(folder, url, collections=BOTH):
    path = folder / "inventory.yaml"
    path.write_text(INVENTORY.format(url=url, collections=collections), encoding="utf-8")
    return str(path)


def test_find_follows_the_requested_tickets_across_pages(zendesk, tmp_path, cli):
    api, server = zendesk
    zoe = api.add_user("Zoe Zed", "Zoe@Example.org")
    for n in range(250):
        api.add_ticket(zoe, f"Ticket {n}", [f"body {n}"])
    xzoe = api.add_user("Xavier", "xzoe@example.org.uk")
    api.add_ticket(xzoe, "Merge me with zoe@example.org", ["please"])
    result = cli("-i", inventory(tmp_path, server.url), "find", "zoe@example.org", "--json")
    assert result.code == 0, result
    counts = {c["collection"]: c["count"] for s in result.json()["systems"] for c in s["collections"]}
    assert counts == {"users": 1, "tickets": 250}
    pages = [r for r in server.requests if r.path == f"/api/v2/users/{zoe}/tickets/requested.json"]
    assert sorted(int(r.arg("page", "1")) for r in pages) == [1, 2, 3]
    [search] = [r for r in server.requests if r.path == "/api/v2/users/search.json"]
    assert search.query == {"query": ["email:zoe@example.org"]}


def test_export_holds_tickets_with_their_comments(zendesk, tmp_path, cli):
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com", notes="Prefers e-mail")
    ticket = api.add_ticket(alice, "Cannot activate", ["My key says invalid.", "Fixed, thanks"])
    bob = api.add_user("Bob", "bob@example.net")
    api.add_ticket(bob, "Bob's invoice", ["address change"])
    target = tmp_path / "alice.zip"
    result = cli("-i", inventory(tmp_path, server.url), "export", "alice@example.com", "-o", str(target))
    assert result.code == 0, result
    with zipfile.ZipFile(target) as package:
        users = json.loads(package.read("data/helpdesk/users.json"))
        tickets = json.loads(package.read("data/helpdesk/tickets.json"))
        everything = " ".join(package.read(n).decode("utf-8", "replace") for n in package.namelist())
    assert [u["notes"] for u in users] == ["Prefers e-mail"]
    assert [(t["id"], [c["body"] for c in t["comments"]]) for t in tickets] == \
        [(ticket, ["My key says invalid.", "Fixed, thanks"])]
    assert "Bob" not in everything and "bob@example.net" not in everything


def test_erase_deletes_the_tickets_then_the_user(zendesk, tmp_path, cli):
    api, server = zendesk
    bob = api.add_user("Bob", "bob@example.net")
    open_ticket = api.add_ticket(bob, "Invoice address", ["change it"], status="open")
    zoe = api.add_user("Zoe", "zoe@example.org")
    zoes = api.add_ticket(zoe, "Zoe's", ["hi"])
    result = cli("-i", inventory(tmp_path, server.url), "erase", "bob@example.net", "--yes", "--json")
    assert result.code == 0, result
    assert result.json()["remaining"] == [] and result.json()["problems"] == []
    deletes = [r.path for r in server.requests if r.method == "DELETE"]
    assert deletes == [f"/api/v2/tickets/{open_ticket}", f"/api/v2/deleted_tickets/{open_ticket}",
                       f"/api/v2/users/{bob}", f"/api/v2/deleted_users/{bob}"]
    assert bob not in api.users and bob in api.permanently_deleted
    assert api.deleted_users[bob]["email"] is None and api.deleted_users[bob]["name"] == "Permanently Deleted User"
    assert open_ticket not in api.tickets and open_ticket not in api.deleted_tickets
    assert zoe in api.users and zoes in api.tickets


def test_closed_tickets_stay_by_default_and_the_plan_says_so(zendesk, tmp_path, cli):
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    ticket = api.add_ticket(alice, "Old question", ["hello"], status="closed")
    path = inventory(tmp_path, server.url, "    erase: delete\n")  # no rule for tickets: the definition's
    plan = cli("-i", path, "erase", "alice@example.com", "--dry-run", "--json")
    assert plan.code == 0, plan
    assert "Closed tickets stay in Zendesk" in plan.out and "unless deleted or redacted" in plan.out
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert alice in api.deleted_users and api.tickets[ticket]["requester_id"] == alice  # the ticket stays
    assert [r.path for r in server.requests if r.method == "DELETE"] == [f"/api/v2/users/{alice}",
                                                                       f"/api/v2/deleted_users/{alice}"]
    # out of the search's reach once its requester is deleted, the ticket is still there: "What remains" says so
    [left] = result.json()["remaining"]
    assert (left["collection"], left["status"], left["records"]) == ("tickets", "retained", [f"zendesk tickets {ticket}"])
    assert left["reason"].startswith("Closed tickets stay in Zendesk")


def test_an_open_ticket_kept_blocks_the_users_deletion(zendesk, tmp_path, cli):
    api, server = zendesk
    bob = api.add_user("Bob", "bob@example.net")
    api.add_ticket(bob, "Invoice address", ["change it"], status="open")
    result = cli("-i", inventory(tmp_path, server.url, "    erase: delete\n"), "erase", "bob@example.net", "--yes")
    assert result.code == 3, result  # Zendesk's 422, reported for that system
    assert "422" in result.err and "helpdesk" in result.err and "zd-test-token" not in result.err
    assert bob in api.users


def test_a_next_page_on_another_host_fails_the_system(zendesk, tmp_path, cli, monkeypatch):
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    for n in range(101):
        api.add_ticket(alice, f"T{n}", ["x"])
    original = api._url
    monkeypatch.setattr(api, "_url", lambda request, path: original(request, path).replace("127.0.0.1", "localhost")
                        if "page=2" in path else original(request, path))
    result = cli("-i", inventory(tmp_path, server.url), "find", "alice@example.com")
    assert result.code == 3, result
    assert "zd-test-token" not in result.err and "helpdesk" in result.err
    assert not [r for r in server.requests if r.arg("page") == "2"]  # localhost is not 127.0.0.1: not followed


def test_server_errors_are_retried(zendesk, tmp_path, cli):
    api, server = zendesk
    api.add_user("Alice", "alice@example.com")
    server.inject(Fault("500", path="/users/search", times=2))
    server.inject(Fault("drop", path="/tickets/requested"))
    result = cli("-i", inventory(tmp_path, server.url), "find", "alice@example.com", "--json")
    assert result.code == 0 and result.json()["total"] == 1, result
    assert len([r for r in server.requests if r.path == "/api/v2/users/search.json"]) == 3


def test_a_slow_answer_times_out_and_is_asked_again(zendesk, tmp_path, cli):
    api, server = zendesk
    api.add_user("Alice", "alice@example.com")
    server.inject(Fault("slow", path="/users/search", delay=2.5))
    path = inventory(tmp_path, server.url, BOTH + "    timeout: 1\n")
    result = cli("-i", path, "find", "alice@example.com", "--json")
    assert result.code == 0 and result.json()["total"] == 1, result
    assert len([r for r in server.requests if r.path == "/api/v2/users/search.json"]) == 2


def test_a_cut_between_the_two_deletion_steps_is_finished(zendesk, tmp_path, cli):
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    server.inject(Fault("drop-after", method="DELETE", path=r"^/api/v2/users/\d+$"))  # deleted; answer lost
    result = cli("-i", inventory(tmp_path, server.url), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert result.json()["remaining"] == []
    assert alice in api.permanently_deleted and api.deleted_users[alice]["email"] is None
    assert [r.path for r in server.requests if r.method == "DELETE"] == [
        f"/api/v2/users/{alice}", f"/api/v2/users/{alice}", f"/api/v2/deleted_users/{alice}"]


def test_a_ticket_another_end_user_writes_in_or_is_copied_on_is_left_as_it_is(zendesk, tmp_path, cli):
    """A ticket names other people (in CC, the author of a comment): shared. `erase: delete` deletes
    the subject's own tickets, agents' replies included, and leaves the shared ones whole; the plan and
    "What remains" say which and with how many others."""
    api, server = zendesk
    agent = api.add_user("Agent Smith", "smith@test.example", role="agent")
    alice = api.add_user("Alice", "alice@example.com")
    bob = api.add_user("Bob", "bob@example.net")
    carol = api.add_user("Carol", "carol@example.org")
    own = api.add_ticket(alice, "Cannot activate", ["My key says invalid."])
    api.add_comment(own, agent, "Fixed on our side.")
    copied = api.add_ticket(alice, "Team licence", ["Please add Bob."], email_cc_ids=[bob])
    written = api.add_ticket(alice, "Our invoices", ["Where is the invoice?"])
    api.add_comment(written, carol, "Same question from me.")
    api.add_comment(written, bob, "And me.")
    bobs = api.add_ticket(bob, "Bob's own", ["hi"])
    path = inventory(tmp_path, server.url)
    plan = cli("-i", path, "erase", "alice@example.com", "--dry-run", "--json")
    assert plan.code == 0, plan
    shared = {s["record"]: (s["others"], s["action"]) for c in plan.json()["plan"]["collections"]
              for s in c.get("shared", ())}
    assert shared == {f"zendesk tickets {copied}": (1, "keep"), f"zendesk tickets {written}": (2, "keep")}, plan.json()
    result = cli("-i", path, "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert own not in api.tickets and own not in api.deleted_tickets  # the subject's own: deleted for good
    assert set(api.tickets) == {copied, written, bobs}  # the shared ones and Bob's stay, whole
    assert [c["body"] for c in api.comments[written]] == ["Where is the invoice?", "Same question from me.", "And me."]
    assert api.tickets[copied]["email_cc_ids"] == [bob]
    assert alice in api.permanently_deleted and {bob, carol, agent} <= set(api.users)
    remaining = {(r["status"], r["reason"]): sorted(r["records"]) for r in result.json()["remaining"]}
    assert remaining == {("kept", "shared with 1 other"): [f"zendesk tickets {copied}"],
                         ("kept", "shared with 2 others"): [f"zendesk tickets {written}"]}, result.json()
    deletes = {r.path for r in server.requests if r.method == "DELETE"}
    assert not deletes & {f"/api/v2/tickets/{copied}", f"/api/v2/tickets/{written}"}
    # the people were told apart by role, one request per person
    shown = [r.path for r in server.requests if r.method == "GET" and r.path.startswith("/api/v2/users/")
             and r.path.endswith(".json") and "/tickets/" not in r.path and "search" not in r.path]
    assert sorted(set(shown)) == sorted({f"/api/v2/users/{u}.json" for u in (agent, alice, bob, carol)})
    assert len(shown) == len(set(shown)) * 2  # once for the dry run, once for the erase


def test_in_a_batch_a_ticket_shared_only_by_subjects_of_the_batch_is_deleted(zendesk, tmp_path, cli):
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    bob = api.add_user("Bob", "bob@example.net")
    both = api.add_ticket(alice, "Team licence", ["Please add Bob."], email_cc_ids=[bob])
    batch = tmp_path / "batch.txt"
    batch.write_text("alice@example.com\nbob@example.net\n", encoding="utf-8")
    result = cli("-i", inventory(tmp_path, server.url), "erase", "--batch", str(batch), "--yes", "--json")
    assert result.code == 0, result
    assert both not in api.tickets and both not in api.deleted_tickets


def test_a_person_whose_role_cannot_be_read_counts_as_another_person(zendesk, tmp_path, cli):
    """Bob's role lookup fails (500 on every try): the ticket he is copied on is kept, not failed, while
    Alice's own ticket and her user are erased; "What remains" names the kept ticket."""
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    bob = api.add_user("Bob", "bob@example.net")
    own = api.add_ticket(alice, "Mine", ["hi"])
    copied = api.add_ticket(alice, "Team licence", ["Please add Bob."], email_cc_ids=[bob])
    server.inject(Fault("500", method="GET", path=f"^/api/v2/users/{bob}\\.json$", times=1000))
    result = cli("-i", inventory(tmp_path, server.url), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert own not in api.tickets and own not in api.deleted_tickets
    assert set(api.tickets) == {copied} and alice in api.permanently_deleted
    [left] = result.json()["remaining"]
    assert (left["status"], left["reason"], left["records"]) == ("kept", "shared with 1 other",
                                                                   [f"zendesk tickets {copied}"])


def test_export_and_find_ask_no_one_s_role(zendesk, tmp_path, cli):
    """Who else a ticket names matters only to an erase: find and export send no role lookups (and
    cannot fail on one)."""
    api, server = zendesk
    agent = api.add_user("Agent", "agent@test.example", role="agent")
    alice = api.add_user("Alice", "alice@example.com")
    ticket = api.add_ticket(alice, "Mine", ["hi"])
    api.add_comment(ticket, agent, "Done")
    server.inject(Fault("500", method="GET", path=r"^/api/v2/users/\d+\.json$", times=1000))
    path = inventory(tmp_path, server.url)
    assert cli("-i", path, "find", "alice@example.com").code == 0
    assert cli("-i", path, "export", "alice@example.com", "-o", str(tmp_path / "a.zip")).code == 0
    assert not [r for r in server.requests if r.path in (f"/api/v2/users/{agent}.json", f"/api/v2/users/{alice}.json")]


def test_a_collection_that_could_not_be_searched_is_reported_even_when_nothing_is_found_after(zendesk, tmp_path, cli):
    """The tickets search fails; the user is still deleted (its own collection succeeded), after which the
    tickets cannot be found through it: the report must not say that nothing remains."""
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    api.add_ticket(alice, "Mine", ["hi"])
    server.inject(Fault("500", path="/tickets/requested", times=5))  # the plan's search and its 4 retries
    result = cli("-i", inventory(tmp_path, server.url), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 3, result
    [left] = [r for r in result.json()["remaining"] if r["collection"] == "tickets"]
    assert left["status"] == "failed" and left["reason"].startswith("could not be searched before the erase")


def test_an_erase_killed_between_the_two_steps_is_finished_by_the_next_erase(zendesk, tmp_path):
    """Killed (SIGKILL) after the ticket's soft deletion, before its permanent deletion: the next erase
    opens the journal's sealed keys (Zendesk cannot list every ticket), and the ticket's first step
    answers 404 (done) while the second deletes it for good."""
    api, server = zendesk
    alice = api.add_user("Alice", "alice@example.com")
    ticket = api.add_ticket(alice, "Cannot activate", ["My key says invalid."])
    bob = api.add_user("Bob", "bob@example.net")
    kept = api.add_ticket(bob, "Bob's invoice", ["address change"])
    path = inventory(tmp_path, server.url)
    command = [sys.executable, "-m", "dsarctl", "-i", path, "erase", "alice@example.com", "--yes", "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("DSARCTL_INVENTORY", "DSARCTL_TEST_KILL_AT")}
    killed = subprocess.run(command, env={**env, "DSARCTL_TEST_KILL_AT": "http.between-steps"},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert ticket in api.deleted_tickets and ticket not in api.tickets  # soft-deleted only
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    [resumed] = report["resumed"]
    assert [u["status"] for u in resumed["units"]] == ["done"], resumed
    assert ticket not in api.deleted_tickets and ticket not in api.tickets and ticket not in api.comments
    assert alice in api.permanently_deleted and api.deleted_users[alice]["email"] is None
    assert kept in api.tickets and bob not in api.deleted_users
    text = "".join(p.read_text() for p in (tmp_path / ".dsarctl" / "journal").glob("*.jsonl"))
    plans = [line for line in map(json.loads, text.splitlines()) if line["type"] == "plan"]
    entries = [e for plan in plans for coll in plan["units"]["helpdesk"].values() for e in coll]
    assert len(entries) == 2 and all(set(e) == {"action", "key_id", "sealed"} for e in entries), entries
    assert "alice" not in text.lower() and f"[{ticket}]" not in text  # no address, no key in plain text
