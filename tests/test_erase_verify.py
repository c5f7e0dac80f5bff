"""The search after an erase (verify) skips file collections the erase can show hold nothing of the
subject any more (dsarctl/erase/settle.py); what it reports must stay what a full search reports. Each
test compares the two and checks the records that really remain in the sources."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from types import SimpleNamespace

import pytest

from dsarctl.erase import carry_out, prepare, verify
from dsarctl.erase import settle
from dsarctl.erase.apply import execute
from dsarctl.identity import Identifier

from test_erase import ALICE, NOW

BOB = [Identifier("email", "bob@example.net")]
FILES = {("newsletter", "newsletter"), ("support", "support"), ("sales_inbox", "sales_inbox"),
         ("telemetry", "telemetry"), ("push", "push")}
# Erin's message copies Alice: it is shared, redacted in place, and its Maildir is read again
ERASED_FILES = FILES - {("sales_inbox", "sales_inbox")}


@pytest.fixture
def quick(monkeypatch):
    """The demo files were written a moment ago: let their state count at once (a test that needs the
    racy rule says so)."""
    monkeypatch.setattr(settle, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(settle, "RACY_FINE_SECONDS", 0.0)


def full_search(inventory, plan) -> list[dict]:
    """What verify reports when it reads every source again."""
    return verify(inventory, dataclasses.replace(plan, search=None))


def by_place(remaining: list[dict]) -> dict:
    return {(r["system"], r["collection"]): r for r in remaining}


def later() -> None:
    time.sleep(0.05)  # the next write gets a later change time than the state read before it


def test_batch_verify_skips_rewritten_files_and_reports_what_a_full_search_reports(demo_dir, demo_inventory, quick):
    plan = prepare(demo_inventory, [ALICE, BOB], now=NOW)
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    assert settle.settled(demo_inventory, plan, result.run) == ERASED_FILES
    assert result.remaining == full_search(demo_inventory, plan)
    remaining = by_place(result.remaining)
    assert remaining[("orders", "orders")]["status"] == "retained"
    assert remaining[("orders", "orders")]["count"] == 3
    assert set(remaining) == {("orders", "orders"), ("orders", "order_items"), ("analytics", None)}
    # what the report says is what the sources hold
    conn = sqlite3.connect(demo_dir / "demo" / "orders.db")
    assert conn.execute("SELECT count(*) FROM orders WHERE customer_id IN (1042, 1043)").fetchone()[0] == 3
    for name in ("newsletter.csv", "usage.jsonl", "support.mbox", "push_devices.csv"):
        data = (demo_dir / "demo" / name).read_bytes().lower()
        assert b"alice@example.com" not in data and b"bob@example.net" not in data


def test_anonymized_rows_still_carrying_an_identifier_are_reported(demo_dir, demo_inventory, quick):
    """tickets are anonymized without masking customer_id: they still carry it, and verify says so."""
    path = demo_dir / "inventory.yaml"
    text = path.read_text()
    assert ", customer_id: null}" in text
    path.write_text(text.replace(", customer_id: null}", "}"))
    from dsarctl.inventory import load_inventory

    inventory = load_inventory(path)
    plan = prepare(inventory, [ALICE, BOB], now=NOW)
    result = carry_out(inventory, plan, operator="test", now=NOW)
    tickets = by_place(result.remaining)[("crm", "tickets")]
    assert tickets["status"] == "anonymized" and tickets["count"] == 3
    assert result.remaining == full_search(inventory, plan)
    conn = sqlite3.connect(demo_dir / "demo" / "crm.db")
    assert conn.execute("SELECT count(*) FROM tickets WHERE customer_id IN (1042, 1043)").fetchone()[0] == 3


def _append_csv(demo):
    with open(demo / "newsletter.csv", "a") as handle:
        handle.write("alice@example.com,Alice,Again,1,2026-11-22 11:59:00,192.0.2.99,,subscribed,,199,\n")
    return ("newsletter", "newsletter"), demo / "newsletter.csv", b"alice,again"


def _append_jsonl(demo):
    with open(demo / "usage.jsonl", "a") as handle:
        handle.write('{"ts": "2026-11-22T11:59:00Z", "account": "1042", "event": "login"}\n')
    return ("telemetry", "telemetry"), demo / "usage.jsonl", b'"2026-11-22t11:59:00z", "account": "1042"'


def _append_mbox(demo):
    with open(demo / "support.mbox", "ab") as handle:
        handle.write(b"\nFrom alice@example.com Sun Nov 22 11:59:00 2026\nFrom: Alice <alice@example.com>\n"
                     b"To: support@northwind.example\nSubject: one more thing\n\nHello again\n")
    return ("support", "support"), demo / "support.mbox", b"one more thing"


def _deliver_maildir(demo):
    path = demo / "sales-maildir" / "new" / "1763812740.M9P9.northwind"
    path.write_bytes(b"From: Alice <alice@example.com>\nTo: sales@northwind.example\nSubject: a late one\n\nHi\n")
    return ("sales_inbox", "sales_inbox"), path, b"a late one"


WRITERS = [_append_csv, _append_jsonl, _append_mbox, _deliver_maildir]


@pytest.mark.parametrize("write", WRITERS, ids=["csv", "jsonl", "mbox", "maildir"])
def test_a_record_written_between_plan_and_erase_is_reported(demo_dir, demo_inventory, quick, write):
    """A concurrent writer adds a record of the subject after the search: the erase leaves it (it was not
    planned) and verify must find it, although the erase rewrote the file."""
    plan = prepare(demo_inventory, [ALICE, BOB], now=NOW)
    later()
    where, path, marker = write(demo_dir / "demo")
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    assert marker in path.read_bytes().lower()  # the new record is really still there
    assert where not in settle.settled(demo_inventory, plan, result.run)
    remaining = by_place(result.remaining)
    assert remaining[where]["status"] == "not erased" and remaining[where]["count"] == 1
    assert result.remaining == full_search(demo_inventory, plan)
    assert not result.ok


@pytest.mark.parametrize("write", WRITERS, ids=["csv", "jsonl", "mbox", "maildir"])
def test_a_record_written_after_the_erase_is_reported(demo_dir, demo_inventory, quick, write):
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    run = execute(demo_inventory, plan, operator="test", now=NOW)
    later()
    where, path, marker = write(demo_dir / "demo")
    remaining = verify(demo_inventory, plan, run)
    assert by_place(remaining)[where]["status"] == "not erased"
    assert marker in path.read_bytes().lower()
    assert remaining == full_search(demo_inventory, plan)


def test_a_same_size_change_with_the_old_modification_time_is_seen(demo_dir, demo_inventory, quick):
    """Only the change time tells: a row rewritten in place (same size, mtime put back) to hold Alice's
    address after the search."""
    path = demo_dir / "demo" / "newsletter.csv"
    before = os.stat(path)
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    data = path.read_bytes()
    other = next(line for line in data.split(b"\n") if line.startswith(b"xzoe@example.org.uk,"))
    address = other.split(b",")[0]
    new = b"alice@example.com".ljust(len(address), b" ")  # trimmed when compared
    later()
    path.write_bytes(data.replace(other, other.replace(address, new, 1)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    assert ("newsletter", "newsletter") not in settle.settled(demo_inventory, plan, result.run)
    assert by_place(result.remaining)[("newsletter", "newsletter")]["status"] == "not erased"
    assert result.remaining == full_search(demo_inventory, plan)


def test_a_source_that_fails_is_reported(demo_dir, demo_inventory, quick):
    plan = prepare(demo_inventory, [ALICE, BOB], now=NOW)
    os.unlink(demo_dir / "demo" / "usage.jsonl")
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    remaining = by_place(result.remaining)
    assert remaining[("telemetry", "telemetry")]["status"] == "failed"
    assert result.remaining == full_search(demo_inventory, plan)
    assert ("telemetry", "telemetry") not in settle.settled(demo_inventory, plan, result.run)


def test_an_untouched_file_without_records_is_settled_until_it_changes(demo_dir, demo_inventory, quick):
    """Carol is in no file: verify need not read them again, unless one changed since the search."""
    carol = [Identifier("email", "carol.nobody@example.org")]
    plan = prepare(demo_inventory, [carol], now=NOW)
    searched = FILES - {("push", "push")}  # keyed by customer_id only: not searched for an address
    assert settle.settled(demo_inventory, plan, None) == searched
    later()
    with open(demo_dir / "demo" / "newsletter.csv", "a") as handle:
        handle.write("carol.nobody@example.org,Carol,Nobody,1,2026-11-22 11:59:00,192.0.2.7,,subscribed,,198,\n")
    assert settle.settled(demo_inventory, plan, None) == searched - {("newsletter", "newsletter")}
    remaining = verify(demo_inventory, plan)
    assert by_place(remaining)[("newsletter", "newsletter")]["count"] == 1
    assert remaining == full_search(demo_inventory, plan)


def test_files_changed_a_moment_ago_are_read_again(demo_dir, demo_inventory, monkeypatch):
    """The racy rule: a state younger than RACY_SECONDS could hide a write in the same clock tick (here
    every state is that young: the demo was written a moment ago)."""
    monkeypatch.setattr(settle, "RACY_FINE_SECONDS", 60.0)
    monkeypatch.setattr(settle, "RACY_SECONDS", 60.0)
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    assert settle.settled(demo_inventory, plan, result.run) == set()
    assert result.remaining == full_search(demo_inventory, plan)


def test_the_racy_window_is_short_only_where_timestamps_keep_sub_millisecond_digits(tmp_path):
    second = 1_000_000_000
    taken = 1_700_000_000 * second + 500_000_000
    fine = taken - 300_000_000 + 123  # 0.3 s old, with nanoseconds
    assert not settle.racy(fine, taken)
    assert settle.racy(taken - 50_000_000 + 7, taken)  # 0.05 s old: within the kernel's tick and margin
    assert settle.racy(taken - 300_000_000, taken)  # 0.3 s old on whole milliseconds: maybe a coarse clock
    assert settle.racy(taken - 500_000_000, taken)  # whole seconds (ext3, FAT): 2 s
    assert not settle.racy(taken - 2_100_000_000, taken)
    path = tmp_path / "f"
    path.write_text("x")
    if os.stat(path).st_ctime_ns % 1_000_000:  # this filesystem keeps fine timestamps
        time.sleep(0.15)
        assert settle.file_state(SimpleNamespace(path=path)) is not None  # counts a moment after a write


def test_mbox_erase_finds_planned_messages_in_place(demo_dir, demo_inventory, monkeypatch):
    """The erase gets the planned byte ranges (the journal keeps only their hashes), so it does not
    parse the whole mailbox to find them."""
    from dsarctl.connectors.mail import MboxConnector

    plan = prepare(demo_inventory, [ALICE, BOB], now=NOW)

    def no_full_read(self, collection):
        raise AssertionError("the erase read every message")

    monkeypatch.setattr(MboxConnector, "messages", no_full_read)
    run = execute(demo_inventory, plan, operator="test", now=NOW)
    unit = next(u for u in run.units if u.system == "support")
    assert unit.status == "done" and unit.outcomes["support"].deleted == 2
    assert b"alice@example.com" not in (demo_dir / "demo" / "support.mbox").read_bytes().lower()


def test_a_rewritten_file_is_settled_by_its_state_after_the_rename_without_reading_it(
        demo_dir, demo_inventory, quick, monkeypatch):
    """The state noted right after the erase renamed the new file in shows it unchanged: no hash of it."""
    hashed: list = []
    monkeypatch.setattr(settle, "sha256_file", lambda path: hashed.append(path) or "x")
    plan = prepare(demo_inventory, [ALICE, BOB], now=NOW)
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    written = {c for u in result.run.units for c in u.written}
    assert {"newsletter", "support", "telemetry", "push"} <= written
    assert settle.settled(demo_inventory, plan, result.run) == ERASED_FILES
    assert hashed == []
    assert result.remaining == full_search(demo_inventory, plan)


def test_a_same_size_change_after_the_rename_with_the_old_modification_time_is_seen(demo_dir, demo_inventory, quick):
    """After the erase: a row rewritten in place to hold Alice's address, same size, mtime put back."""
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    run = execute(demo_inventory, plan, operator="test", now=NOW)
    path = demo_dir / "demo" / "newsletter.csv"
    before = os.stat(path)
    data = path.read_bytes()
    other = next(line for line in data.split(b"\n") if line.startswith(b"xzoe@example.org.uk,"))
    address = other.split(b",")[0]
    later()
    path.write_bytes(data.replace(other, other.replace(address, b"alice@example.com".ljust(len(address), b" "), 1)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    remaining = verify(demo_inventory, plan, run)
    assert by_place(remaining)[("newsletter", "newsletter")]["status"] == "not erased"
    assert remaining == full_search(demo_inventory, plan)


def test_a_mailbox_read_in_two_rounds_in_a_row_keeps_one_state_per_read(tmp_path, quick, monkeypatch):
    """Round 1 finds a second address in the CRM, so round 2 reads the mailbox again while round 1's
    read of it waits to be taken (search.EARLY_ROUNDS): round 1's read is taken first, so every read has
    its own before/after states and the mailbox, unchanged, still counts as read cleanly."""
    from dsarctl import search

    from helpers import load

    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, email2 TEXT)")
    db.execute("INSERT INTO customers VALUES (1, 'a@example.com', 'b@example.com'), (2, 'c@example.com', NULL)")
    db.commit()
    db.close()
    (tmp_path / "mail.mbox").write_text(
        "From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nSubject: one\n\nhi\n\n"
        "From b@example.com Mon Jan  1 00:00:00 2024\nFrom: b@example.com\nSubject: two\n\nhi\n\n"
        "From c@example.com Mon Jan  1 00:00:00 2024\nFrom: c@example.com\nSubject: three\n\nhi\n")
    inv = load(tmp_path, """
crm:
  connector: sql
  url: sqlite:///crm.db
  collections:
    customers:
      identities: {email: [email, email2], customer_id: id}
      erase: delete
mail:
  connector: mbox
  path: mail.mbox
  identities: {email: [from]}
  erase: delete
""")
    time.sleep(0.2)  # older than the racy window of fine timestamps (`quick` sets both windows to 0 anyway)
    plans = {}
    for early in (True, False):
        monkeypatch.setattr(search, "EARLY_ROUNDS", early)
        plan = prepare(inv, [[Identifier("email", "a@example.com")]], now=NOW)
        plans[early] = plan
        assert sorted(s.location for s in plan.steps if s.system == "mail") == ["mail.mbox:1", "mail.mbox:7"]
        assert plan.search.states[("mail", "mail")] is not None  # unchanged across both reads
    assert plans[True].to_dict() == plans[False].to_dict()
    assert plans[True].search.states == plans[False].search.states
