"""The workflows as a library caller runs them (no command line in between): the request is attached, the
run is recorded, and the refusals hold, on the demo company.

Oracles: the audit log read with sqlite3, the demo's own databases and files (`test_erase.snapshot`), and
the zip on disk."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dsarctl import workflows
from dsarctl.errors import DsarError, RefusedError
from dsarctl.identity import Identifier

from test_erase import snapshot

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)  # not the clock: the log must say exactly this
AT = "2026-11-22T12:00:00+00:00"
ALICE = [Identifier("email", "alice@example.com")]
BOB = [Identifier("email", "bob@example.net")]
DAN = [Identifier("email", "dan@example.com")]  # two customer accounts: ambiguous


def audit(demo_dir: Path, sql: str, params=()) -> list[tuple]:
    path = demo_dir / ".dsarctl" / "audit.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def runs(demo_dir: Path) -> list[tuple]:
    """(kind, request_id, at, operator, summary) of every recorded run."""
    return [(k, r, a, o, json.loads(s)) for k, r, a, o, s in
            audit(demo_dir, "SELECT kind, request_id, at, operator, summary FROM runs ORDER BY id")]


def requests(demo_dir: Path) -> list[tuple]:
    """(id, type, received_at, created_by, identifiers) of every request."""
    return [(i, t, r, c, json.loads(ids)) for i, t, r, c, ids in
            audit(demo_dir, "SELECT id, type, received_at, created_by, identifiers FROM requests ORDER BY id")]


def events(demo_dir: Path) -> list[str]:
    return [kind for (kind,) in audit(demo_dir, "SELECT kind FROM events ORDER BY seq")]


def customer_ids(demo_dir: Path) -> set[int]:
    conn = sqlite3.connect(demo_dir / "demo" / "crm.db")
    try:
        return {i for (i,) in conn.execute("SELECT id FROM customers")}
    finally:
        conn.close()


def opened(demo_inventory, who=ALICE, type_="access") -> str:
    return workflows.open_request(demo_inventory, who, type_, now=NOW, operator="ann")["id"]


def yes(plan) -> bool:
    return True


# --- export -----------------------------------------------------------------------------------------------

def test_export_writes_the_package_attaches_a_new_request_and_records_the_run(demo_inventory, demo_dir):
    target = demo_dir / "alice.zip"
    run = workflows.export(demo_inventory, ALICE, output=target, now=NOW, operator="ann")

    [(rid, type_, received, by, idents)] = requests(demo_dir)
    assert (type_, received, by) == ("access", AT, "ann") and "email:alice@example.com" in idents
    assert run.request == {"id": rid, "due_date": run.request["due_date"], "created": True}
    manifest = json.loads(zipfile.ZipFile(target).read("manifest.json"))
    assert manifest["request_id"] == rid and manifest["generated_at"] == "2026-11-22T12:00:00Z"
    [(kind, request_id, at, operator, summary)] = runs(demo_dir)
    assert (kind, request_id, at, operator) == ("export", rid, AT, "ann")
    assert summary["zip_sha256"] == hashlib.sha256(target.read_bytes()).hexdigest() == run.package.sha256
    assert summary["total"] == run.find.total > 0
    # the processor dsarctl cannot reach becomes a task of the request
    assert audit(demo_dir, "SELECT system, request_id FROM tasks") == [("analytics", rid)]
    assert events(demo_dir) == ["request.new", "run.export", "task.added"]


def test_export_answers_the_subjects_open_request_received_when_the_caller_says(demo_inventory, demo_dir):
    received = NOW - timedelta(days=3)
    first = workflows.export(demo_inventory, ALICE, output=demo_dir / "one.zip", received=received, now=NOW,
                             operator="ann")
    assert requests(demo_dir)[0][2] == "2026-11-19T12:00:00+00:00"
    again = workflows.export(demo_inventory, [Identifier("customer_id", "1042")], output=demo_dir / "two.zip",
                             now=NOW, operator="bo")
    assert again.request["id"] == first.request["id"] and again.request["created"] is False
    assert len(requests(demo_dir)) == 1
    assert [(k, r, o) for k, r, _, o, _ in runs(demo_dir)] == [("export", first.request["id"], "ann"),
                                                                 ("export", first.request["id"], "bo")]


def test_export_refuses_an_ambiguous_subject_and_another_subjects_request_with_nothing_written(demo_inventory,
                                                                                               demo_dir):
    with pytest.raises(RefusedError, match="ambiguous: 2 values of unique identity 'customer_id'"):
        workflows.export(demo_inventory, DAN, output=demo_dir / "dan.zip", now=NOW, operator="ann")
    assert (requests(demo_dir), runs(demo_dir), events(demo_dir)) == ([], [], [])
    rid = opened(demo_inventory)
    with pytest.raises(RefusedError, match=f"request {rid} belongs to another subject"):
        workflows.export(demo_inventory, BOB, output=demo_dir / "bob.zip", request_id=rid, now=NOW, operator="ann")
    assert list(demo_dir.glob("*.zip")) == [] and list(demo_dir.glob(".*.part")) == []
    assert [r[0] for r in requests(demo_dir)] == [rid] and runs(demo_dir) == []
    assert events(demo_dir) == ["request.new"]


def test_a_package_the_audit_log_does_not_record_is_deleted(demo_inventory, demo_dir, monkeypatch):
    import dsarctl.runs

    def log_refuses(*args, **kwargs):
        raise DsarError("the audit log stayed locked")

    monkeypatch.setattr(dsarctl.runs, "record_run", log_refuses)
    with pytest.raises(DsarError, match="stayed locked"):
        workflows.export(demo_inventory, ALICE, output=demo_dir / "alice.zip", now=NOW, operator="ann")
    assert list(demo_dir.glob("*.zip")) == [] and list(demo_dir.glob(".*.part")) == []


def test_export_refuses_a_missing_audit_log_before_writing(demo_inventory, demo_dir):
    workflows.find(demo_inventory, BOB, now=NOW, operator="ann")  # the log exists, and the folder knows it
    for path in (demo_dir / ".dsarctl").glob("audit.db*"):
        path.unlink()  # its disk is not mounted this morning
    with pytest.raises(RefusedError, match="the audit log is missing"):
        workflows.export(demo_inventory, ALICE, output=demo_dir / "alice.zip", now=NOW, operator="ann")
    assert list(demo_dir.glob("*.zip")) == [] and not (demo_dir / ".dsarctl" / "audit.db").exists()


def test_an_export_that_finds_nothing_writes_no_package_and_is_recorded(demo_inventory, demo_dir):
    run = workflows.export(demo_inventory, [Identifier("email", "nobody@example.org")],
                           output=demo_dir / "nobody.zip", now=NOW, operator="ann")
    assert run.package is None and not (demo_dir / "nobody.zip").exists()
    [(kind, rid, at, _, summary)] = runs(demo_dir)
    assert (kind, at, summary["total"], summary["zip_sha256"]) == ("export", AT, 0, None)
    assert rid == run.request["id"] == requests(demo_dir)[0][0]


# --- find -------------------------------------------------------------------------------------------------

def test_find_records_its_run_and_files_it_under_the_subjects_request_only(demo_inventory, demo_dir):
    run = workflows.find(demo_inventory, ALICE, now=NOW, operator="ann")
    assert run.request is None and run.result.total > 0
    assert [(k, r, a, o) for k, r, a, o, _ in runs(demo_dir)] == [("find", None, AT, "ann")]
    assert requests(demo_dir) == []  # a find opens no request by itself

    rid = opened(demo_inventory)
    filed = workflows.find(demo_inventory, [Identifier("customer_id", "1042")], request_id=rid, now=NOW,
                           operator="ann")
    assert filed.request["id"] == rid and runs(demo_dir)[-1][:2] == ("find", rid)
    with pytest.raises(RefusedError, match="belongs to another subject"):
        workflows.find(demo_inventory, BOB, request_id=rid, now=NOW, operator="ann")
    assert len(runs(demo_dir)) == 2


# --- erase ------------------------------------------------------------------------------------------------

def test_erase_records_the_erasure_and_the_run_under_a_new_erasure_request(demo_inventory, demo_dir):
    asked = []
    before = snapshot(demo_dir)
    dry = workflows.erase(demo_inventory, ALICE, dry_run=True, confirm=asked.append, now=NOW, operator="ann")
    assert dry.dry_run and dry.result is None and {c.system for c in dry.plan.collections} >= {"crm", "orders"}
    assert asked == [] and snapshot(demo_dir) == before and not (demo_dir / ".dsarctl" / "audit.db").exists()

    run = workflows.erase(demo_inventory, ALICE, confirm=lambda plan: asked.append(plan) or True, now=NOW,
                          operator="ann")
    assert [p.identifiers[0] for p in asked] == ALICE and run.result.ok, run.problems
    assert 1042 not in customer_ids(demo_dir) and 1043 in customer_ids(demo_dir)
    [(rid, type_, received, by, _)] = requests(demo_dir)
    assert (type_, received, by) == ("erasure", AT, "ann") and run.request["id"] == rid
    assert audit(demo_dir, "SELECT request_id, at, operator FROM erasures") == [(rid, AT, "ann")]
    [(kind, request_id, at, operator, summary)] = runs(demo_dir)
    assert (kind, request_id, at, operator, summary["status"]) == ("erase", rid, AT, "ann", "ok")
    assert summary["run"]["run_id"] == run.result.run.run_id
    assert "alice" not in json.dumps(summary).lower()  # keyed hashes, never the identifiers
    # the lock was released: the next erase does not wait
    from dsarctl.erase import runlock
    from dsarctl.erase.apply import audit_dir

    runlock.hold(audit_dir(demo_inventory), operator="t", now=NOW, wait=0)()


def test_erase_without_confirmation_changes_nothing(demo_inventory, demo_dir):
    before = snapshot(demo_dir)
    with pytest.raises(workflows.NotConfirmed):
        workflows.erase(demo_inventory, ALICE, confirm=lambda plan: False, now=NOW, operator="ann")
    assert snapshot(demo_dir) == before
    assert (requests(demo_dir), runs(demo_dir), audit(demo_dir, "SELECT * FROM erasures")) == ([], [], [])


def test_erase_refuses_another_subjects_request_and_an_ambiguous_subject_before_asking(demo_inventory, demo_dir):
    rid = opened(demo_inventory, type_="erasure")
    before, asked = snapshot(demo_dir), []
    for dry_run in (False, True):
        with pytest.raises(RefusedError, match=f"request {rid} belongs to another subject"):
            workflows.erase(demo_inventory, BOB, request_id=rid, dry_run=dry_run, confirm=asked.append, now=NOW,
                            operator="ann")
    with pytest.raises(RefusedError, match="before erasing"):
        workflows.erase(demo_inventory, DAN, confirm=asked.append, now=NOW, operator="ann")
    assert asked == [] and snapshot(demo_dir) == before
    assert runs(demo_dir) == [] and events(demo_dir) == ["request.new"]


def test_erase_waits_for_another_erase_and_gives_up_having_changed_nothing(demo_inventory, demo_dir):
    from dsarctl.erase import runlock
    from dsarctl.erase.apply import audit_dir

    before, told = snapshot(demo_dir), []
    release = runlock.hold(audit_dir(demo_inventory), operator="bo", now=NOW, wait=0)
    try:
        with pytest.raises(runlock.EraseBusy):
            workflows.erase(demo_inventory, ALICE, confirm=yes, wait=0, on_wait=told.append, now=NOW,
                            operator="ann")
    finally:
        release()
    assert len(told) == 1 and "the erase by bo" in told[0]
    assert snapshot(demo_dir) == before and runs(demo_dir) == []


def test_erase_first_finishes_an_interrupted_erasure(demo_inventory, demo_dir):
    from dsarctl.erase import carry_out, prepare

    class Crash(BaseException):
        """Stands in for kill -9."""

    def crash(point: str) -> None:
        raise Crash(point)

    with pytest.raises(Crash):
        carry_out(demo_inventory, prepare(demo_inventory, [BOB], now=NOW), operator="bo", now=NOW, checkpoint=crash)
    assert 1043 in customer_ids(demo_dir)
    finished = []
    run = workflows.erase(demo_inventory, ALICE, confirm=yes, on_resumed=finished.append, now=NOW, operator="ann")
    assert [r.run_id for r in finished] == [r.run_id for r in run.result.resumed] and len(finished) == 1
    assert not customer_ids(demo_dir) & {1042, 1043}
    assert runs(demo_dir)[-1][4]["resumed"] == [finished[0].run_id]


def test_a_batch_answers_no_one_request_unless_named(demo_inventory, demo_dir):
    run = workflows.erase_batch(demo_inventory, [ALICE, BOB], confirm=yes, now=NOW, operator="ann")
    assert run.request is None and requests(demo_dir) == []
    [(kind, rid, at, _, summary)] = runs(demo_dir)
    assert (kind, rid, at, summary["batch"]) == ("erase", None, AT, True)
    assert not customer_ids(demo_dir) & {1042, 1043}


def test_a_batch_plans_each_subject_and_suppresses_only_those_found_unless_asked(demo_inventory):
    nobody = [Identifier("email", "zoe@nowhere.example")]
    for asked, suppressed in ((False, {"email:alice@example.com"}),
                              (True, {"email:alice@example.com", "email:zoe@nowhere.example"})):
        run = workflows.erase_batch(demo_inventory, [ALICE, nobody], confirm=yes, now=NOW, operator="ann",
                                    dry_run=True, suppress_unmatched=asked)
        alice, zoe = run.plan.subjects
        assert (alice.matched, zoe.matched, zoe.total, zoe.given) == (True, False, 0, nobody)
        assert sum(len(c.steps) for c in alice.collections) == alice.total == len(run.plan.steps)
        assert {str(i) for i in run.plan.suppress["newsletter"]} == suppressed
    single = workflows.erase(demo_inventory, nobody, confirm=yes, now=NOW, operator="ann", dry_run=True)
    assert single.plan.subjects is None and "subjects" not in single.to_dict()["plan"]
    assert [str(i) for i in single.plan.suppress["newsletter"]] == ["email:zoe@nowhere.example"]  # as before


def test_replay_re_erases_restored_records_once_confirmed_and_records_the_run(demo_inventory, demo_dir):
    crm = demo_dir / "demo" / "crm.db"
    backup = demo_dir / "crm-backup.db"
    shutil.copy(crm, backup)
    workflows.erase(demo_inventory, ALICE, confirm=yes, now=NOW, operator="ann")
    shutil.copy(backup, crm)  # restored from last night's backup
    assert 1042 in customer_ids(demo_dir)
    with pytest.raises(workflows.NotConfirmed):
        workflows.replay(demo_inventory, confirm=lambda: False, now=NOW, operator="ann")
    assert 1042 in customer_ids(demo_dir) and len(runs(demo_dir)) == 1
    workflows.replay(demo_inventory, confirm=lambda: True, now=NOW + timedelta(days=1), operator="ann")
    assert 1042 not in customer_ids(demo_dir) and 1043 in customer_ids(demo_dir)
    kind, rid, at, _, summary = runs(demo_dir)[-1]
    assert (kind, rid, at, summary["replay"]) == ("erase", None, "2026-11-23T12:00:00+00:00", True)


# --- requests ---------------------------------------------------------------------------------------------

def test_open_request_starts_the_log_and_request_book_refuses_a_missing_one(demo_inventory, demo_dir):
    from dsarctl.requests import request_book

    with request_book(demo_inventory) as book:  # no log yet: read from an empty one, nothing created
        assert book.list() == []
    assert not (demo_dir / ".dsarctl" / "audit.db").exists()
    r = workflows.open_request(demo_inventory, ALICE, "erasure", received=NOW - timedelta(days=1), now=NOW,
                               operator="ann")
    assert requests(demo_dir) == [(r["id"], "erasure", "2026-11-21T12:00:00+00:00", "ann",
                                   ["email:alice@example.com"])]
    assert events(demo_dir) == ["request.new"]
    for path in (demo_dir / ".dsarctl").glob("audit.db*"):
        path.unlink()
    with pytest.raises(RefusedError, match="the audit log is missing"):
        with request_book(demo_inventory):
            pass
    with pytest.raises(RefusedError, match="the audit log is missing"):
        workflows.open_request(demo_inventory, BOB, "access", now=NOW, operator="ann")
