"""`find` on the demo company: every system, identity expansion, and the traps."""

from __future__ import annotations

import pytest

from dsarctl.identity import Identifier
from dsarctl.search import find_subject


def counts(result):
    return {f"{s.system.name}.{c.collection.name}": len(c.records)
            for s in result.systems.values() for c in s.collections.values()}


def test_alice_is_found_in_every_system(demo_inventory):
    result = find_subject(demo_inventory, [Identifier("email", "alice@example.com")])
    assert counts(result) == {
        "crm.customers": 1, "crm.tickets": 2, "orders.orders": 2, "orders.order_items": 3,
        "newsletter.newsletter": 1, "support.support": 2, "sales_inbox.sales_inbox": 1,
        "telemetry.telemetry": 2, "push.push": 2,
    }
    assert result.ambiguous == {}
    assert result.failures == []
    followed = {str(i) for i in result.identifiers}
    assert followed == {"email:alice@example.com", "customer_id:1042", "phone:+442079460958",
                        "order_id:5001", "order_id:5002"}
    # expansion is shown: customer_id came from the CRM via the e-mail
    prov = result.provenance[Identifier("customer_id", "1042")]
    assert (prov.found_in, str(prov.via), prov.round) == ("crm.customers", "email:alice@example.com", 1)
    # the telemetry event carrying only the account number was reached through customer_id
    events = result.systems["telemetry"].collections["telemetry"].records
    only_account = [r for r in events if "user" not in r.data]
    assert len(only_account) == 1 and only_account[0].matched == {("customer_id", "1042")}
    # order lines carry no e-mail or customer id: reached through the order ids
    items = result.systems["orders"].collections["order_items"].records
    assert sorted(r.data["id"] for r in items) == [1, 2, 3]
    # the manual processor becomes a task with the identifiers it needs
    task = result.manual_task(demo_inventory.systems["analytics"])
    assert task["identifiers"] == ["email:alice@example.com", "customer_id:1042"]


def test_lookalike_addresses_and_mentions_never_match(demo_inventory):
    result = find_subject(demo_inventory, [Identifier("email", "zoe@example.org")])
    found = [r for r in result.records()]
    emails = set()
    for r in found:
        emails |= r.identities.get("email", set())
    assert "xzoe@example.org.uk" not in emails and "zoe@example.org.au" not in emails
    c = counts(result)
    assert c["crm.customers"] == 1  # not customer 1047 (xzoe), whose ticket mentions zoe@example.org
    assert c["newsletter.newsletter"] == 0  # zoe@example.org.au and xzoe@... are other people
    assert c["support.support"] == 1  # her own message (encoded name, Reply-To in capitals), not xzoe's
    assert c["telemetry.telemetry"] == 1  # not the event whose note mentions her address
    assert [r.data["id"] for r in result.systems["crm"].collections["customers"].records] == [1044]


def test_two_accounts_for_one_email_are_flagged(demo_inventory):
    result = find_subject(demo_inventory, [Identifier("email", "dan@example.com")])
    assert result.ambiguous == {"customer_id": ["1045", "1046"]}
    named = find_subject(demo_inventory, [Identifier("email", "dan@example.com"), Identifier("customer_id", "1045")])
    assert named.ambiguous == {}
    customers = named.systems["crm"].collections["customers"]
    assert [r.data["id"] for r in customers.records] == [1045]
    assert customers.excluded == 1  # account 1046 carries the other customer id
    assert named.provenance[Identifier("customer_id", "1046")].followed is False


def test_no_expand_searches_only_what_was_given(demo_inventory):
    result = find_subject(demo_inventory, [Identifier("email", "alice@example.com")], expand=False)
    c = counts(result)
    assert c["crm.tickets"] == 0 and c["push.push"] == 0 and c["crm.customers"] == 1
    assert result.rounds == 1


def test_mailboxes_do_not_expand_to_other_recipients(demo_inventory):
    # the reply to Alice was also sent to Bob: Bob must not become part of Alice's subject
    result = find_subject(demo_inventory, [Identifier("email", "alice@example.com")])
    assert Identifier("email", "bob@example.net") not in result.provenance


def test_cli_find_json_and_exit_codes(cli, demo_dir):
    inv = str(demo_dir / "inventory.yaml")
    result = cli("-i", inv, "find", "ALICE@example.com", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["subject"] == ["email:alice@example.com"]
    assert data["total"] == 16
    systems = {s["system"]: s for s in data["systems"]}
    assert systems["analytics"]["status"] == "manual"
    assert systems["analytics"]["task"]["processor"] == "Google Ireland Ltd (Google Analytics)"
    assert systems["orders"]["collections"][0]["erase"]["action"] == "retain"
    assert result.err == ""

    nobody = cli("-i", inv, "find", "nobody@example.com", "--json")
    assert nobody.code == 1
    assert nobody.json()["total"] == 0

    by_kind = cli("-i", inv, "find", "customer_id:1043", "--json")
    assert by_kind.code == 0
    assert {i["value"] for i in by_kind.json()["identifiers"]} >= {"1043", "bob@example.net"}

    by_phone = cli("-i", inv, "find", "+44 20 7946 0958", "--json")
    assert by_phone.code == 0 and by_phone.json()["total"] == 16

    bad = cli("-i", inv, "find", "12345")
    assert bad.code == 2 and bad.err.startswith("dsarctl: error: cannot tell what kind of identifier '12345'")


def test_cli_find_table_output(cli, demo_dir):
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find", "alice@example.com")
    assert result.code == 0
    assert "Subject: email:alice@example.com" in result.out
    assert "customer_id:1042" in result.out and "found in crm.customers" in result.out
    assert "Manual task — analytics: Google Ireland Ltd (Google Analytics)" in result.out
    assert "\x1b[" not in result.out  # NO_COLOR and not a terminal: no escape codes


def test_cli_find_ambiguity_warns(cli, demo_dir):
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find", "dan@example.com")
    assert result.code == 0
    assert "ambiguous: 2 values of unique identity 'customer_id' (1045, 1046)" in result.err


def test_failed_source_is_exit_3_and_the_rest_still_searched(cli, demo_dir):
    (demo_dir / "demo" / "usage.jsonl").unlink()
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find", "alice@example.com", "--json")
    assert result.code == 3
    data = result.json()
    assert data["failures"] == [{"system": "telemetry", "collection": "telemetry",
                                 "error": "file not found: demo/usage.jsonl"}]
    assert {s["system"]: s["count"] for s in data["systems"]}["push"] == 2
    assert "failed: telemetry.telemetry: file not found: demo/usage.jsonl" in result.err


def test_refused_database_connection_is_exit_3(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+psycopg://nobody:hunter2pw@127.0.0.1:1/none")
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find", "alice@example.com", "--json")
    assert result.code == 3
    failures = result.json()["failures"]
    assert {f["collection"] for f in failures} == {"customers", "tickets"}
    assert "hunter2pw" not in result.out + result.err  # the password never shows
    # without the CRM, the e-mail still reaches the other systems directly
    assert {s["system"]: s["count"] for s in result.json()["systems"]}["newsletter"] == 1


def test_version_and_help(cli):
    from dsarctl import __version__

    assert cli("--version").out == f"dsarctl {__version__}\n"
    help_text = cli("--help")
    assert help_text.code == 0
    for command in ("inventory", "find", "demo"):
        assert command in help_text.out


def test_usage_error_is_one_line_exit_2(cli, demo_dir):
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "missing argument 'subject'" in result.err.lower()


def test_demo_is_idempotent(cli, demo_dir):
    inv = str(demo_dir / "inventory.yaml")
    again = cli("-i", inv, "demo", "--json")
    assert again.code == 0 and again.json()["created"] == []
    (demo_dir / "demo" / "push_devices.csv").write_text("customer_id,device_token,platform,opted_in_at\n")
    forced = cli("-i", inv, "demo", "--force", "--json")
    assert "demo/push_devices.csv" in forced.json()["created"]
    assert (demo_dir / "demo" / "push_devices.csv").read_text().count("\n") == 4


@pytest.mark.parametrize("subject", ["email:alice@example.com", "Alice@Example.COM", " alice@example.com "])
def test_subject_spellings_agree(demo_inventory, subject):
    from dsarctl.identity import parse_identifier

    ident = parse_identifier(subject, demo_inventory.identities)
    assert counts(find_subject(demo_inventory, [ident]))["crm.customers"] == 1


def test_a_batch_search_gives_each_subject_what_a_search_of_its_own_gives(demo_inventory):
    """find_subjects (erase --batch) reads each source once per round for all subjects; each subject's
    records, expansion, provenance and ambiguity are the same as when searched alone."""
    import json

    from dsarctl.identity import parse_identifier
    from dsarctl.search import find_subjects

    subjects = [["alice@example.com"], ["bob@example.net"], ["zoe@example.org"], ["dan@example.com"],
                ["erin@example.com"], ["customer_id:1043"], ["nobody@example.com"],
                ["dan@example.com", "customer_id:1045"], ["+447700900123"]]
    parsed = [[parse_identifier(s, demo_inventory.identities) for s in subject] for subject in subjects]
    together = find_subjects(demo_inventory, parsed)
    assert len(together) == len(subjects)
    for ids, batch in zip(parsed, together):
        alone = find_subject(demo_inventory, ids)
        assert json.dumps(batch.to_dict(), default=str) == json.dumps(alone.to_dict(), default=str), ids
        assert [r.matched for r in batch.records()] == [r.matched for r in alone.records()]
    assert sum(r.total for r in together) > 20
    assert together[3].ambiguous  # Dan's two accounts


def test_a_round_starts_before_the_previous_rounds_mailboxes_are_read_with_the_same_results(tmp_path, monkeypatch):
    """search.EARLY_ROUNDS: the next round's searches start once every collection that can add identifiers
    is taken; a mailbox (which adds none) is read meanwhile. Results, provenance, order and errors are
    the same as with rounds one after the other, for single subjects, a batch, a named unique id and
    a failing mailbox."""
    import json

    from dsarctl import search
    from dsarctl.connectors.mail import MaildirConnector, MboxConnector
    from dsarctl.identity import parse_identifier
    from dsarctl.inventory import load_inventory

    from helpers import benchmark_company

    planted = benchmark_company(tmp_path, 1500)
    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:25]
    subjects = [[s["email"]] for s in planted["subjects"]] + [[s] for s in ordinary[:5]]
    subjects += [[planted["subjects"][0]["email"], f"customer_id:{planted['subjects'][0]['customer_id']}"]]
    parsed = [[parse_identifier(s, inventory.identities) for s in subject] for subject in subjects]
    batch = [[parse_identifier(s, inventory.identities)] for s in ordinary]

    events: list[str] = []
    for cls in (MboxConnector, MaildirConnector):
        real = cls.locate

        def locate(self, collection, wanted, *a, _real=real, **k):
            for record in _real(self, collection, wanted, *a, **k):
                events.append(f"mail {collection.name}")
                yield record

        monkeypatch.setattr(cls, "locate", locate)
    real_start = search.open_connector

    def opened(system, inv):
        connector = real_start(system, inv)
        start = connector.start_locate
        connector.start_locate = lambda coll, wanted, **kw: events.append(f"start {coll.name} {sorted(wanted)}") or start(coll, wanted, **kw)
        return connector

    monkeypatch.setattr(search, "open_connector", opened)

    def run(early: bool):
        monkeypatch.setattr(search, "EARLY_ROUNDS", early)
        events.clear()
        alone = [search.find_subject(inventory, ids).to_dict() for ids in parsed]
        order = list(events)
        together = [r.to_dict() for r in search.find_subjects(inventory, batch)]
        return json.dumps([alone, together], default=str, sort_keys=True), order

    early, early_order = run(True)
    late, late_order = run(False)
    assert early == late
    # with early rounds, the second round (customer ids) starts before the first round's mail is read
    def second_round_before_mail(order):
        first_mail = next(i for i, e in enumerate(order) if e.startswith("mail"))
        return any(e.startswith("start") and "customer_id" in e for e in order[:first_mail])
    assert second_round_before_mail(early_order) and not second_round_before_mail(late_order)

    (tmp_path / "support.mbox").unlink()  # a failing mailbox: the same failure either way
    assert run(True)[0] == run(False)[0]


def test_early_rounds_give_the_same_results_on_the_demo(demo_inventory, monkeypatch):
    import json

    from dsarctl import search
    from dsarctl.identity import parse_identifier

    subjects = [["alice@example.com"], ["bob@example.net"], ["zoe@example.org"], ["dan@example.com"],
                ["erin@example.com"], ["customer_id:1043"], ["dan@example.com", "customer_id:1045"],
                ["+447700900123"]]
    parsed = [[parse_identifier(s, demo_inventory.identities) for s in subject] for subject in subjects]
    runs = []
    for early in (True, False):
        monkeypatch.setattr(search, "EARLY_ROUNDS", early)
        alone = [search.find_subject(demo_inventory, ids).to_dict() for ids in parsed]
        together = [r.to_dict() for r in search.find_subjects(demo_inventory, parsed)]
        runs.append(json.dumps([alone, together], default=str))
    assert runs[0] == runs[1]
