"""The trail a support person reads (issue 20): `audit log` as lines with --since/--limit/--newest-first,
`request show` with the request's runs, tasks and letters, and `overdue` naming a request whose stored row
is not what the audit log recorded instead of dropping it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from dsarctl.cli import morning
from dsarctl.wording import plural

from helpers import at, both_paths, one_error_line


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    """`dsarctl -i <demo inventory> ARGS` as operator ann, the clock at 2026-02-10 09:00 UTC (GMT)."""
    at(monkeypatch, "2026-02-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


@pytest.fixture
def trail(run, demo_dir, monkeypatch):
    """A request, an export attached to it (with its manual task), a find without a request, an erase of
    bob received later (British Summer Time), and the request closed."""
    assert run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-31").code == 0
    assert run("export", "alice@example.com", "-o", str(demo_dir / "alice.zip")).code == 0
    assert run("find", "carol@example.com").code in (0, 1)
    at(monkeypatch, "2026-04-01T13:30:00Z")
    assert run("erase", "bob@example.net", "--yes").code == 0
    assert run("request", "close", "R-2026-0001", "--note", "package sent").code == 0
    return run


def db_events(demo_dir) -> list[dict]:
    """The events as stored, read with plain sqlite3 (an oracle independent of AuditLog)."""
    with sqlite3.connect(demo_dir / ".dsarctl" / "audit.db") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM events ORDER BY seq")]
    for r in rows:
        r["data"] = json.loads(r["data"])
    return rows


LINES = [
    "2026-02-10 09:00 GMT (UTC+00:00)  request.new        R-2026-0001 alice@example.com  by ann  "
    "opened (access, uk-gdpr), received 2026-01-31, due 2026-03-02",
    "2026-02-10 09:00 GMT (UTC+00:00)  run.export         R-2026-0001 alice@example.com  by ann  "
    "16 records from 7 systems exported",
    "2026-02-10 09:00 GMT (UTC+00:00)  task.added         R-2026-0001 alice@example.com  by ann  "
    "manual task 1 opened: analytics (Google Ireland Ltd (Google Analytics))",
    "2026-02-10 09:00 GMT (UTC+00:00)  run.find           -  by ann  nothing found",
    "2026-04-01 14:30 BST (UTC+01:00)  request.new        R-2026-0002 bob@example.net  by ann  "
    "opened (erasure, uk-gdpr), received 2026-04-01, due 2026-05-01",
    "2026-04-01 14:30 BST (UTC+01:00)  erasure.recorded   R-2026-0002 bob@example.net  by ann  "
    "kept for a replay after a backup restore: 4 identifiers as keyed hashes",
    "2026-04-01 14:30 BST (UTC+01:00)  suppression.added  R-2026-0002 bob@example.net  by ann  "
    "1 keyed hash added to the suppression list of newsletter",
    "2026-04-01 14:30 BST (UTC+01:00)  task.added         R-2026-0002 bob@example.net  by ann  "
    "manual task 2 opened: analytics (Google Ireland Ltd (Google Analytics))",
    "2026-04-01 14:30 BST (UTC+01:00)  run.erase          R-2026-0002 bob@example.net  by ann  "
    "5 deleted, 1 anonymized, 1 redacted, 2 retained",
    "2026-04-01 14:30 BST (UTC+01:00)  request.closed     R-2026-0001 alice@example.com  by ann  "
    "closed 30 days late: package sent",
]


def test_audit_log_prints_one_line_per_event_what_to_whom_by_whom_and_the_counts(trail, demo_dir):
    result = trail("audit", "log")
    assert result.code == 0, result
    assert result.out == "".join(line + "\n" for line in LINES)
    assert [line.split()[4] for line in LINES] == [e["kind"] for e in db_events(demo_dir)]  # every event


def test_audit_log_json_is_the_events_as_stored(trail, demo_dir):
    stored = db_events(demo_dir)
    assert trail("audit", "log", "--json").json() == {"request": None, "events": stored}
    assert trail("audit", "log", "--json", "-r", "r-2026-0002").json() == {
        "request": "R-2026-0002", "events": [e for e in stored if e["request_id"] == "R-2026-0002"]}
    # the filters select from the same documents, in the order asked for
    assert trail("audit", "log", "--json", "--limit", "2").json()["events"] == stored[-2:]
    assert trail("audit", "log", "--json", "--newest-first", "-n", "3").json()["events"] == stored[::-1][:3]
    since = [e for e in stored if e["at"] >= "2026-04-01"]
    assert trail("audit", "log", "--json", "--since", "2026-04-01").json()["events"] == since


def test_audit_log_newest_first_limit_and_since(trail):
    assert trail("audit", "log", "--newest-first", "--limit", "2").out.splitlines() == \
        trail("audit", "log", "--limit", "2").out.splitlines()[::-1]
    assert trail("audit", "log", "--limit", "5", "--since", "2026-02-10").out.splitlines()[0].startswith(
        "2026-04-01 14:30")  # the 5 most recent, which all happened on 04-01
    # a date is the controller's local day: 2026-04-01 00:00 in London is 03-31 23:00 UTC
    assert trail("audit", "log", "--since", "2026-04-02").out == "No events.\n"
    first = trail("audit", "log", "--since", "2026-04-01T14:30+01:00").out.splitlines()[0]
    assert first.startswith("2026-04-01 14:30 BST (UTC+01:00)  request.new ")
    assert trail("audit", "log", "--request", "R-2026-0001", "--since", "2026-03-01").out == (
        "2026-04-01 14:30 BST (UTC+01:00)  request.closed  R-2026-0001 alice@example.com  by ann  "
        "closed 30 days late: package sent\n")


@pytest.mark.parametrize("args, text", [
    (["--since", "last week"], "--since: 'last week' is not an ISO date (2026-11-20) or datetime"),
    (["--since", "2026-02-30"], "--since: '2026-02-30' is not an ISO date"),
])
def test_audit_log_refuses_a_bad_since_in_one_line(trail, args, text):
    one_error_line(trail("audit", "log", *args), text)


def test_audit_log_limit_must_be_positive(trail):
    result = trail("audit", "log", "--limit", "0")
    assert result.code == 2 and result.out == "" and "--limit" in result.err


# --- request show ---------------------------------------------------------------------------------------


def test_request_show_lists_runs_tasks_and_letters(trail, demo_dir):
    from datetime import datetime, timezone

    from dsarctl.audit import AuditLog

    with AuditLog.open(demo_dir / ".dsarctl" / "audit.db", create=False) as log:
        log.append("letter.response", {"lang": "en", "file": None}, request_id="R-2026-0001", operator="bea",
                   at=datetime(2026, 4, 2, 8, 15, tzinfo=timezone.utc))
    result = trail("request", "show", "R-2026-0001")
    assert result.code == 0, result
    tail = result.out.split("\n\n", 1)[1]
    assert tail == (
        "Runs:\n"
        "  2026-02-10 09:00 GMT (UTC+00:00)  export  by ann  16 records from 7 systems exported\n"
        "Manual tasks:\n"
        "  task 1  analytics (Google Ireland Ltd (Google Analytics))  open since 2026-02-10 09:00 GMT (UTC+00:00); "
        "confirm with: dsarctl task done 1\n"
        "Letters:\n"
        "  2026-04-02 09:15 BST (UTC+01:00)  letter.response  by bea  drafted\n")
    data = trail("request", "show", "R-2026-0001", "--json").json()
    assert [(r["id"], r["kind"], r["operator"], r["summary"]["total"]) for r in data["runs"]] == [
        (1, "export", "ann", 16)]
    assert [(t["id"], t["system"], t["status"]) for t in data["tasks"]] == [(1, "analytics", "open")]
    assert [(e["kind"], e["operator"], e["data"]) for e in data["letters"]] == [
        ("letter.response", "bea", {"lang": "en", "file": None})]
    bob = trail("request", "show", "R-2026-0002", "--json").json()
    assert [r["kind"] for r in bob["runs"]] == ["erase"] and bob["letters"] == []
    assert [t["system"] for t in bob["tasks"]] == ["analytics"]


def test_request_show_of_a_request_with_nothing_done_says_so(run):
    run("request", "new", "zoe@example.org", "--type", "erasure")
    out = run("request", "show", "R-2026-0001").out
    assert out.endswith("\n\nRuns: none\nManual tasks: none\nLetters: none\n")


# --- overdue: a row that fails its chain check ----------------------------------------------------------


def edit(demo_dir, sql: str, *params) -> None:
    """A change made with the sqlite3 tool, outside dsarctl."""
    with sqlite3.connect(demo_dir / ".dsarctl" / "audit.db") as db:
        db.execute(sql, params)


def test_overdue_names_a_request_whose_due_date_was_edited_instead_of_dropping_it(
        run, demo_dir, cli, monkeypatch):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2025-12-01")  # due 2026-01-02
    run("request", "new", "bob@example.net", "--type", "access", "--received", "2026-02-01")  # due 2026-03-02
    before = run("overdue")
    assert before.code == 1 and "R-2026-0001" in before.out
    edit(demo_dir, "UPDATE requests SET due_date = '2027-01-01' WHERE id = 'R-2026-0001'")
    inventory = str(demo_dir / "inventory.yaml")
    fast, slow = both_paths(cli, monkeypatch, morning)("-i", inventory, "overdue")
    for result in (fast, slow):
        assert result.code == 1, result
        assert result.out == (
            "Cannot be trusted (1): check the log with `dsarctl audit verify`\n"
            "  R-2026-0001  alice@example.com  cannot be trusted: its stored row differs from what the audit "
            "log recorded (edited outside dsarctl); the log says open, due 2026-01-02; its row says open, "
            "due 2027-01-01\n")
    report = run("overdue", "--json").json()
    assert report["overdue"] == [] and report["due_soon"] == []
    assert report["untrusted"] == [{
        "id": "R-2026-0001", "subject": "alice@example.com", "status": "open", "due_date": "2027-01-01",
        "logged_status": "open", "logged_due_date": "2026-01-02",
        "problem": "its stored row differs from what the audit log recorded (edited outside dsarctl)"}]
    assert run("audit", "verify").code == 1  # the full check agrees


def test_overdue_names_a_row_no_event_wrote_and_a_status_edited_between_active_ones(run, demo_dir):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-02-01")
    edit(demo_dir, "UPDATE requests SET status = 'verified' WHERE id = 'R-2026-0001'")
    edit(demo_dir, "INSERT INTO requests (id, subject, identifiers, type, status, regime, timezone, received_at, "
                   "due_date, pauses, extended, created_at, created_by) VALUES ('R-2026-0099', 'x@example.com', "
                   "'[]', 'access', 'open', 'uk-gdpr', 'Europe/London', '2026-01-01T00:00:00+00:00', "
                   "'2026-02-02', '[]', 0, '2026-01-01T00:00:00+00:00', 'someone')")
    result = run("overdue")
    assert result.code == 1
    assert result.out.splitlines()[:3] == [
        "Cannot be trusted (2): check the log with `dsarctl audit verify`",
        "  R-2026-0001  alice@example.com  cannot be trusted: its stored row differs from what the audit log "
        "recorded (edited outside dsarctl); the log says open, due 2026-03-02; its row says verified, "
        "due 2026-03-02",
        "  R-2026-0099  x@example.com  cannot be trusted: not in the audit log (written outside dsarctl); "
        "the log has no record of it; its row says open, due 2026-02-02",
    ]


@pytest.mark.parametrize("change, row_says", [
    ("UPDATE requests SET status = 'closed' WHERE id = 'R-2026-0001'",
     "alice@example.com  cannot be trusted: its stored row differs from what the audit log recorded (edited "
     "outside dsarctl); the log says open, due 2026-11-02; its row says closed, due 2026-11-02"),
    ("DELETE FROM requests WHERE id = 'R-2026-0001'",
     "-  cannot be trusted: its row was deleted outside dsarctl (the audit log records it); the log says open, "
     "due 2026-11-02; it has no row (the subject is named only there)"),
])
def test_overdue_names_a_request_closed_or_deleted_outside_dsarctl_from_its_last_logged_state(
        run, demo_dir, cli, monkeypatch, change, row_says):
    """The log, not the row, says which requests are open: a row closed or deleted with a SQLite tool leaves
    the request listed, with the due date the log recorded, and the exit code of an overdue request."""
    at(monkeypatch, "2026-12-07T09:00:00Z")
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-10-01")  # due 11-02
    run("request", "new", "bob@example.net", "--type", "access", "--received", "2026-12-01")  # due 2027-01-04
    before = run("overdue")
    assert before.code == 1 and "R-2026-0001" in before.out
    edit(demo_dir, change)
    inventory = str(demo_dir / "inventory.yaml")
    fast, slow = both_paths(cli, monkeypatch, morning)("-i", inventory, "overdue")
    for result in (fast, slow):
        assert result.code == 1, result
        assert result.out == ("Cannot be trusted (1): check the log with `dsarctl audit verify`\n"
                              f"  R-2026-0001  {row_says}\n")
    report = run("overdue", "--json").json()
    assert report["overdue"] == [] and report["due_soon"] == []
    (entry,) = report["untrusted"]
    assert (entry["id"], entry["logged_status"], entry["logged_due_date"]) == ("R-2026-0001", "open", "2026-11-02")
    assert run("audit", "verify").code == 1  # the full check agrees
    # a later event counts the active requests from the log, not from the rows: the request stays listed
    assert run("request", "close", "R-2026-0002").code == 0
    assert run("overdue", "--json").json()["untrusted"] == [entry]


def test_overdue_of_an_intact_log_has_no_untrusted_section(run):
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-20")  # due 02-20
    result = run("overdue", "--within", "1")
    assert result.code == 0
    assert result.out == "Nothing overdue or due within 1 day; no open tasks.\n"
    assert run("overdue", "--json").json()["untrusted"] == []


# --- wording ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count, args, text", [
    (0, ("day",), "0 days"), (1, ("day",), "1 day"), (2, ("day",), "2 days"), (-1, ("day",), "-1 days"),
    (1, ("entry", "entries"), "1 entry"), (3, ("entry", "entries"), "3 entries"),
    (1, ("search round",), "1 search round"), (2, ("keyed hash", "keyed hashes"), "2 keyed hashes"),
])
def test_plural(count, args, text):
    assert plural(count, *args) == text


def test_counts_agree_with_their_nouns_in_output(run):
    found = run("find", "carol@example.com", "--no-expand")
    assert found.code == 1 and found.out.splitlines()[1].rstrip() == "Identifiers (1 search round)"
    planned = run("erase", "erin@example.com", "--dry-run")
    assert planned.code == 0 and planned.out.splitlines()[-1] == (
        "Suppression — newsletter: 1 identifier kept as a keyed hash")
    run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-01-07")  # due 02-09
    late = run("overdue", "--within", "1")
    assert late.code == 1 and late.out.splitlines() == [
        "Overdue (1):",
        "  R-2026-0001  access        alice@example.com  due 2026-02-09, 1 day overdue (open, uk-gdpr)",
    ]


def test_audit_log_piped_keeps_each_event_on_one_line_whatever_columns_says(trail, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert trail("audit", "log").out == "".join(line + "\n" for line in LINES)


def test_audit_log_on_a_narrow_terminal_wraps_between_words_under_its_event(trail, demo_dir):
    import terminal

    screen = terminal.run(["-i", str(demo_dir / "inventory.yaml"), "audit", "log", "--limit", "1"], cols=60)
    assert screen.code == 0
    assert screen.lines() == [
        "2026-04-01 14:30 BST (UTC+01:00)  request.closed",
        "    R-2026-0001 alice@example.com  by ann  closed 30 days",
        "    late: package sent",
        "",
    ]
