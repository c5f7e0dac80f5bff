"""erase on the demo company (SQLite, CSV, JSONL, mbox, Maildir): planned changes happen, nothing else."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from dsarctl.errors import RefusedError, SourceError
from dsarctl.erase import REDACTED, Masker, carry_out, prepare
from dsarctl.identity import Identifier
from dsarctl.keys import keyed_hash

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ALICE = [Identifier("email", "alice@example.com")]


def snapshot(demo_dir: Path) -> dict:
    """Every source's content: file bytes, Maildir files, and every SQL table's rows."""
    demo = demo_dir / "demo"
    out: dict = {}
    for name in ("newsletter.csv", "usage.jsonl", "support.mbox", "push_devices.csv"):
        out[name] = (demo / name).read_bytes()
    for path in sorted((demo / "sales-maildir").rglob("*")):
        if path.is_file():
            out[str(path.relative_to(demo))] = path.read_bytes()
    for db in ("crm.db", "orders.db"):
        conn = sqlite3.connect(demo / db)
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            out[f"{db}:{table}"] = {r[0]: dict(zip(cols, r)) for r in conn.execute(f"SELECT * FROM {table}")}
        conn.close()
    return out


def run_erase(inv, subjects=(ALICE,)):
    plan = prepare(inv, list(subjects), now=NOW)
    return plan, carry_out(inv, plan, operator="test", now=NOW)


def test_dry_run_changes_nothing(cli, demo_dir):
    before = snapshot(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--dry-run", "--json")
    assert r.code == 0, r
    data = r.json()
    assert data["dry_run"] is True
    actions = {(c["system"], c["collection"]): (c["action"], c["count"]) for c in data["plan"]["collections"]}
    assert actions[("crm", "customers")] == ("delete", 1)
    assert actions[("crm", "tickets")] == ("anonymize", 2)
    assert actions[("orders", "orders")] == ("retain", 2)
    assert actions[("newsletter", "newsletter")] == ("delete", 1)
    assert [t["system"] for t in data["plan"]["tasks"]] == ["analytics"]
    assert snapshot(demo_dir) == before
    assert not (demo_dir / ".dsarctl" / "journal").exists()


def test_refuses_without_terminal_and_yes(cli, demo_dir):
    before = snapshot(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com")
    assert r.code == 2
    assert "--yes" in r.err and "Traceback" not in r.err
    assert snapshot(demo_dir) == before


def test_ambiguous_identity_refuses_until_named(cli, demo_dir, demo_inventory):
    before = snapshot(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "dan@example.com", "--yes")
    assert r.code == 2
    assert "1045, 1046" in r.err and "--id customer_id:" in r.err
    assert snapshot(demo_dir) == before
    with pytest.raises(RefusedError):
        prepare(demo_inventory, [[Identifier("email", "dan@example.com")]], now=NOW)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "dan@example.com", "--id", "customer_id:1045",
            "--yes", "--json")
    assert r.code == 0, r


def test_erase_alice_everywhere_others_intact(demo_dir, demo_inventory):
    from dsarctl.search import find_subject

    before = snapshot(demo_dir)
    found = find_subject(demo_inventory, ALICE)
    keys = {(r.system, r.collection): {r.key for r in found.systems[r.system].collections[r.collection].records}
            for r in found.records()}
    lines = {name: (demo_dir / "demo" / name).read_bytes().splitlines(keepends=True)
             for name in ("newsletter.csv", "usage.jsonl", "push_devices.csv")}
    plan, result = run_erase(demo_inventory)
    assert result.ok, result.problems
    after = snapshot(demo_dir)

    # SQL: Alice's customer row deleted, everyone else's rows identical
    customers_before, customers_after = before["crm.db:customers"], after["crm.db:customers"]
    assert 1042 not in customers_after
    assert customers_after == {k: v for k, v in customers_before.items() if k != 1042}
    # tickets anonymised as planned, others identical
    ticket_ids = {k[0] for k in keys[("crm", "tickets")]}
    for tid, row in after["crm.db:tickets"].items():
        if tid in ticket_ids:
            assert row["body"] == REDACTED and row["subject"] == REDACTED and row["customer_id"] is None
            assert row["created_at"] == before["crm.db:tickets"][tid]["created_at"]
        else:
            assert row == before["crm.db:tickets"][tid]
    # orders retained, phone masked, nothing else changed
    order_ids = {k[0] for k in keys[("orders", "orders")]}
    for oid, row in after["orders.db:orders"].items():
        expected = dict(before["orders.db:orders"][oid])
        if oid in order_ids:
            expected["phone"] = None
        assert row == expected
    assert after["orders.db:order_items"] == before["orders.db:order_items"]

    # files: exactly the subject's records removed, every other line byte for byte
    def expected_without(name, line_numbers):  # file records are known by the line they start on
        kept = [line for i, line in enumerate(lines[name], 1) if i not in line_numbers]
        return b"".join(kept)

    assert after["newsletter.csv"] == expected_without("newsletter.csv", keys[("newsletter", "newsletter")])
    assert after["push_devices.csv"] == expected_without("push_devices.csv", keys[("push", "push")])
    assert after["usage.jsonl"] == expected_without("usage.jsonl", keys[("telemetry", "telemetry")])
    # mail: Alice's own messages deleted; one shared with other people (Bob; Erin) redacted in place
    actions = {(s.system, tuple(s.key) if isinstance(s.key, list) else s.key): s.action for s in plan.steps
               if s.system in ("support", "sales_inbox")}
    mbox = before["support.mbox"]
    expected = bytearray()
    position = 0
    redacted = []
    for start, end in sorted(keys[("support", "support")]):
        expected += mbox[position:start]
        if actions[("support", (start, end))] == "redact":
            redacted.append(mbox[start:end])
            expected += b"\0REDACTED\0"
        position = end
    expected += mbox[position:]
    assert len(redacted) == 1
    pattern = re.escape(bytes(expected)).replace(re.escape(b"\0REDACTED\0"), b"(.*?)")
    match = re.fullmatch(pattern, after["support.mbox"], re.S)  # every other byte as it was
    assert match is not None
    for old, new in zip(redacted, match.groups()):
        _assert_alice_taken_out(old, new)
    gone = {f"sales-maildir/{k}" for k in keys[("sales_inbox", "sales_inbox")]
            if actions[("sales_inbox", k)] == "delete"}
    changed = {f"sales-maildir/{k}" for k in keys[("sales_inbox", "sales_inbox")]} - gone
    assert len(changed) == 1
    assert {k: v for k, v in before.items() if k.startswith("sales-maildir/") and k not in gone | changed} == \
        {k: v for k, v in after.items() if k.startswith("sales-maildir/") and k not in changed}
    for name in changed:
        _assert_alice_taken_out(before[name], after[name])

    # the files still parse, and the subject is no longer found except where retained
    remaining = {(r["system"], r["collection"]): r for r in result.remaining}
    assert remaining[("orders", "orders")]["status"] == "retained"
    assert remaining[("orders", "orders")]["until"] == "2032-07-18"
    assert remaining[("analytics", None)]["status"] == "manual"
    assert {k for k, r in remaining.items() if r["status"] not in ("retained", "manual")} == set()


def _assert_alice_taken_out(old: bytes, new: bytes) -> None:
    """A shared message after Alice's erasure: her address is gone from its header, its body unchanged."""
    head, _, body = new.partition(b"\n\n")
    assert b"alice@example.com" not in head.lower() and b"example, alice" not in head.lower()
    assert body == old.partition(b"\n\n")[2]
    assert head != old.partition(b"\n\n")[0]


def test_retained_until_is_the_latest_computed_date(demo_inventory):
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    orders = next(c for c in plan.collections if c.collection == "orders")
    dates = sorted(s.until for s in orders.steps)
    assert orders.until == dates[-1]
    assert all(isinstance(d, date) for d in dates)


def test_rerun_is_a_noop_success(cli, demo_dir):
    inv = str(demo_dir / "inventory.yaml")
    assert cli("-i", inv, "erase", "alice@example.com", "--yes").code == 0
    before = snapshot(demo_dir)
    r = cli("-i", inv, "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    data = r.json()
    assert data["run"] is None and data["status"] == "ok"
    assert snapshot(demo_dir) == before


def test_erase_cli_output(cli, demo_dir):
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert "crm.customers: 1 deleted, 0 masked" in r.out
    assert "retained until 2032-07-18" in r.out
    assert "manual task open" in r.out


def test_unparseable_file_is_refused_and_others_still_done(cli, demo_dir):
    usage = demo_dir / "demo" / "usage.jsonl"
    usage.write_bytes(usage.read_bytes() + b'{"account": 1042, "broken\n')
    broken = usage.read_bytes()
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert usage.read_bytes() == broken
    assert "usage.jsonl:" in r.out  # the error names the line
    assert 1042 not in snapshot(demo_dir)["crm.db:customers"]


def test_file_connector_refuses_to_rewrite_a_file_that_does_not_parse(demo_dir, demo_inventory):
    from dsarctl.connectors import open_connector
    from dsarctl.sources import EraseContext, EraseTarget

    system = demo_inventory.systems["newsletter"]
    coll = system.collections["newsletter"]
    connector = open_connector(system, demo_inventory)
    from dsarctl.filelock import text_digest

    digests = {key: text_digest(raw) for key, _line, _data, raw in connector.entries(coll) if key == 2}  # line 2
    path = coll.path
    path.write_bytes(path.read_bytes() + b'a@b.c,"unterminated\n')
    content = path.read_bytes()
    with pytest.raises(SourceError) as err:
        connector.erase(coll, [EraseTarget(2, digests[2], "delete")], EraseContext(Masker(b"k" * 32)))
    assert "newsletter.csv:" in str(err.value)
    assert path.read_bytes() == content


def test_file_permissions_are_kept(demo_dir, demo_inventory):
    path = demo_dir / "demo" / "newsletter.csv"
    os.chmod(path, 0o640)
    run_erase(demo_inventory)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert not [p for p in path.parent.iterdir() if "dsarctl-tmp" in p.name]


def test_changed_file_is_not_mis_edited(demo_dir, demo_inventory):
    """A row planned for deletion that changed before the erase is left alone (content hash differs)."""
    plan = prepare(demo_inventory, [ALICE], now=NOW)
    path = demo_dir / "demo" / "newsletter.csv"
    text = path.read_text()
    path.write_text(text.replace(",Alice,Example,", ",Alicia,Example,"))
    changed = path.read_bytes()
    result = carry_out(demo_inventory, plan, operator="test", now=NOW)
    assert path.read_bytes() == changed
    unit = next(u for u in result.run.units if u.system == "newsletter")
    assert unit.outcomes["newsletter"].missing == 1
    # the verification search finds the changed row and says so
    assert any(r["system"] == "newsletter" and r["status"] == "not erased" for r in result.remaining)


def test_journal_and_audit_hold_no_identifiers(demo_dir, demo_inventory):
    run_erase(demo_inventory)
    folder = demo_dir / ".dsarctl"
    texts = [p.read_text() for p in (folder / "journal").glob("*.jsonl")]
    from dsarctl.audit import AuditLog

    with AuditLog.open(folder / "audit.db") as audit:
        texts += [json.dumps(e["data"]) for e in audit.events()]
        erasures = audit.erasures()
    blob = "\n".join(texts).lower()
    # keyed hashes and run ids are random hex: "1042" turns up in one now and then
    blob = re.sub(r"[0-9a-f]{32,}|\d{8}t\d{6}-[0-9a-f]{8}", "<random>", blob)
    for secret in ("alice@example.com", "alice example", "1042", "+442079460958"):
        assert secret not in blob
    key = (folder / "secret.key").read_bytes()
    assert keyed_hash(key, "email", "alice@example.com") in erasures[-1]["identifier_hashes"]


def test_batch_rewrites_each_file_once(cli, demo_dir, monkeypatch):
    import dsarctl.filelock as filelock

    calls = []
    real = filelock.atomic_replace
    monkeypatch.setattr(filelock, "atomic_replace", lambda path, *a, **k: calls.append(Path(path).name) or real(path, *a, **k))
    batch = demo_dir / "batch.txt"
    batch.write_text("alice@example.com\n# comment\nerin@example.com\n\nbob@example.net\n")
    before = snapshot(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "--batch", str(batch), "--yes", "--json")
    assert r.code == 0, r
    assert calls.count("newsletter.csv") == 1
    newsletter = (demo_dir / "demo" / "newsletter.csv").read_text().lower()
    assert "alice@" not in newsletter and "erin@" not in newsletter and "bob@" not in newsletter
    after = snapshot(demo_dir)
    assert set(after["crm.db:customers"]) == set(before["crm.db:customers"]) - {1042, 1043}


@pytest.mark.parametrize("content, message", [
    (b"", "no subjects in the batch file"),
    (b"alice@example.com\n\xff\xfe\n", "the batch file is not UTF-8 text (byte 18)"),
    (b"alice@example.com\nfoo:bar\n", ":2: unknown identifier kind 'foo'"),
])
def test_a_bad_batch_file_is_one_line_exit_2_and_nothing_changes(cli, demo_dir, content, message):
    batch = demo_dir / "batch.txt"
    batch.write_bytes(content)
    before = snapshot(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "--batch", str(batch), "--yes")
    assert r.code == 2, r
    assert message in r.err and len(r.err.strip().splitlines()) == 1 and "internal error" not in r.err
    assert snapshot(demo_dir) == before


def test_a_batch_erases_sql_rows_by_many_keys_a_statement_with_the_same_result_and_counts(
        tmp_path, demo_dir, monkeypatch):
    """Rows keyed by a primary key are deleted and masked 500 keys a statement; a row already gone is
    counted missing, as the row-by-row way counts it."""
    import shutil

    from dsarctl.connectors.sql import SqlConnector
    from dsarctl.erase.apply import execute
    from dsarctl.inventory import load_inventory

    subjects = [ALICE, [Identifier("email", "bob@example.net")], [Identifier("email", "erin@example.com")]]
    results = {}
    for mode in ("batched", "row by row"):
        folder = tmp_path / mode
        shutil.copytree(demo_dir, folder)
        if mode == "row by row":
            monkeypatch.setattr(SqlConnector, "_unique_key", lambda *a: False)
        else:
            real, keyed = SqlConnector._unique_key, []
            monkeypatch.setattr(SqlConnector, "_unique_key",
                                lambda self, coll, *a: keyed.append((coll.name, real(self, coll, *a))) or keyed[-1][1])
        inventory = load_inventory(folder / "inventory.yaml")
        plan = prepare(inventory, subjects, now=NOW)
        customers = [s for s in plan.steps if s.collection == "customers" and s.action == "delete"]
        assert len(customers) == 2
        with sqlite3.connect(folder / "demo" / "crm.db") as db:  # one planned row is gone before the erase
            db.execute("DELETE FROM tickets WHERE customer_id = ?", (customers[0].key[0],))
            db.execute("DELETE FROM customers WHERE id = ?", (customers[0].key[0],))
        run = execute(inventory, plan, operator="test", now=NOW)
        crm = next(u for u in run.units if u.system == "crm")
        results[mode] = ({c: o.to_dict() for c, o in crm.outcomes.items()}, snapshot(folder))
    assert results["batched"] == results["row by row"]
    assert {("customers", True), ("tickets", True)} <= set(keyed)  # the batched delete and masking ran
    outcomes = results["batched"][0]
    assert outcomes["customers"]["missing"] == 1 and outcomes["customers"]["deleted"] == 1
    assert outcomes["tickets"]["missing"] >= 1 and outcomes["tickets"]["masked"] >= 1


def test_masker():
    m = Masker(b"k" * 32)
    h = m.value("hash", "alice@example.com")
    assert h == m.value("hash", "alice@example.com") and len(h) == 64
    assert m.value("hash", h) == h  # idempotent: a re-run does not hash a hash
    assert m.value("redact", "x") == REDACTED and m.value("null", "x") is None
    assert m.mask({"user": {"email": "a@b.c", "n": 1}, "tags": [{"ip": "1"}, {"ip": "2"}]},
                  {"user.email": "redact", "tags.ip": "null"}) == \
        {"user": {"email": REDACTED, "n": 1}, "tags": [{"ip": None}, {"ip": None}]}


def test_masking_top_level_fields_copies_shallowly_and_changes_nothing_in_place():
    import copy

    m = Masker(b"k" * 32)
    data = {"email": "a@b.c", "tags": ["x", "y"], "meta": {"ip": "1.2.3.4", "n": [1, 2]}, "n": 7}
    before = copy.deepcopy(data)
    fields = {"email": "hash", "tags": "redact", "meta": "null"}
    out = m.mask(data, fields)
    assert data == before  # nothing changed in place
    assert out == {"email": m.value("hash", "a@b.c"), "tags": [REDACTED, REDACTED], "meta": None, "n": 7}
    assert out["tags"] is not data["tags"]
    # the same as the deep-copying path, which a dotted path takes
    assert m.mask(data, {**fields, "no.such": "null"}) == out
    nested = m.mask(data, {"meta.ip": "redact"})
    assert nested["meta"] == {"ip": REDACTED, "n": [1, 2]} and data == before


def test_mbox_erase_finds_a_message_that_moved_since_the_plan(demo_dir, demo_inventory):
    """mbox targets are first looked for where the plan found them; when the file changed before them
    (offsets moved), every message is read and the target is found by its content hash."""
    import hashlib

    from dsarctl.connectors import open_connector
    from dsarctl.sources import EraseContext, EraseTarget

    system = demo_inventory.systems["support"]
    coll = system.collections["support"]
    connector = open_connector(system, demo_inventory)
    [first, *_] = list(connector.messages(coll))
    start, end = first[0], first[1]
    path = coll.path
    original = path.read_bytes()
    message = original[start:end]
    digest = hashlib.sha256(message).hexdigest()
    extra = b"From new@example.org Mon Mar  2 09:00:00 2026\nFrom: new@example.org\n\nnew\n\n"
    path.write_bytes(extra + original)  # everything moves by len(extra)
    outcome = connector.erase(coll, [EraseTarget([start, end], digest, "delete")], EraseContext(Masker(b"k" * 32)))
    assert outcome.deleted == 1 and outcome.missing == 0
    assert path.read_bytes() == extra + original[:start] + original[end:]
    # in place: found without reading every message
    path.write_bytes(original)
    outcome = connector.erase(coll, [EraseTarget([start, end], digest, "delete")], EraseContext(Masker(b"k" * 32)))
    assert outcome.deleted == 1 and path.read_bytes() == original[:start] + original[end:]


def test_sql_erase_reflects_every_table_before_its_transaction(demo_dir, demo_inventory, monkeypatch):
    """A table reflected inside the erase transaction reads on another connection, which waits for the
    transaction's own SQLite write lock ("database is locked" on large batches): all are reflected first."""
    from dsarctl.connectors import open_connector
    from dsarctl.sources import EraseContext, EraseTarget

    system = demo_inventory.systems["crm"]
    connector = open_connector(system, demo_inventory)
    engine = connector.engine()
    real_begin = engine.begin
    reflected_at_begin = []

    def begin():
        reflected_at_begin.append(set(connector._tables))
        return real_begin()

    monkeypatch.setattr(engine, "begin", begin)
    work = [(coll, [EraseTarget((999_999,), None, "delete")]) for coll in system.collections.values()]
    outcomes = connector.erase_system(work, EraseContext(Masker(b"k" * 32)))
    assert reflected_at_begin == [set(system.collections)]
    assert all(o.missing == 1 for o in outcomes.values())
