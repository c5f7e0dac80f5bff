"""The request, overdue, audit and task commands, and runs attached to requests, through the CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from helpers import at, one_error_line


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    """`dsarctl -i <demo inventory> ARGS` at 2026-02-10 09:00 UTC, as operator ann."""
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


def events(run, request=None) -> list[dict]:
    args = ["audit", "log", "--json"] + (["--request", request] if request else [])
    result = run(*args)
    assert result.code == 0, result
    return result.json()["events"]


# --- request new / show / lifecycle ---------------------------------------------------------------------


def test_new_and_show_the_uk_gdpr_worked_example(run):
    result = run("request", "new", "Alice@Example.com", "--type", "access", "--received", "2026-01-31",
                 "--channel", "email", "--note", "via the support mailbox")
    assert result.code == 0, result
    assert result.out == ("Opened R-2026-0001 (access, uk-gdpr) for alice@example.com: due 2026-03-02 "
                          "(any extension to be notified by 2026-02-28)\n")

    shown = run("request", "show", "r-2026-0001", "--json")
    assert shown.code == 0, shown
    r = shown.json()
    assert {k: r[k] for k in ("id", "subject", "type", "status", "regime", "received_at", "due_date")} == {
        "id": "R-2026-0001", "subject": "alice@example.com", "type": "access", "status": "open",
        "regime": "uk-gdpr", "received_at": "2026-01-31T00:00:00+00:00", "due_date": "2026-03-02"}
    assert (r["channel"], r["note"], r["created_by"], r["created_at"]) == (
        "email", "via the support mailbox", "ann", "2026-02-10T09:00:00+00:00")
    assert r["extension_notice_due"] == "2026-02-28"


def test_new_json_with_ids_regime_and_received_now(run):
    r = run("request", "new", "alice@example.com", "--type", "erasure", "--regime", "us-ca",
            "--id", "customer_id:1042", "--json").json()
    assert r["received_at"] == "2026-02-10T09:00:00+00:00"  # default: now (DSARCTL_NOW)
    assert r["identifiers"] == ["customer_id:1042", "email:alice@example.com"]
    # confirm receipt in 10 business days; 2026-02-16 is Presidents' Day
    assert (r["regime"], r["due_date"], r["confirm_receipt_due"]) == ("us-ca", "2026-03-27", "2026-02-25")


def test_explain_prints_each_step(run):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31")
    steps = run("request", "show", "R-2026-0001", "--explain", "--json").json()["explain"]
    assert steps[0] == "Received 2026-01-31T00:00:00+00:00: 2026-01-31 (Saturday) in Europe/London"
    assert steps[-1] == "Due 2026-03-02 (Monday)"
    assert any("2026-02-28 is Saturday" in s for s in steps)
    text = run("request", "show", "R-2026-0001", "--explain")
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0] == "R-2026-0001"
    start = lines.index("How the due date was computed:")
    assert lines[start + 1:start + 1 + len(steps)] == [f"  {s}" for s in steps]
    assert lines[start + 1 + len(steps):] == ["", "Runs: none", "Manual tasks: none", "Letters: none"]


def test_extend_pause_resume_close_deny(run, monkeypatch):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31")
    result = run("request", "extend", "R-2026-0001", "--reason", "many systems", "--notified-on", "2026-02-09")
    assert result.code == 0, result
    assert result.out == "R-2026-0001 extended: open, due 2026-04-30 (extended)\n"
    one_error_line(run("request", "extend", "R-2026-0001", "--reason", "again"), "already extended")

    # the third worked example: received 03-02, clarification asked 03-05, answered 03-16 -> 04-14
    at(monkeypatch, "2026-03-02T10:15:00Z")
    r = run("request", "new", "bob@example.com", "--type", "access", "--json").json()
    assert (r["id"], r["due_date"]) == ("R-2026-0002", "2026-04-02")
    at(monkeypatch, "2026-03-05T11:00:00Z")
    assert run("request", "pause", "R-2026-0002", "--reason", "asked which account",
               "--json").json()["status"] == "paused"
    at(monkeypatch, "2026-03-10T09:00:00Z")  # an ongoing pause counts up to today
    assert run("request", "show", "R-2026-0002", "--json").json()["due_date"] == "2026-04-08"
    at(monkeypatch, "2026-03-16T09:00:00Z")
    r = run("request", "resume", "R-2026-0002", "--json").json()
    assert (r["status"], r["due_date"]) == ("open", "2026-04-14")

    r = run("request", "verify", "R-2026-0002", "--method", "reply from account email", "--json").json()
    assert (r["status"], r["verify_method"]) == ("verified", "reply from account email")
    r = run("request", "close", "R-2026-0002", "--note", "package sent", "--json").json()
    assert (r["status"], r["outcome"]) == ("closed", "package sent")
    one_error_line(run("request", "close", "R-2026-0002"), "cannot close request R-2026-0002: it is closed")

    r = run("request", "deny", "R-2026-0001", "--reason", "identity not proven", "--operator", "bea",
            "--json").json()
    assert (r["status"], r["outcome"]) == ("denied", "identity not proven")
    kinds = [(e["kind"], e["operator"]) for e in events(run, "R-2026-0001")]
    assert kinds == [("request.new", "ann"), ("request.extended", "ann"), ("request.denied", "bea")]
    assert [e["kind"] for e in events(run, "r-2026-0002")] == [
        "request.new", "request.paused", "request.resumed", "request.verified", "request.closed"]

    listed = run("request", "list", "--status", "closed", "--json").json()["requests"]
    assert [r["id"] for r in listed] == ["R-2026-0002"]
    listed = run("request", "list", "--json").json()["requests"]
    assert [r["id"] for r in listed] == ["R-2026-0001", "R-2026-0002"]


@pytest.mark.parametrize("args, text", [
    (("request", "new", "x@example.com", "--type", "nope"), "unknown request type 'nope'"),
    (("request", "new", "x@example.com", "--type", "access", "--regime", "mars"), "unknown regime 'mars'"),
    (("request", "new", "x@example.com", "--type", "access", "--received", "2026-13-01"),
     "is not an ISO date"),
    (("request", "new", "x@example.com", "--type", "access", "--received", "2026-03-01"), "is in the future"),
    (("request", "new", "not-an-identifier", "--type", "access"), "not-an-identifier"),
    (("request", "show", "R-2026-0099"), "unknown request id 'R-2026-0099'"),
    (("request", "close", "R-2026-0099"), "unknown request id"),
    (("request", "pause", "R-2026-0001"), "Missing option '--reason'"),
    (("request", "list", "--status", "lost"), "unknown status 'lost'"),
    (("request", "show", "R-2026-0001", "--operator", "x"), "No such option"),
    (("overdue", "--within", "-1"), "--within must be 0 or more"),
    (("task", "done", "7"), "unknown task id '7'"),
    (("task", "list", "--status", "lost"), "unknown task status 'lost'"),
    (("audit", "log", "--request", "R-2026-0099"), "unknown request id"),
    (("find", "alice@example.com", "--request", "R-2026-0099"), "unknown request id"),
])
def test_bad_input_is_one_line_and_exit_2(run, args, text):
    one_error_line(run(*args), text)


def test_bad_dsarctl_now(run, monkeypatch):
    at(monkeypatch, "yesterday")
    one_error_line(run("request", "list"), "DSARCTL_NOW: 'yesterday' is not an ISO datetime")


def test_pause_refused_where_the_regime_never_stops_the_clock(run):
    run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ca",
        "--received", "2026-02-01")
    one_error_line(run("request", "pause", "R-2026-0001", "--reason", "waiting"), "does not stop the clock")


# --- overdue --------------------------------------------------------------------------------------------


def test_overdue_most_urgent_first_and_exit_codes(run, monkeypatch):
    at(monkeypatch, "2026-03-10T09:00:00Z")
    for subject, received in [("c@example.com", "2026-02-12"), ("b@example.com", "2026-01-31"),
                              ("a@example.com", "2026-01-05"), ("d@example.com", "2026-03-01")]:
        assert run("request", "new", subject, "--type", "access", "--received", received).code == 0
    result = run("overdue", "--json")
    assert result.code == 1, result
    report = result.json()
    assert [(r["id"], r["due_date"], r["days_overdue"]) for r in report["overdue"]] == [
        ("R-2026-0003", "2026-02-05", 33), ("R-2026-0002", "2026-03-02", 8)]
    assert [(r["id"], r["days_overdue"]) for r in report["due_soon"]] == [("R-2026-0001", -2)]
    for entry in report["overdue"] + report["due_soon"]:
        assert {"id", "subject", "type", "status", "regime", "received_at", "due_date"} <= set(entry)
    assert report["extension_notices"] == [] or all(e["days_left"] >= 0 for e in report["extension_notices"])

    text = run("overdue")
    assert text.code == 1
    lines = text.out.splitlines()
    assert lines[0] == "Overdue (2):"
    assert lines[1].split()[:1] == ["R-2026-0003"] and "33 days overdue" in lines[1]
    assert lines[2].split()[:1] == ["R-2026-0002"] and "8 days overdue" in lines[2]

    assert run("overdue", "--within", "1", "--json").json()["due_soon"] == []
    assert [r["id"] for r in run("overdue", "--within", "30", "--json").json()["due_soon"]] == [
        "R-2026-0001", "R-2026-0004"]

    run("request", "close", "R-2026-0003")
    run("request", "deny", "R-2026-0002", "--reason", "manifestly unfounded")
    result = run("overdue", "--json")
    assert result.code == 0, result
    assert result.json()["overdue"] == []


def test_overdue_with_nothing_to_do(run):
    result = run("overdue")
    assert (result.code, result.out) == (0, "Nothing overdue or due within 7 days; no open tasks.\n")


def test_overdue_lists_extension_notices_and_open_tasks(run, monkeypatch):
    at(monkeypatch, "2026-02-25T09:00:00Z")
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31")
    assert run("find", "alice@example.com", "--request", "R-2026-0001", "--json").code == 0
    report = run("overdue", "--json").json()
    assert [(e["id"], e["extension_notice_due"], e["days_left"]) for e in report["extension_notices"]] == [
        ("R-2026-0001", "2026-02-28", 3)]
    assert [(t["system"], t["request_id"], t["request_due_date"]) for t in report["open_tasks"]] == [
        ("analytics", "R-2026-0001", "2026-03-02")]


# --- audit log and verify -------------------------------------------------------------------------------


def test_audit_log_and_verify_then_tamper_a_copy(run, cli, demo_dir, tmp_path):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31")
    run("request", "extend", "R-2026-0001", "--reason", "many systems", "--notified-on", "2026-02-09")
    log = run("audit", "log")
    assert log.code == 0 and "request.extended" in log.out and "R-2026-0001" in log.out
    evs = events(run)
    assert [(e["seq"], e["kind"], e["request_id"]) for e in evs] == [
        (1, "request.new", "R-2026-0001"), (2, "request.extended", "R-2026-0001")]
    assert evs[1]["data"]["reason"] == "many systems"

    ok = run("audit", "verify", "--json")
    assert ok.code == 0, ok
    assert (ok.json()["ok"], ok.json()["checked"], ok.json()["problems"]) == (True, 2, [])

    copy = tmp_path / "copy"
    (copy / ".dsarctl").mkdir(parents=True)
    shutil.copy(demo_dir / "inventory.yaml", copy / "inventory.yaml")
    with sqlite3.connect(demo_dir / ".dsarctl" / "audit.db") as src, \
            sqlite3.connect(copy / ".dsarctl" / "audit.db") as dst:
        src.backup(dst)
    with sqlite3.connect(copy / ".dsarctl" / "audit.db") as db:
        db.execute("""UPDATE events SET data = replace(data, 'many systems', 'no reason') WHERE seq = 2""")
    broken = cli("-i", str(copy / "inventory.yaml"), "audit", "verify", "--json")
    assert broken.code == 1, broken
    assert broken.json()["problems"] == ["event 2: edited: its contents no longer match its hash"]
    text = cli("-i", str(copy / "inventory.yaml"), "audit", "verify")
    assert text.code == 1
    assert "  event 2: edited: its contents no longer match its hash" in text.out.splitlines()
    assert run("audit", "verify").code == 0  # the original is untouched


# --- runs attached to requests, manual tasks ------------------------------------------------------------


def test_find_with_request_attaches_the_run_and_opens_the_manual_task_once(run):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31")
    found = run("find", "alice@example.com", "--request", "r-2026-0001", "--json")
    assert found.code == 0, found
    assert found.json()["request"] == {"id": "R-2026-0001", "due_date": "2026-03-02", "created": False}
    assert run("find", "alice@example.com", "--request", "R-2026-0001", "--json").code == 0

    evs = events(run, "R-2026-0001")
    assert [e["kind"] for e in evs] == ["request.new", "run.find", "task.added", "run.find"]
    summary = evs[1]["data"]["summary"]
    assert summary["systems"]["crm"] == {"status": "ok", "count": 3, "collections": {
        "customers": {"status": "ok", "count": 1}, "tickets": {"status": "ok", "count": 2}}}
    assert summary["systems"]["analytics"] == {"status": "manual", "count": 0}
    assert summary["identifier_kinds"]["email"] >= 1

    tasks = run("task", "list", "--status", "open", "--json").json()["tasks"]
    assert [(t["id"], t["request_id"], t["system"], t["status"]) for t in tasks] == [
        (1, "R-2026-0001", "analytics", "open")]
    done = run("task", "done", "1", "--note", "Google ticket 42", "--operator", "bea")
    assert done.code == 0, done
    assert done.out == "task 1 (analytics, R-2026-0001) done: confirmed by bea at 2026-02-10 09:00 GMT (UTC+00:00)\n"
    t = run("task", "list", "--json").json()["tasks"][0]
    assert (t["status"], t["confirmed_by"], t["confirmed_at"], t["note"]) == (
        "done", "bea", "2026-02-10T09:00:00+00:00", "Google ticket 42")
    assert run("task", "list", "--status", "open", "--json").json()["tasks"] == []
    assert events(run)[-1]["kind"] == "task.confirmed" and events(run)[-1]["operator"] == "bea"
    one_error_line(run("task", "done", "1"), "task 1 was already confirmed by bea")
    assert run("audit", "verify").code == 0


def test_find_without_request_attaches_to_none(run):
    found = run("find", "alice@example.com", "--json")
    assert found.code == 0, found
    assert "request" not in found.json()
    assert [(e["kind"], e["request_id"]) for e in events(run)] == [("run.find", None)]
    assert run("request", "list", "--json").json()["requests"] == []


def test_export_attaches_to_the_open_request_or_opens_one(run, demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    first = run("export", "alice@example.com", "--json")  # default file name holds the address
    assert first.code == 0, first
    req = first.json()["request"]
    assert req == {"id": "R-2026-0001", "due_date": "2026-03-10", "created": True}
    r = run("request", "show", "R-2026-0001", "--json").json()
    assert (r["type"], r["received_at"]) == ("access", "2026-02-10T09:00:00+00:00")
    # the next export of the same person, by another identifier found in the first, joins it
    second = run("export", "customer_id:1042", "-o", str(demo_dir / "again.zip"), "--json")
    assert second.json()["request"] == {"id": "R-2026-0001", "due_date": "2026-03-10", "created": False}
    # an erasure is another request
    assert run("request", "list", "--status", "active", "--json").json()["requests"][0]["type"] == "access"

    # never the data: the log holds no identifier of the subject outside the request row
    with sqlite3.connect(demo_dir / ".dsarctl" / "audit.db") as db:
        rows = db.execute("SELECT kind, data FROM events").fetchall()
        summaries = db.execute("SELECT summary FROM runs").fetchall()
    assert [k for k, _ in rows].count("run.export") == 2
    for text in [d for _, d in rows] + [s for (s,) in summaries]:
        assert "alice" not in text.lower() and "1042" not in json.dumps(json.loads(text).get("summary", {})
                                                                        .get("identifier_kinds", {}))
    export_run = json.loads(summaries[0][0])
    assert export_run["file"].startswith("(withheld")
    assert len(export_run["zip_sha256"]) == 64


# --- start-up cost --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["overdue"], ["--help"], ["request", "--help"]])
def test_overdue_and_help_do_not_import_sqlalchemy(demo_dir, args):
    code = (
        "import sys\n"
        "from dsarctl.cli import main\n"
        "try:\n"
        f"    main(['-i', {str(demo_dir / 'inventory.yaml')!r}] + {args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('SQLALCHEMY=%s\\n' % any(m.split('.')[0] == 'sqlalchemy' for m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "", "NO_COLOR": "1", "DSARCTL_NOW": "2026-02-10T09:00:00Z"})
    assert "SQLALCHEMY=False" in proc.stderr, proc.stderr
