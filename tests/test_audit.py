"""The audit log: migrations, the hash chain and what verify catches, concurrency, the install key."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dsarctl.audit import GENESIS, AuditLog, event_hash, migrations
from dsarctl.errors import DsarError, UsageError
from dsarctl.keys import load_or_create_key, keyed_hash

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def log(tmp_path):
    audit = AuditLog.open(tmp_path / "state" / "audit.db")
    yield audit
    audit.close()


def fill(log: AuditLog, n: int = 6) -> None:
    for i in range(n):
        log.append("note", {"i": i}, request_id="R-2026-0001", operator="ann", at=at(i))


def tampered(log: AuditLog, tmp_path: Path, *statements: str) -> AuditLog:
    """A copy of the log with `statements` applied behind dsarctl's back."""
    copy = tmp_path / "copy" / "audit.db"
    copy.parent.mkdir(exist_ok=True)
    dst = sqlite3.connect(copy)
    log.db.conn.backup(dst)
    for sql in statements:
        dst.execute(sql)
    dst.commit()
    dst.close()
    return AuditLog.open(copy)


# --- opening and migrations -----------------------------------------------------------------------------


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "audit.db"
    AuditLog.open(path).close()
    log = AuditLog.open(path)
    applied = [m.name for m in migrations.applied(log.db)]
    assert applied == ["m001_initial", "m002_log_identity", "m003_request_links", "m004_events_by_kind"]
    assert migrations.pending(log.db) == []
    assert {"events", "chain_head", "requests", "runs", "tasks", "suppressions", "erasures", "log_identity"} <= set(
        log.db.table_names())
    assert len(log.log_id()) == 32 and log.log_id() == AuditLog.open(path).log_id()  # set once
    assert ["status", "due_date"] in [ix.columns for ix in log.db["requests"].indexes]


def test_a_current_log_opens_and_writes_without_sqlite_utils(tmp_path):
    """find records a run and overdue reads the log on every call: neither pays for sqlite-utils."""
    import subprocess
    import sys

    from dsarctl.audit import schema_is_current

    path = tmp_path / "audit.db"
    conn = sqlite3.connect(path)
    assert not schema_is_current(conn)  # a new file: no migrations table yet
    AuditLog.open(path).close()  # creates the schema (through sqlite-utils Migrations)
    assert schema_is_current(conn)
    conn.close()
    code = ("import sys\n"
            "from datetime import datetime, timezone\n"
            "from dsarctl.audit import AuditLog\n"
            f"log = AuditLog.open({str(path)!r})\n"
            "now = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)\n"
            "log.record_run('find', None, {'total': 0}, operator='ann', at=now)\n"
            "log.add_task(None, 'analytics', operator='ann', at=now)\n"
            "assert log.verify().ok and len(log.runs()) == 1\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlite_utils', 'pluggy')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_log_missing_a_migration_is_migrated_on_open(tmp_path, monkeypatch):
    import dsarctl.audit as audit_module

    path = tmp_path / "audit.db"
    AuditLog.open(path).close()
    applied = []

    def m999_later(db):
        applied.append(db)
        db["later"].create({"id": int}, pk="id")

    monkeypatch.setattr(audit_module, "_MIGRATIONS", [*audit_module._MIGRATIONS, m999_later])
    monkeypatch.setattr(audit_module, "_migration_set", None)
    log = AuditLog.open(path)
    assert len(applied) == 1 and "later" in log.db.table_names()
    assert audit_module.schema_is_current(log.conn)
    log.close()
    AuditLog.open(path).close()
    assert len(applied) == 1  # applied once


def test_open_uses_wal_busy_timeout_and_a_private_directory(tmp_path):
    log = AuditLog.open(tmp_path / "new" / "audit.db")
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_a_file_that_is_not_sqlite_is_one_clear_error(tmp_path):
    bad = tmp_path / "audit.db"
    bad.write_text("this is not a database\n" * 100)
    with pytest.raises(DsarError, match="not a usable audit log"):
        AuditLog.open(bad)


def test_times_must_be_aware(log):
    with pytest.raises(ValueError, match="no time zone"):
        log.append("note", {}, operator="ann", at=datetime(2026, 3, 2, 9))


# --- the chain ------------------------------------------------------------------------------------------


def test_empty_log_verifies(log):
    result = log.verify()
    assert result.ok and result.checked == 0 and result.head_hash == GENESIS


def test_chain_links_every_event_to_the_previous_one(log):
    fill(log, 4)
    events = list(log.events())
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["prev_hash"] == GENESIS
    for before, after in zip(events, events[1:]):
        assert after["prev_hash"] == before["hash"]
    e = events[2]
    assert e["hash"] == event_hash(e["prev_hash"], 3, e["at"], "note", "R-2026-0001", "ann", {"i": 2})
    assert e["at"] == "2026-03-02T09:02:00+00:00"
    result = log.verify()
    assert result.ok, result.problems
    assert (result.checked, result.head_seq, result.head_hash) == (4, 4, events[-1]["hash"])


def test_events_filter_by_request(log):
    log.append("a", {}, request_id="R-1", operator="ann", at=at(0))
    log.append("b", {}, request_id="R-2", operator="ann", at=at(1))
    assert [e["kind"] for e in log.events("R-2")] == ["b"]


@pytest.mark.parametrize("sql", [
    "UPDATE events SET data = '{\"i\":99}' WHERE seq = 3",
    "UPDATE events SET operator = 'mallory' WHERE seq = 3",
    "UPDATE events SET at = '2026-01-01T00:00:00+00:00' WHERE seq = 3",
    "UPDATE events SET kind = 'other' WHERE seq = 3",
    "UPDATE events SET request_id = 'R-2026-0002' WHERE seq = 3",
    "UPDATE events SET data = 'not json' WHERE seq = 3",
])
def test_verify_names_an_edited_event(log, tmp_path, sql):
    fill(log)
    result = tampered(log, tmp_path, sql).verify()
    assert not result.ok
    assert result.problems == ["event 3: edited: its contents no longer match its hash"]


def test_verify_catches_an_edit_whose_hash_was_recomputed(log, tmp_path):
    fill(log)
    e = next(e for e in log.events() if e["seq"] == 3)
    forged = event_hash(e["prev_hash"], 3, e["at"], e["kind"], e["request_id"], e["operator"], {"i": 99})
    result = tampered(log, tmp_path,
                      f"UPDATE events SET data = '{{\"i\":99}}', hash = '{forged}' WHERE seq = 3").verify()
    assert result.problems == [
        "event 4: does not link to event 3 (an event between them was removed, or event 3 was rewritten)"]


def test_verify_catches_a_deleted_middle_event(log, tmp_path):
    fill(log)
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq = 3").verify()
    assert result.problems == ["event 3: missing (deleted)"]
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq IN (2, 3, 4)").verify()
    assert result.problems == ["events 2..4: missing (deleted)"]


def test_verify_catches_a_deleted_first_event(log, tmp_path):
    fill(log)
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq = 1").verify()
    assert result.problems == ["event 1: missing (deleted)"]


def test_verify_catches_deleted_last_events(log, tmp_path):
    fill(log)
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq = 6").verify()
    assert result.problems == ["event 6: missing (deleted from the end of the log)"]
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq >= 5").verify()
    assert result.problems == ["events 5..6: missing (deleted from the end of the log)"]
    result = tampered(log, tmp_path, "DELETE FROM events").verify()
    assert result.problems == ["events 1..6: missing (deleted from the end of the log)"]


def test_verify_catches_a_deleted_and_renumbered_event(log, tmp_path):
    fill(log)
    result = tampered(log, tmp_path, "DELETE FROM events WHERE seq = 3",
                      "UPDATE events SET seq = seq - 1 WHERE seq > 3").verify()
    assert not result.ok
    assert result.problems[0] == "event 3: edited: its contents no longer match its hash"
    assert "event 5: missing (deleted from the end of the log)" not in result.problems  # head says 6
    assert result.problems[-1] == "event 6: missing (deleted from the end of the log)"


def test_verify_catches_reordered_events(log, tmp_path):
    fill(log)
    swap = ["UPDATE events SET seq = -2 WHERE seq = 2", "UPDATE events SET seq = 2 WHERE seq = 5",
            "UPDATE events SET seq = 5 WHERE seq = -2"]
    result = tampered(log, tmp_path, *swap).verify()
    assert result.problems == ["event 2: reordered: it was written as event 5",
                               "event 5: reordered: it was written as event 2"]


def test_verify_catches_swapped_neighbours(log, tmp_path):
    fill(log)
    swap = ["UPDATE events SET seq = -3 WHERE seq = 3", "UPDATE events SET seq = 3 WHERE seq = 4",
            "UPDATE events SET seq = 4 WHERE seq = -3"]
    result = tampered(log, tmp_path, *swap).verify()
    assert result.problems == ["event 3: reordered: it was written as event 4",
                               "event 4: reordered: it was written as event 3"]


def test_verify_catches_swapping_the_last_event(log, tmp_path):
    fill(log)
    swap = ["UPDATE events SET seq = -1 WHERE seq = 1", "UPDATE events SET seq = 1 WHERE seq = 6",
            "UPDATE events SET seq = 6 WHERE seq = -1"]
    result = tampered(log, tmp_path, *swap).verify()
    assert "event 1: reordered: it was written as event 6" in result.problems
    assert "event 6: reordered: it was written as event 1" in result.problems
    assert "event 6: does not match the chain head (the last event was rewritten)" in result.problems


def test_verify_catches_a_bad_first_link(log, tmp_path):
    fill(log)
    e = next(log.events())
    bad = "f" * 64
    forged = event_hash(bad, 1, e["at"], e["kind"], e["request_id"], e["operator"], e["data"])
    result = tampered(log, tmp_path,
                      f"UPDATE events SET prev_hash = '{bad}', hash = '{forged}' WHERE seq = 1").verify()
    assert result.problems[0] == "event 1: bad first link: it does not start from the genesis hash"


def test_verify_catches_a_missing_or_stale_chain_head(log, tmp_path):
    fill(log)
    assert tampered(log, tmp_path, "DELETE FROM chain_head").verify().problems == [
        "chain head missing: the log's last event cannot be confirmed"]
    assert tampered(log, tmp_path, "UPDATE chain_head SET seq = 4").verify().problems == [
        "events 5..6 were added outside dsarctl (the chain head is event 4)"]


# --- rows recorded by events ----------------------------------------------------------------------------


def test_runs_tasks_suppressions_and_erasures(log):
    summary = {"systems": {"crm": {"status": "ok", "records": 2, "sha256": "ab" * 32}}}
    run = log.record_run("export", "R-2026-0001", summary, operator="ann", at=at(0))
    assert log.runs("R-2026-0001")[0]["summary"] == summary
    assert log.runs()[0]["id"] == run
    with pytest.raises(ValueError):
        log.record_run("delete", None, {}, operator="ann", at=at(0))

    task = log.add_task("R-2026-0001", "analytics", processor="Google", instructions="Submit a deletion",
                        operator="ann", at=at(1))
    assert [t["id"] for t in log.open_tasks()] == [task]
    done = log.confirm_task(task, operator="bob", at=at(2), note="ticket 42")
    assert (done["status"], done["confirmed_by"], done["confirmed_at"]) == (
        "done", "bob", "2026-03-02T09:02:00+00:00")
    assert log.open_tasks() == []
    with pytest.raises(UsageError, match="already confirmed by bob"):
        log.confirm_task(task, operator="bob", at=at(3))
    with pytest.raises(UsageError, match="unknown task id '99'"):
        log.confirm_task(99, operator="bob", at=at(3))

    assert log.add_suppressions(["h1", "h2"], "newsletter", "R-2026-0001", kind="email",
                                operator="ann", at=at(4)) == 2
    assert log.add_suppressions(["h2", "h3"], "newsletter", None, operator="ann", at=at(5)) == 1
    assert log.add_suppressions(["h2"], "newsletter", None, operator="ann", at=at(5)) == 0
    assert log.is_suppressed("h1", "newsletter") and log.is_suppressed("h1")
    assert not log.is_suppressed("h1", "crm") and not log.is_suppressed("zz")

    log.record_erasure("R-2026-0001", ["x2", "x1"], {"crm.customers": "delete"}, operator="ann", at=at(6))
    (erasure,) = log.erasures()
    assert erasure["identifier_hashes"] == ["x1", "x2"] and erasure["plan"] == {"crm.customers": "delete"}

    kinds = [e["kind"] for e in log.events()]
    assert kinds == ["run.export", "task.added", "task.confirmed", "suppression.added", "suppression.added",
                     "erasure.recorded"]
    assert log.verify().ok


def test_verify_catches_rows_changed_without_an_event(log, tmp_path):
    task = log.add_task(None, "analytics", operator="ann", at=at(0))
    log.add_suppressions(["h1", "h2"], "newsletter", None, operator="ann", at=at(1))
    log.record_run("find", None, {"crm": {"status": "ok", "records": 1}}, operator="ann", at=at(2))
    edited = tampered(log, tmp_path, f"UPDATE tasks SET status = 'done' WHERE id = {task}")
    assert edited.verify().problems == [
        f"tasks {task}: differs from its last logged state (edited outside dsarctl)"]
    assert tampered(log, tmp_path, "DELETE FROM runs").verify().problems == [
        "runs 1: deleted (the event log records it)"]
    assert tampered(log, tmp_path, "INSERT INTO tasks (system, status, created_at, created_by) "
                    "VALUES ('x', 'open', 'now', 'eve')").verify().problems == [
        "tasks 2: not in the event log (written outside dsarctl)"]
    assert tampered(log, tmp_path, "DELETE FROM suppressions WHERE hash = 'h1'").verify().problems == [
        "suppressions: 1 entry of system newsletter deleted (erased data could be re-imported)"]
    added = tampered(log, tmp_path, "INSERT INTO suppressions VALUES ('h9', NULL, 'crm', NULL, 'now')")
    assert added.verify().problems == ["suppressions: 1 entry not in the event log (added outside dsarctl)"]


def test_a_failed_write_leaves_no_event(log):
    with pytest.raises(RuntimeError):
        with log.transaction():
            log.append("note", {}, operator="ann", at=at(0))
            raise RuntimeError("boom")
    assert list(log.events()) == [] and log.verify().ok


# --- two writers ----------------------------------------------------------------------------------------


def _writer(path: str, name: str, n: int, start) -> None:
    log = AuditLog.open(Path(path))
    start.wait()
    for i in range(n):
        log.append("note", {"i": i}, operator=name, at=at(i))
    log.close()


def test_two_processes_appending_at_once_keep_the_chain(tmp_path):
    path = tmp_path / "audit.db"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(path), name, 200, start)) for name in ("ann", "bob")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = AuditLog.open(path)
    events = list(log.events())
    assert len(events) == 400
    assert [e["seq"] for e in events] == list(range(1, 401))
    assert sorted(e["operator"] for e in events).count("ann") == 200
    result = log.verify()
    assert result.ok, result.problems
    assert result.checked == 400


def test_verify_while_another_process_appends_sees_one_snapshot(tmp_path):
    path = tmp_path / "audit.db"
    log = AuditLog.open(path)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    writer = ctx.Process(target=_writer, args=(str(path), "bob", 300, start))
    writer.start()
    start.set()
    results = []
    while writer.is_alive():
        results.append(log.verify())
    writer.join(60)
    results.append(log.verify())
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok][:1]
    assert results[-1].checked == 300


def _opener(path: str, start) -> None:
    start.wait()
    AuditLog.open(Path(path)).close()


def test_processes_creating_a_new_log_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "fresh" / "audit.db"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_opener, args=(str(path), start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert [m.name for m in migrations.applied(AuditLog.open(path).db)] == [
        "m001_initial", "m002_log_identity", "m003_request_links", "m004_events_by_kind"]


# --- the install key ------------------------------------------------------------------------------------


def test_key_is_created_once_private_and_stable(tmp_path):
    key = load_or_create_key(tmp_path / "state")
    assert len(key) == 32
    path = tmp_path / "state" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "state") == key
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["secret.key"]  # no temporary left over


def test_a_damaged_key_is_an_error_not_a_new_key(tmp_path):
    (tmp_path / "secret.key").write_bytes(b"short")
    with pytest.raises(DsarError, match="must be 32 bytes"):
        load_or_create_key(tmp_path)


def _key_worker(directory: str, start, out) -> None:
    start.wait()
    out.put(load_or_create_key(Path(directory)).hex())


def test_racing_processes_get_the_same_key(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_key_worker, args=(str(tmp_path / "k"), start, out)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    keys = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(60)
    assert len(keys) == 1
    assert bytes.fromhex(keys.pop()) == (tmp_path / "k" / "secret.key").read_bytes()


def test_keyed_hash():
    key = bytes(32)
    h = keyed_hash(key, "email", "alice@example.com")
    assert h == keyed_hash(key, "email", "alice@example.com") and len(h) == 64
    assert h != keyed_hash(key, "customer_id", "alice@example.com")
    assert h != keyed_hash(b"\x01" * 32, "email", "alice@example.com")
    assert h == hmac.new(key, b"email:alice@example.com", hashlib.sha256).hexdigest()


def test_umask_does_not_widen_the_key(tmp_path):
    old = os.umask(0)
    try:
        load_or_create_key(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_a_log_locked_by_another_writer_is_one_clear_error(tmp_path, monkeypatch):
    import dsarctl.audit as audit_module

    path = tmp_path / "audit.db"
    holder = AuditLog.open(path)
    monkeypatch.setattr(audit_module, "BUSY_TIMEOUT_S", 0)
    waiter = AuditLog.open(path)
    waiter.db.conn.execute("PRAGMA busy_timeout = 100")
    with holder.transaction():
        holder.append("note", {}, operator="ann", at=at(0))
        with pytest.raises(DsarError, match="audit log stayed locked"):
            waiter.append("note", {}, operator="bob", at=at(1))
    waiter.append("note", {}, operator="bob", at=at(1))
    assert [e["operator"] for e in waiter.events()] == ["ann", "bob"] and waiter.verify().ok


def test_key_without_hard_links(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise PermissionError("operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    key = load_or_create_key(tmp_path)
    assert load_or_create_key(tmp_path) == key and len(key) == 32
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
