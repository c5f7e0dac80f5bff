"""`erase --batch` subject by subject (issue 20): the plan and the report say what each line of the batch
file found and what happens to it; a line matching nobody is listed as such and gets no suppression entry
unless --suppress-unmatched."""

from __future__ import annotations

import sqlite3

import pytest

from dsarctl.keys import keyed_hash

from helpers import one_error_line

BATCH = "alice@example.com\n# a comment, then a blank line\n\nzoe@nowhere.example\nbob@example.net\n"


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    (demo_dir / "batch.txt").write_text(BATCH)
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


def found_alone(run, subject: str) -> list[tuple[str, str, int]]:
    """(system, collection, count) of what `find SUBJECT` finds of the subject searched alone: the oracle
    of each subject's part of the batch."""
    systems = run("find", subject, "--json").json()["systems"]
    return [(s["system"], c["collection"], c["count"]) for s in systems for c in s.get("collections") or ()
            if c["count"]]


def suppressed(demo_dir) -> set[str]:
    with sqlite3.connect(demo_dir / ".dsarctl" / "audit.db") as db:
        return {h for (h,) in db.execute("SELECT hash FROM suppressions WHERE system = 'newsletter'")}


def email_hash(demo_dir, address: str) -> str:
    return keyed_hash((demo_dir / ".dsarctl" / "secret.key").read_bytes(), "email", address)


def test_the_dry_run_plans_each_subject_as_if_searched_alone(run, demo_dir):
    alice, bob = found_alone(run, "alice@example.com"), found_alone(run, "bob@example.net")
    result = run("erase", "--batch", str(demo_dir / "batch.txt"), "--dry-run", "--json")
    assert result.code == 0, result
    plan = result.json()["plan"]
    subjects = plan["subjects"]
    assert [(s["line"], s["subject"], s["matched"], s["total"]) for s in subjects] == [
        (1, ["email:alice@example.com"], True, sum(n for *_, n in alice)),
        (4, ["email:zoe@nowhere.example"], False, 0),
        (5, ["email:bob@example.net"], True, sum(n for *_, n in bob))]
    assert sorted((c["system"], c["collection"], c["count"]) for c in subjects[0]["collections"]) == sorted(alice)
    assert sorted((c["system"], c["collection"], c["count"]) for c in subjects[2]["collections"]) == sorted(bob)
    assert subjects[1]["collections"] == [] and subjects[1]["identifiers"] == ["email:zoe@nowhere.example"]
    # the merged plan is still there, and the line matching nobody adds no suppression entry
    assert plan["counts"]["delete"] > 0 and plan["suppress"] == {"newsletter": 2}
    assert plan["suppress_unmatched"] is False


def test_the_dry_run_lists_each_subject_and_the_lines_matching_nobody(run, demo_dir):
    result = run("erase", "--batch", str(demo_dir / "batch.txt"), "--dry-run")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "Erasure plan for a batch of 3 subjects: 2 found, 1 matching nobody"
    assert lines[2] == ("line 1: email:alice@example.com: 16 records (identifiers: email:alice@example.com, "
                        "customer_id:1042, phone:+442079460958, order_id:5001, order_id:5002)")
    assert ("line 5: email:bob@example.net: 9 records (identifiers: email:bob@example.net, customer_id:1043, "
            "phone:+447700900123, order_id:5003)") in lines
    start = lines.index("Matching nobody (nothing to erase; no suppression entry):")
    assert lines[start + 1:start + 3] == ["  line 4: email:zoe@nowhere.example", ""]
    assert lines[-1] == "Suppression — newsletter: 2 identifiers kept as keyed hashes"


def test_the_report_says_per_subject_what_was_done_and_what_remains(run, demo_dir):
    result = run("erase", "--batch", str(demo_dir / "batch.txt"), "--yes")
    assert result.code == 0, result
    report = result.out[result.out.index("line 1: email:alice@example.com: 16 records\n"):]
    bob = report[report.index("line 5:"):report.index("Matching nobody")]
    assert bob == (
        "line 5: email:bob@example.net: 9 records\n"
        "  crm.customers: 1 deleted\n"
        "  crm.tickets: 1 anonymized\n"
        "  orders.orders: 1 retained (until 2031-12-31: Invoices must be kept 6 years (HMRC))\n"
        "  orders.order_items: 1 retained (until 2031-12-31: Invoice lines must be kept 6 years (HMRC))\n"
        "  newsletter.newsletter: 1 deleted\n"
        "  support.support: 1 deleted\n"
        "  sales_inbox.sales_inbox: 1 deleted\n"
        "  telemetry.telemetry: 1 deleted\n"
        "  push.push: 1 deleted\n"
        "  remains: orders.orders: 1 record retained until 2031-12-31 — Invoices must be kept 6 years (HMRC)\n"
        "  remains: orders.order_items: 1 record retained until 2031-12-31 — Invoice lines must be kept 6 years "
        "(HMRC)\n")
    assert report[report.index("Matching nobody"):] == (
        "Matching nobody (nothing erased; no suppression entry):\n"
        "  line 4: email:zoe@nowhere.example\n"
        "suppression list: 2 new keyed hashes\n"
        "What remains for the whole batch:\n"
        "  analytics: manual — manual task open: Google Ireland Ltd (Google Analytics)\n")
    assert suppressed(demo_dir) == {email_hash(demo_dir, "alice@example.com"), email_hash(demo_dir, "bob@example.net")}


def test_the_json_report_has_each_subjects_outcomes(run, demo_dir):
    data = run("erase", "--batch", str(demo_dir / "batch.txt"), "--yes", "--json").json()
    subjects = data["subjects"]
    assert [(s["line"], s["matched"]) for s in subjects] == [(1, True), (4, False), (5, True)]
    crm = {c["collection"]: c for c in subjects[2]["collections"] if c["system"] == "crm"}
    assert crm["customers"] == {"system": "crm", "collection": "customers", "count": 1, "status": "ok",
                                "outcomes": {"deleted": 1}}
    assert subjects[1]["collections"] == [] and subjects[1]["remaining"] == []
    assert [(r["system"], r["collection"], r["count"], r["status"]) for r in subjects[2]["remaining"]] == [
        ("orders", "orders", 1, "retained"), ("orders", "order_items", 1, "retained")]
    assert data["run"]["suppressed"] == 2
    with sqlite3.connect(demo_dir / "demo" / "crm.db") as db:
        assert db.execute("SELECT count(*) FROM customers WHERE email IN "
                          "('alice@example.com', 'bob@example.net')").fetchone() == (0,)


def test_suppress_unmatched_keeps_an_entry_for_the_line_matching_nobody(run, demo_dir):
    result = run("erase", "--batch", str(demo_dir / "batch.txt"), "--yes", "--suppress-unmatched", "--json")
    assert result.code == 0, result
    assert result.json()["plan"]["suppress"] == {"newsletter": 3}
    assert suppressed(demo_dir) == {email_hash(demo_dir, a)
                                    for a in ("alice@example.com", "zoe@nowhere.example", "bob@example.net")}


def test_a_batch_matching_nobody_changes_nothing_and_suppresses_nothing(run, demo_dir):
    (demo_dir / "batch.txt").write_text("zoe@nowhere.example\nyann@nowhere.example\n")
    result = run("erase", "--batch", str(demo_dir / "batch.txt"), "--yes")
    assert result.code == 0, result
    assert result.out.endswith("Matching nobody (nothing erased; no suppression entry):\n"
                               "  line 1: email:zoe@nowhere.example\n"
                               "  line 2: email:yann@nowhere.example\n")
    assert suppressed(demo_dir) == set()


def test_suppress_unmatched_goes_with_batch(run):
    one_error_line(run("erase", "alice@example.com", "--suppress-unmatched", "--dry-run"),
                   "--suppress-unmatched goes with --batch FILE")


def test_a_failed_source_is_said_per_subject_and_for_the_lines_matching_nobody(run, demo_dir):
    (demo_dir / "demo" / "usage.jsonl").unlink()
    (demo_dir / "batch.txt").write_text("alice@example.com\nzoe@nowhere.example\n")
    planned = run("erase", "--batch", str(demo_dir / "batch.txt"), "--dry-run")
    assert planned.code == 0, planned
    lines = planned.out.splitlines()
    start = lines.index("Matching nobody in the sources that could be searched (nothing to erase; "
                        "no suppression entry):")
    assert lines[start + 1:start + 4] == [
        "  line 2: email:zoe@nowhere.example", "",
        "FAILED — telemetry.telemetry: file not found: demo/usage.jsonl (what it holds of these subjects is not "
        "known)"]
    done = run("erase", "--batch", str(demo_dir / "batch.txt"), "--yes")
    assert done.code == 3, done
    assert "  telemetry.telemetry: FAILED — file not found: demo/usage.jsonl\n" in done.out
    assert done.out.endswith(
        "Matching nobody in the sources that could be searched (nothing erased; no suppression entry):\n"
        "  line 2: email:zoe@nowhere.example\n"
        "suppression list: 1 new keyed hash\n"
        "What remains for the whole batch:\n"
        "  telemetry.telemetry: failed — could not be searched: file not found: demo/usage.jsonl\n"
        "  analytics: manual — manual task open: Google Ireland Ltd (Google Analytics)\n")
    # said once: the verification's search of a collection the plan could not search is the same failure
    assert done.err.splitlines() == ["failed: telemetry.telemetry: file not found: demo/usage.jsonl"]


def test_a_subjects_remaining_records_are_told_apart_by_system_and_collection_not_by_location_text():
    """`customers (id=5)` of one SQL system is not `customers (id=5)` of another: a subject's part of the
    report lists what remains of its own records only."""
    from dsarctl.erase import _remaining_of

    remaining = [
        {"system": "crm", "collection": "customers", "status": "retained", "count": 1,
         "records": ["customers (id=5)"], "until": "2030-01-01"},
        {"system": "shop", "collection": "customers", "status": "not erased", "count": 2,
         "records": ["customers (id=5)", "customers (id=6)"]},
    ]
    mine = {("crm", "customers", "customers (id=5)")}
    assert _remaining_of(remaining, mine, {("crm", "customers"): "2029-06-30"}) == [
        {"system": "crm", "collection": "customers", "status": "retained", "count": 1,
         "records": ["customers (id=5)"], "until": "2029-06-30"}]
    theirs = {("shop", "customers", "customers (id=6)")}
    assert _remaining_of(remaining, theirs, {}) == [
        {"system": "shop", "collection": "customers", "status": "not erased", "count": 1,
         "records": ["customers (id=6)"]}]
