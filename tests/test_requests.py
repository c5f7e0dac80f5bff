"""Requests: lifecycle, stored due dates from the real deadline rules, overdue, and the audit trail."""

from __future__ import annotations

import itertools
import json
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dsarctl.audit import AuditLog
from dsarctl.errors import UsageError
from dsarctl.identity import Identifier, IdentityKind
from dsarctl.inventory.model import Controller, Inventory
from dsarctl.requests import RequestBook, default_operator, parse_when

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_inventory(tmp_path, regime="uk-gdpr", custom=None, tz="Europe/London", holidays="GB-ENG"):
    return Inventory(
        path=tmp_path / "inventory.yaml", sha256="0" * 64, version=1,
        controller=Controller(name="Northwind", contact="privacy@northwind.example", timezone=tz,
                              regime=regime, holidays=holidays),
        audit_path=tmp_path / ".dsarctl" / "audit.db",
        identities={"email": IdentityKind("email", "email"), "phone": IdentityKind("phone", "phone", "GB"),
                    "customer_id": IdentityKind("customer_id", unique=True)},
        systems={}, custom_regime=custom,
    )


@pytest.fixture
def book(tmp_path):
    inventory = make_inventory(tmp_path)
    audit = AuditLog.open(inventory.audit_path)
    yield RequestBook(audit, inventory)
    audit.close()


def new(book, subject="alice@example.com", type="access", received=utc(2026, 1, 31, 12), now=None, **kw):
    return book.new(subject, type, received, operator="ann", now=now or received + timedelta(hours=1), **kw)


# --- opening a request ----------------------------------------------------------------------------------


def test_new_request_json_and_worked_example(book):
    r = new(book, " Alice@Example.com ", channel="email", note="via support mailbox")
    assert r["id"] == "R-2026-0001"
    assert r["subject"] == "alice@example.com"
    assert r["identifiers"] == ["email:alice@example.com"]
    assert (r["type"], r["status"], r["regime"]) == ("access", "open", "uk-gdpr")
    assert r["received_at"] == "2026-01-31T12:00:00+00:00"
    assert r["due_date"] == "2026-03-02"  # 2026-02-28 is a Saturday
    assert r["extension_notice_due"] == "2026-02-28"
    assert (r["channel"], r["note"], r["created_by"]) == ("email", "via support mailbox", "ann")
    assert book.get("R-2026-0001") == r
    assert book.get("r-2026-0001 ") == r  # ids are case-insensitive
    json.dumps(r)
    (event,) = book.audit.events("R-2026-0001")
    assert event["kind"] == "request.new" and event["operator"] == "ann"
    assert "alice" not in json.dumps(event)  # identifiers stay in the request row, out of the chain


def test_ids_count_up_within_the_year_of_entry(book):
    assert new(book)["id"] == "R-2026-0001"
    assert new(book, "bob@example.com")["id"] == "R-2026-0002"
    # Entered in the first minutes of 2027 in London: the year of entry is the controller's.
    late = book.new("carol@example.com", "access", utc(2026, 12, 31, 23), operator="ann",
                    now=utc(2027, 1, 1, 0, 5))
    assert late["id"] == "R-2027-0001"


def test_subject_forms(book):
    assert new(book, "customer_id:1042")["subject"] == "customer_id:1042"
    assert new(book, "+44 20 7946 0958")["subject"] == "+442079460958"
    r = new(book, "alice@example.com", identifiers=[Identifier("email", "alice@example.com"),
                                                    Identifier("customer_id", "1042")])
    assert r["identifiers"] == ["customer_id:1042", "email:alice@example.com"]


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "delete"}, "unknown request type 'delete' (one of: access, erasure,"),
    ({"regime": "gdpr"}, "unknown regime 'gdpr' (one of: eu-gdpr, uk-gdpr,"),
    ({"regime": "custom"}, "regime 'custom' needs a 'custom_regime:'"),
    ({"received": utc(2026, 3, 1), "now": utc(2026, 2, 1)},
     "--received: 2026-03-01T00:00:00+00:00 is in the future"),
])
def test_new_rejects_bad_input(book, kwargs, message):
    with pytest.raises(UsageError) as err:
        new(book, **kwargs)
    assert str(err.value).startswith(message)


def test_regime_defaults_to_the_controller_and_can_be_chosen(book):
    assert new(book)["regime"] == "uk-gdpr"
    r = new(book, regime="us-ca", received=utc(2026, 11, 12, 18))
    assert (r["due_date"], r["confirm_receipt_due"]) == ("2026-12-27", "2026-11-30")


def test_custom_regime_from_the_inventory(tmp_path):
    inventory = make_inventory(tmp_path, regime="custom",
                               custom={"period": "30 days", "extension": None, "pause": True, "roll": True})
    book = RequestBook(AuditLog.open(inventory.audit_path), inventory)
    r = new(book, received=utc(2026, 1, 29, 12))  # + 30 days = Saturday 2026-02-28
    assert (r["regime"], r["due_date"]) == ("custom", "2026-03-02")
    book.pause(r["id"], "clarification", operator="ann", now=utc(2026, 2, 2, 9))  # custom pause: true
    with pytest.raises(UsageError, match="custom allows no extension"):
        book.extend(r["id"], "busy", operator="ann", now=utc(2026, 2, 3, 9))


# --- lifecycle ------------------------------------------------------------------------------------------


def test_extend_counts_from_the_anchor(book):
    r = new(book)
    r = book.extend(r["id"], "many systems to search", operator="bob", now=utc(2026, 2, 10, 9),
                    notified_on=date(2026, 2, 10))
    assert (r["due_date"], r["extended"]) == ("2026-04-30", True)
    assert r["extension_reason"] == "many systems to search"
    with pytest.raises(UsageError, match="already extended"):
        book.extend(r["id"], "again", operator="bob", now=utc(2026, 2, 11, 9))
    events = list(book.audit.events(r["id"]))
    assert [e["kind"] for e in events] == ["request.new", "request.extended"]
    assert events[1]["operator"] == "bob"
    assert events[1]["data"]["reason"] == "many systems to search"
    assert events[1]["data"]["due_date"] == "2026-04-30"


def test_extend_refused_without_an_extension_or_after_the_notice_date(book):
    r = new(book, regime="br-lgpd", received=utc(2026, 4, 6, 12))
    with pytest.raises(UsageError, match="br-lgpd allows no extension for access requests"):
        book.extend(r["id"], "busy", operator="ann", now=utc(2026, 4, 7, 9))
    r = new(book)  # notice due 2026-02-28
    with pytest.raises(UsageError, match="told of an extension by 2026-02-28; it is too late"):
        book.extend(r["id"], "busy", operator="ann", now=utc(2026, 3, 1, 9))
    with pytest.raises(UsageError, match="requires telling the subject of an extension"):
        book.extend(r["id"], "busy", operator="ann", now=utc(2026, 3, 1, 9), allow_late=True)
    late = book.extend(r["id"], "told the subject on time", operator="ann", now=utc(2026, 3, 1, 9),
                       allow_late=True, notified_on=date(2026, 2, 27))
    assert late["due_date"] == "2026-04-30"
    assert list(book.audit.events(r["id"]))[-1]["data"]["late"] is True
    with pytest.raises(UsageError, match="reason"):
        book.extend(new(book)["id"], "  ", operator="ann", now=utc(2026, 2, 1, 9))


def test_pause_and_resume_move_the_due_date(book):
    # docs/deadlines.md: received 03-02, clarification asked 03-05 and answered 03-16 -> 2026-04-14.
    r = new(book, received=utc(2026, 3, 2, 10, 15))
    assert r["due_date"] == "2026-04-02"
    r = book.pause(r["id"], "asked which account", operator="ann", now=utc(2026, 3, 5, 11))
    assert r["status"] == "paused" and r["pauses"] == [{"start": "2026-03-05T11:00:00+00:00", "end": None}]
    assert book.get(r["id"], today=date(2026, 3, 10))["due_date"] == "2026-04-08"  # six days paused so far
    with pytest.raises(UsageError, match="already paused"):
        book.pause(r["id"], "again", operator="ann", now=utc(2026, 3, 6, 9))
    r = book.resume(r["id"], operator="ann", now=utc(2026, 3, 16, 14))
    assert (r["status"], r["due_date"]) == ("open", "2026-04-14")
    with pytest.raises(UsageError, match="is not paused \\(status: open\\)"):
        book.resume(r["id"], operator="ann", now=utc(2026, 3, 17, 9))
    steps = book.explain(r["id"], date(2026, 3, 20))
    assert "Pause 2026-03-05 to 2026-03-16: 12 days, both days included" in steps
    assert steps[-1] == "Due 2026-04-14 (Tuesday)"


def test_pause_refused_where_the_clock_never_stops(book):
    r = new(book, regime="us-ca", received=utc(2026, 11, 12, 18))
    with pytest.raises(UsageError, match="us-ca does not stop the clock .* stays due on 2026-12-27"):
        book.pause(r["id"], "waiting", operator="ann", now=utc(2026, 11, 13, 9))


def test_resume_before_the_pause_started_is_refused(book):
    r = new(book)
    book.pause(r["id"], "waiting", operator="ann", now=utc(2026, 2, 5, 9))
    with pytest.raises(UsageError, match="before the pause started"):
        book.resume(r["id"], operator="ann", now=utc(2026, 2, 4, 9))


def test_verification_restarts_the_uk_clock(book):
    r = new(book, received=utc(2026, 1, 10, 12))
    assert r["due_date"] == "2026-02-10"
    book.pause(r["id"], "asked for a passport copy", ground="identity", operator="ann", now=utc(2026, 1, 12, 9))
    r = book.verify(r["id"], "passport", operator="ann", now=utc(2026, 1, 20, 15))
    assert (r["status"], r["verify_method"], r["due_date"]) == ("verified", "passport", "2026-02-20")
    assert "clock" not in r
    with pytest.raises(UsageError, match="already verified at 2026-01-20T15:00:00"):
        book.verify(r["id"], "passport", operator="ann", now=utc(2026, 1, 21, 9))
    book.pause(r["id"], "clarify scope", operator="ann", now=utc(2026, 1, 22, 9))
    assert book.resume(r["id"], operator="ann", now=utc(2026, 1, 23, 9))["status"] == "verified"


def test_close_and_deny_are_final(book):
    r = new(book)
    book.pause(r["id"], "waiting", operator="ann", now=utc(2026, 2, 2, 9))
    closed = book.close(r["id"], "sent the package", operator="ann", now=utc(2026, 2, 3, 9))
    assert (closed["status"], closed["closed_at"], closed["outcome"]) == (
        "closed", "2026-02-03T09:00:00+00:00", "sent the package")
    assert closed["pauses"][-1]["end"] == "2026-02-03T09:00:00+00:00"  # closing ends the pause
    for action in (lambda: book.close(r["id"], None, operator="ann", now=utc(2026, 2, 4)),
                   lambda: book.deny(r["id"], "late", operator="ann", now=utc(2026, 2, 4)),
                   lambda: book.pause(r["id"], "x", operator="ann", now=utc(2026, 2, 4)),
                   lambda: book.verify(r["id"], None, operator="ann", now=utc(2026, 2, 4))):
        with pytest.raises(UsageError, match="it is closed"):
            action()
    d = new(book, "bob@example.com")
    with pytest.raises(UsageError, match="needs --reason"):
        book.deny(d["id"], "", operator="ann", now=utc(2026, 2, 4))
    denied = book.deny(d["id"], "identity not proven", operator="ann", now=utc(2026, 3, 5, 9))
    assert (denied["status"], denied["outcome"]) == ("denied", "identity not proven")
    assert list(book.audit.events(d["id"]))[-1]["data"]["days_late"] == 3


def test_unknown_request_id(book):
    with pytest.raises(UsageError, match="unknown request id 'R-2026-0404'"):
        book.get("R-2026-0404")
    with pytest.raises(UsageError, match="unknown request id"):
        book.close("nope", operator="ann", now=utc(2026, 1, 1))


def test_list_and_status_filter(book):
    a, b, c = new(book), new(book, "b@example.com"), new(book, "c@example.com")
    book.close(b["id"], operator="ann", now=utc(2026, 2, 2))
    book.pause(c["id"], "waiting", operator="ann", now=utc(2026, 2, 2))
    assert [r["id"] for r in book.list()] == [a["id"], b["id"], c["id"]]
    assert [r["id"] for r in book.list("active")] == [a["id"], c["id"]]
    assert [r["id"] for r in book.list("closed")] == [b["id"]]
    with pytest.raises(UsageError, match="unknown status 'done'"):
        book.list("done")


def test_lifecycle_keeps_the_log_verifiable_and_catches_row_edits(book):
    r = new(book)
    book.verify(r["id"], "email reply", operator="ann", now=utc(2026, 2, 1, 9))
    book.extend(r["id"], "complex", operator="ann", now=utc(2026, 2, 2, 9), notified_on=date(2026, 2, 2))
    book.close(r["id"], operator="ann", now=utc(2026, 3, 1, 9))
    assert book.audit.verify().ok
    book.audit.db.execute("UPDATE requests SET due_date = '2026-12-31' WHERE id = ?", [r["id"]])
    assert book.audit.verify().problems == [
        f"requests {r['id']}: differs from its last logged state (edited outside dsarctl)"]


# --- finding the request a run belongs to ---------------------------------------------------------------


def test_find_open_and_request_for_run(book):
    alice = Identifier("email", "alice@example.com")
    r = new(book, identifiers=[alice, Identifier("customer_id", "1042")])
    assert book.find_open([Identifier("customer_id", "1042")], "access")["id"] == r["id"]
    assert book.find_open([alice], "erasure") is None
    got, created = book.request_for_run([alice], "access", operator="ann", now=utc(2026, 2, 1))
    assert (got["id"], created) == (r["id"], False)
    got, created = book.request_for_run([alice], "erasure", operator="ann", now=utc(2026, 2, 1, 10))
    assert created and got["type"] == "erasure" and got["received_at"] == "2026-02-01T10:00:00+00:00"
    assert got["subject"] == "alice@example.com"
    got, created = book.request_for_run([alice], "access", request_id=r["id"], operator="ann",
                                        now=utc(2026, 2, 1))
    assert (got["id"], created) == (r["id"], False)
    book.close(r["id"], operator="ann", now=utc(2026, 2, 2))
    assert book.find_open([alice], "access") is None


# --- overdue --------------------------------------------------------------------------------------------


def test_overdue_orders_by_urgency(book):
    late = new(book, "late@example.com", received=utc(2026, 1, 5, 12))   # due 2026-02-05
    later = new(book, "later@example.com", received=utc(2026, 1, 2, 12))  # due 2026-02-02
    soon = new(book, "soon@example.com", received=utc(2026, 1, 12, 12))  # due 2026-02-12
    far = new(book, "far@example.com", received=utc(2026, 2, 5, 12))     # due 2026-03-05
    done = new(book, "done@example.com", received=utc(2026, 1, 3, 12))
    book.close(done["id"], operator="ann", now=utc(2026, 1, 20))
    task = book.audit.add_task(soon["id"], "analytics", processor="Google", operator="ann",
                               at=utc(2026, 1, 13))

    report = book.overdue(date(2026, 2, 9), within=7)
    assert [(r["id"], r["days_overdue"]) for r in report["overdue"]] == [(later["id"], 7), (late["id"], 4)]
    assert [(r["id"], r["days_overdue"]) for r in report["due_soon"]] == [(soon["id"], -3)]  # not `far`
    assert far["due_date"] == "2026-03-05"
    assert [(r["id"], r["days_left"]) for r in report["extension_notices"]] == [(soon["id"], 3)]
    assert [t["id"] for t in report["open_tasks"]] == [task]
    assert report["open_tasks"][0]["request_due_date"] == "2026-02-12"
    contract = {"id", "subject", "type", "status", "regime", "received_at", "due_date", "days_overdue"}
    assert contract <= set(report["overdue"][0])
    json.dumps(report)

    assert book.overdue(date(2026, 2, 9), within=0)["due_soon"] == []
    assert [r["id"] for r in book.overdue(date(2026, 2, 12), within=0)["due_soon"]] == [soon["id"]]
    assert book.overdue(date(2026, 1, 1), within=7) == {
        "today": "2026-01-01", "within": 7, "overdue": [], "due_soon": [], "extension_notices": [],
        "open_tasks": report["open_tasks"], "untrusted": []}
    with pytest.raises(UsageError, match="--within"):
        book.overdue(date(2026, 2, 9), within=-1)


def test_a_paused_request_is_not_overdue_while_its_clock_is_stopped(book):
    r = new(book, received=utc(2026, 1, 5, 12))  # due 2026-02-05
    book.pause(r["id"], "waiting for ID", operator="ann", now=utc(2026, 1, 20, 9))
    report = book.overdue(date(2026, 3, 1), within=7)
    assert report["overdue"] == []
    book.resume(r["id"], operator="ann", now=utc(2026, 3, 1, 9))
    (entry,) = book.overdue(date(2026, 3, 12), within=7)["due_soon"]
    assert entry["due_date"] == "2026-03-18"  # 2026-02-05 + 41 paused days (01-20 to 03-01, both included)
    assert entry["days_overdue"] == -6


def test_overdue_is_fast_on_100k_requests(book):
    rows = []
    base = date(2025, 1, 1)
    for n in range(100_000):
        due = base + timedelta(days=n % 700)
        status = ("open", "verified", "closed", "denied", "closed")[n % 5]
        rows.append({
            "id": f"R-2025-{n + 1:06d}", "subject": f"user{n}@example.com",
            "identifiers": f'["email:user{n}@example.com"]', "type": "access", "status": status,
            "regime": "uk-gdpr", "timezone": "Europe/London", "calendar": "GB-ENG",
            "received_at": f"{due - timedelta(days=30)}T12:00:00+00:00", "due_date": due.isoformat(),
            "extension_notice_due": due.isoformat(), "pauses": "[]", "extended": n % 3 == 0,
            "created_at": "2025-01-01T00:00:00+00:00", "created_by": "bulk",
        })
    # each row as the event that wrote it recorded it (what overdue compares a row with), counting the active
    # requests as dsarctl's events do; the chain's hashes are not what this test is about
    counted = itertools.accumulate(r["status"] in ("open", "verified") for r in rows)
    events = [{"seq": n + 1, "at": r["created_at"], "kind": "request.new", "request_id": r["id"], "operator": "bulk",
               "data": json.dumps({"status": r["status"], "due_date": r["due_date"], "active_requests": count,
                                  "row": {"table": "requests", "key": r["id"]}}), "prev_hash": "0", "hash": "0"}
              for n, (r, count) in enumerate(zip(rows, counted))]
    with book.audit.transaction():
        book.audit.db["requests"].insert_all(rows, batch_size=5000)
        book.audit.db["events"].insert_all(events, batch_size=5000)
    today = base + timedelta(days=350)
    start = time.perf_counter()
    report = book.overdue(today, within=7)
    elapsed = time.perf_counter() - start
    print(f"\noverdue() over 100k requests: {elapsed * 1000:.0f} ms, {len(report['overdue'])} overdue")
    active = [r for r in rows if r["status"] in ("open", "verified")]
    expected_overdue = sorted((r for r in active if r["due_date"] < today.isoformat()),
                              key=lambda r: (r["due_date"], r["id"]))
    assert [r["id"] for r in report["overdue"]] == [r["id"] for r in expected_overdue]
    assert report["overdue"][0]["days_overdue"] == 350
    horizon = (today + timedelta(days=7)).isoformat()
    assert len(report["due_soon"]) == sum(1 for r in active if today.isoformat() <= r["due_date"] <= horizon)
    assert len(report["extension_notices"]) == sum(
        1 for r in active if not r["extended"] and today.isoformat() <= r["due_date"] <= horizon)
    assert elapsed < 10  # generous: the point is the indexed query, timing is printed above
    assert report["untrusted"] == []
    plan = " ".join(str(row) for row in book.audit.db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM requests WHERE status IN ('open', 'verified') AND due_date <= ?",
        ["2026-01-01"]))
    assert "idx_requests_status_due_date" in plan


# --- helpers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20", datetime(2026, 11, 20, 0, 0, tzinfo=LONDON)),
    ("2026-07-01", datetime(2026, 7, 1, 0, 0, tzinfo=LONDON)),
    ("2026-11-20T14:30", datetime(2026, 11, 20, 14, 30, tzinfo=LONDON)),
    ("2026-11-20T14:30+01:00", datetime(2026, 11, 20, 13, 30, tzinfo=UTC)),
    ("2026-11-20T14:30:00Z", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
])
def test_parse_when(text, expected):
    value = parse_when(text, "Europe/London")
    assert value == expected and value.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "20/11/2026", "2026-13-01", ""])
def test_parse_when_rejects(text):
    with pytest.raises(UsageError, match="^--received: "):
        parse_when(text, "Europe/London")


def test_default_operator(monkeypatch):
    monkeypatch.setenv("DSARCTL_OPERATOR", "privacy-team")
    assert default_operator() == "privacy-team"
    monkeypatch.delenv("DSARCTL_OPERATOR")
    assert default_operator()


def test_every_overdue_query_is_served_by_an_index(book):
    """overdue() must never scan the requests table: its cost follows what it lists, not the log's size."""
    new(book)
    paused = new(book, "bob@example.com", received=utc(2026, 1, 5, 12))
    book.pause(paused["id"], "waiting for ID", operator="ann", now=utc(2026, 1, 20, 9))
    book.audit.add_task(None, "analytics", operator="ann", at=utc(2026, 1, 20, 9))
    statements: list[str] = []
    book.audit.conn.set_trace_callback(statements.append)
    try:
        book.overdue(date(2026, 3, 1), within=7)
    finally:
        book.audit.conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # the four lists, the check of the active rows against the log, and the count of the requests the log
    # holds as active (the latest request event's, one step down the (kind, seq) index per kind)
    assert len(selects) == 6, statements
    for sql in selects:
        plan = [row[-1] for row in book.audit.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        # (a SELECT without FROM, which gathers subqueries, is a "SCAN CONSTANT ROW": no table is read)
        assert not any(step.startswith("SCAN") and step != "SCAN CONSTANT ROW" for step in plan), (sql, plan)
        assert any("USING INDEX" in step or "USING COVERING INDEX" in step for step in plan), (sql, plan)


def test_untrusted_requests_compares_each_active_row_with_the_event_that_wrote_it_last(book):
    kept = new(book)  # due 2026-03-02
    edited = new(book, "bob@example.com")
    closed = new(book, "carol@example.com")
    book.close(closed["id"], operator="ann", now=utc(2026, 2, 2, 9))
    book.pause(kept["id"], "waiting for ID", operator="ann", now=utc(2026, 2, 2, 9))
    # events that do not write the row (a letter, a request.* kind without a row) change nothing
    book.audit.append("letter.acknowledge", {"lang": "en"}, request_id=kept["id"], operator="ann", at=utc(2026, 2, 3))
    book.audit.append("request.noted", {"note": "phoned"}, request_id=kept["id"], operator="ann", at=utc(2026, 2, 3))
    assert book.audit.untrusted_requests() == []
    with book.audit.transaction():
        book.audit.conn.execute("UPDATE requests SET due_date = '2026-12-31' WHERE id = ?", [edited["id"]])
        book.audit.conn.execute("UPDATE requests SET status = 'open' WHERE id = ?", [closed["id"]])
    assert [(u["id"], u["status"], u["due_date"], u["logged_status"], u["logged_due_date"])
            for u in book.audit.untrusted_requests()] == [
        (edited["id"], "open", "2026-12-31", "open", "2026-03-02"),
        (closed["id"], "open", closed["due_date"], "closed", closed["due_date"])]
    report = book.overdue(date(2026, 3, 5), within=7)
    assert [u["id"] for u in report["untrusted"]] == [edited["id"], closed["id"]]
    assert closed["id"] not in [e["id"] for e in report["overdue"] + report["due_soon"]]  # listed once, there
    assert not book.audit.verify().ok


def test_each_request_event_counts_the_requests_the_log_holds_as_active(book):
    def counts():
        return [e["data"].get("active_requests") for e in book.audit.events() if e["kind"].startswith("request.")]

    a = new(book)
    b = new(book, "bob@example.com")
    book.pause(a["id"], "waiting for ID", operator="ann", now=utc(2026, 2, 2, 9))
    book.close(b["id"], operator="ann", now=utc(2026, 2, 3, 9))
    book.resume(a["id"], operator="ann", now=utc(2026, 2, 4, 9))
    book.deny(a["id"], "identity not proven", operator="ann", now=utc(2026, 2, 5, 9))
    assert counts() == [1, 2, 2, 1, 1, 0]
    assert book.audit.logged_active_count() == 0
    with pytest.raises(ValueError, match="a request's row is written by one of"):
        book.audit.record("requests", {"id": a["id"]}, "request.noted", {"status": "open"}, operator="ann",
                          at=utc(2026, 2, 5, 9))


def test_overdue_reads_which_requests_are_open_from_the_log_not_the_rows(book):
    """A request closed or deleted outside dsarctl is named under `untrusted` with what the log recorded, in a
    log that counts its active requests and in one written before it did (read from every last event)."""
    closed = new(book)  # due 2026-03-02
    deleted = new(book, "bob@example.com")
    kept = new(book, "carol@example.com")
    answered = new(book, "dan@example.com")
    book.close(answered["id"], operator="ann", now=utc(2026, 2, 3, 9))
    with book.audit.transaction():
        book.audit.conn.execute("UPDATE requests SET status = 'closed' WHERE id = ?", [closed["id"]])
        book.audit.conn.execute("DELETE FROM requests WHERE id = ?", [deleted["id"]])
    expected = [
        (closed["id"], "alice@example.com", "closed", "open", "2026-03-02",
         "its stored row differs from what the audit log recorded (edited outside dsarctl)"),
        (deleted["id"], None, None, "open", "2026-03-02",
         "its row was deleted outside dsarctl (the audit log records it)"),
    ]

    def untrusted():
        report = book.overdue(date(2026, 3, 5), within=7)
        assert [e["id"] for e in report["overdue"]] == [kept["id"]]
        return [(u["id"], u["subject"], u["status"], u["logged_status"], u["logged_due_date"], u["problem"])
                for u in report["untrusted"]]

    assert book.audit.logged_active_count() == 3
    assert untrusted() == expected
    # a log written before events counted: the same answer, from every request's last logged state
    with book.audit.transaction():
        book.audit.conn.execute("UPDATE events SET data = json_remove(data, '$.active_requests')")
    assert book.audit.logged_active_count() is None
    assert untrusted() == expected
    # the next event counts from the log (3 active there, with kept's pause), never from the rows
    book.pause(kept["id"], "waiting for ID", operator="ann", now=utc(2026, 3, 5, 9))
    assert book.audit.logged_active_count() == 3
    assert untrusted() == expected


def test_overdue_computes_deadlines_only_for_paused_requests_that_can_be_listed(book, monkeypatch):
    import dsarctl.deadlines as deadlines

    for n in range(20):
        new(book, f"user{n}@example.com", received=utc(2026, 1, 2 + n, 12))
    early = new(book, "early@example.com", received=utc(2026, 1, 5, 12))  # due 2026-02-05
    late = new(book, "late@example.com", received=utc(2026, 1, 28, 12))  # due 2026-02-28
    book.pause(early["id"], "waiting for ID", operator="ann", now=utc(2026, 1, 20, 9))
    book.pause(late["id"], "waiting for ID", operator="ann", now=utc(2026, 1, 30, 9))
    calls = []
    real = deadlines.compute_deadline
    monkeypatch.setattr(deadlines, "compute_deadline", lambda t, **kw: calls.append(t) or real(t, **kw))
    report = book.overdue(date(2026, 2, 3), within=7)
    # the early one's stored due date (as of its pause) is within the window, so its deadline is computed
    # as of today (2026-02-05 + 15 paused days: not due this week); the late one's cannot be.
    assert len(calls) == 1
    assert early["id"] not in [e["id"] for e in report["overdue"] + report["due_soon"]]
    assert [e["id"] for e in report["overdue"]] == ["R-2026-0001"]  # received 01-02, due 02-02
    assert report["due_soon"][0]["id"] == "R-2026-0002" and len(report["due_soon"]) == 8  # received 01-03..01-10
