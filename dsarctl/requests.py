"""Data subject requests: their lifecycle, due dates and what is overdue, kept in the audit log.

Statuses: `open` (received, identity not yet verified), `verified`, `paused` (clock stopped, waiting
for the subject), and the final `closed` (answered) and `denied` (refused, with a reason). Being extended
is a flag (`extended`), not a status. Every change is an audit event written in the same transaction as
the request row; the due date is recomputed and stored on every change, so `overdue()` reads only the
requests it lists, through indexed range queries, whatever the size of the log. Nothing here reads the
clock: callers pass `now` (an aware datetime) or `today`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from .audit import ACTIVE, AuditLog, utc_iso
from .errors import RefusedError, UsageError

if TYPE_CHECKING:
    from .deadlines import Deadline, Timeline
    from .identity import Identifier
    from .inventory.model import Inventory

# `deadlines` (and through it holidays and dateutil) is imported where a deadline is computed: listing
# requests and `overdue` use the stored due dates.

class DuplicateRequest(RefusedError):
    """The subject already has an open request of this type, and opening another was not confirmed."""


FINAL = ("closed", "denied")
STATUSES = ACTIVE + FINAL


def default_operator() -> str:
    """Who is acting: $DSARCTL_OPERATOR, else the login user."""
    name = os.environ.get("DSARCTL_OPERATOR", "").strip()
    if name:
        return name
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record something honest
        return "unknown"


def parse_when(text: str, tz: str) -> datetime:
    """Parse --received: an ISO date (00:00 that day in `tz`) or datetime (naive = in `tz`)."""
    from zoneinfo import ZoneInfo

    raw = text.strip()
    try:
        zone = ZoneInfo(tz)
    except Exception:
        raise UsageError(f"unknown time zone {tz!r}") from None
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(0, 0), zone)
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise UsageError(f"--received: '{text}' is not an ISO date (2026-11-20) or datetime "
                         "(2026-11-20T14:30+01:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def parse_date(text: str, option: str) -> date:
    """An ISO date given to `option` (e.g. --since); UsageError naming the option otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option}: '{text}' is not an ISO date (2026-11-20)") from None


@contextmanager
def request_book(inventory: "Inventory", *, create: bool = False) -> Iterator["RequestBook"]:
    """The inventory's RequestBook over its audit log, closed afterwards. The log is opened as
    `audit_marker.open_audit` opens it: a log used before and now missing is refused (exit 2), and only
    `create=True` (what records new work: a new request, a run) may start one."""
    from .audit_marker import open_audit

    with open_audit(inventory, create=create) as log:
        yield RequestBook(log, inventory)


class RequestBook:
    """Requests in an audit log, with deadlines from the inventory's controller settings.

    Request ids are `R-YYYY-NNNN`: the year the request was entered (controller zone) and a number
    counting up within that year (more than four digits once a year passes 9999).
    """

    def __init__(self, audit: AuditLog, inventory: "Inventory"):
        self.audit = audit
        self.inventory = inventory

    # --- reading ------------------------------------------------------------------------------------------

    def get(self, id: str, *, today: date | None = None) -> dict:
        """The request as a JSON-ready dict; UsageError if there is none with this id.

        With `today`, a paused request's due date counts the ongoing pause up to today.
        """
        return self._public(self._row(id), today)

    def list(self, status: str | None = None, *, today: date | None = None) -> list[dict]:
        """Requests in id order; `status` is one status, or "active" for open, verified and paused."""
        if status is None:
            rows = self.audit.query("SELECT * FROM requests ORDER BY id")
        else:
            wanted = _statuses(status)
            marks = ", ".join("?" for _ in wanted)
            rows = self.audit.query(f"SELECT * FROM requests WHERE status IN ({marks}) ORDER BY id", wanted)
        return [self._public(row, today) for row in rows]

    def find_open(self, identifiers: Iterable[Identifier | str], type: str) -> dict | None:
        """The oldest active request of `type` for any of these identifiers, or None."""
        idents = sorted({str(i) for i in identifiers})
        if not idents:
            return None
        marks = ", ".join("?" for _ in idents)
        row = self.audit.conn.execute(
            f"SELECT r.id FROM requests r JOIN request_identifiers i ON i.request_id = r.id "
            f"WHERE i.identifier IN ({marks}) AND r.type = ? AND r.status IN ('open', 'verified', 'paused') "
            f"ORDER BY r.received_at, r.id LIMIT 1",
            [*idents, type],
        ).fetchone()
        return self.get(row[0]) if row else None

    def owned(self, id: str, identifiers: Iterable[Identifier]) -> dict:
        """The request `id` when it shares an identifier with the subject of a run (its `identifiers`, as
        the search expanded them); UsageError when there is no such request, RefusedError when it is
        another subject's."""
        from .boundary import refuse_foreign_request

        request = self.get(id)
        refuse_foreign_request(request, identifiers, self.inventory.identities)
        return request

    def explain(self, id: str, today: date) -> list[str]:
        """Each step of the request's deadline computation, as of `today`."""
        row = self._row(id)
        return list(self._deadline(row, today).steps)

    def history(self, id: str) -> dict:
        """What was done for the request: its find/export/erase `runs` (summary parsed), manual `tasks`, and
        `letters` (its events whose kind starts with "letter"), each oldest first."""
        rid = self._row(id)["id"]
        return {"runs": self.audit.runs(rid), "tasks": self.audit.tasks(request_id=rid),
                "letters": list(self.audit.events(rid, kind_prefix="letter"))}

    # --- lifecycle ----------------------------------------------------------------------------------------

    def new(self, subject: str, type: str, received_at: datetime, *,
            identifiers: Iterable[Identifier] | None = None, regime: str | None = None,
            channel: str | None = None, note: str | None = None, appeal_of: str | None = None,
            since: date | None = None, allow_duplicate: bool = True,
            confirm_duplicate: Callable[[dict], bool] | None = None, operator: str, now: datetime) -> dict:
        """Open a request received at `received_at`; returns it. Event `request.new`.

        An `appeal` names the refused request it appeals (`appeal_of`: denied, the same subject's) and
        takes its regime; `since` is how far back a us-ca access request reaches (deadlines.check_request).

        A likely duplicate (an active request of the same type sharing an identifier; appeals excepted: a
        second appeal of one refusal is refused anyway) is opened only with `allow_duplicate`, or when
        `confirm_duplicate(the open request)` says yes (asked after every other check, outside any
        transaction: a person answering slowly holds no lock); else DuplicateRequest (exit 2). The new
        request's event names the request it duplicates.

        `subject` is parsed with the inventory's identity kinds unless `identifiers` are given (then the
        first is the subject). The stored `subject` is the bare value for e-mail and phone kinds
        ("alice@example.com"), `KIND:VALUE` otherwise.
        """
        from .deadlines import REGIME_IDS, REQUEST_TYPES

        if type not in REQUEST_TYPES:
            raise UsageError(f"unknown request type '{type}' (one of: {', '.join(REQUEST_TYPES)})")
        appealed = self._appealed(appeal_of, type, regime)
        regime = regime or (appealed["regime"] if appealed else None) or self.inventory.controller.regime
        if regime not in REGIME_IDS:
            raise UsageError(f"unknown regime '{regime}' (one of: {', '.join(REGIME_IDS)})")
        custom = None
        if regime == "custom":
            if not self.inventory.custom_regime:
                raise UsageError("regime 'custom' needs a 'custom_regime:' with a period in the inventory")
            custom = json.dumps(self.inventory.custom_regime, sort_keys=True)
        if identifiers:
            idents = list(identifiers)
        else:
            from .identity import parse_identifier

            idents = [parse_identifier(subject, self.inventory.identities)]
        first = idents[0]
        kinds = self.inventory.identities
        self_evident = first.kind in kinds and kinds[first.kind].type in ("email", "phone")
        shown = first.value if self_evident else str(first)
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise UsageError(f"--received: {received_at.isoformat()} has no time zone offset")
        if received_at > now:
            raise UsageError(f"--received: {received_at.isoformat()} is in the future")
        tz = self.inventory.controller.timezone
        _check_request(regime, type, _local_date(received_at, tz), since)
        if appealed:
            _check_appeal(appealed, idents, received_at, self.inventory.identities, self.audit)
        duplicate_of = None
        other = self.find_open(idents, type) if type != "appeal" else None
        if other:
            if not allow_duplicate and not (confirm_duplicate and confirm_duplicate(other)):
                raise DuplicateRequest(
                    f"{other['subject']} already has an open {type} request: {other['id']} (received "
                    f"{_local_date(datetime.fromisoformat(other['received_at']), tz)}, due "
                    f"{other['due_date']}); to open another, add --allow-duplicate")
            duplicate_of = other["id"]
        row = {
            "subject": shown, "identifiers": json.dumps(sorted({str(i) for i in idents})), "type": type,
            "status": "open", "regime": regime, "timezone": tz,
            "calendar": self.inventory.controller.holidays,
            "custom": custom, "received_at": utc_iso(received_at), "channel": channel, "note": note,
            "verified_at": None, "verify_method": None, "pauses": "[]", "extended": 0,
            "extension_reason": None, "created_at": utc_iso(now), "created_by": operator,
            "closed_at": None, "outcome": None,
            "appeal_of": appealed["id"] if appealed else None, "since": since.isoformat() if since else None,
        }
        with self.audit.transaction():
            row["id"] = self._next_id(now)
            self._schedule(row, now)
            self.audit.conn.executemany(
                "INSERT INTO request_identifiers (request_id, identifier) VALUES (?, ?)",
                [(row["id"], i) for i in json.loads(row["identifiers"])])
            self._save(row, "request.new", {"type": type, "regime": regime, "channel": channel, "note": note,
                                            "received_at": row["received_at"], "appeal_of": row["appeal_of"],
                                            "since": row["since"], "duplicate_of": duplicate_of}, operator, now)
        return self._public(row)

    def verify(self, id: str, method: str | None = None, *, evidence: dict | None = None,
               received: datetime | None = None, operator: str, now: datetime) -> dict:
        """Record that the subject's identity was verified (under uk-gdpr the clock starts again on the day
        the information confirming it arrived: `received`, default `now`, but only when that information was
        asked for, by a pause on the identity ground or a verify letter, while the request was not yet due;
        otherwise the result's `clock` says why the due date stays, and so does the event); `evidence`: the data points
        checked (verification.py: keyed hashes, never the values). A request paused on the `identity`
        ground is resumed: the information it waited for has come."""
        with self.audit.transaction():
            row = self._verifiable(id)
            when = received or now
            if when > now:
                raise UsageError(f"--received: {when.isoformat()} is in the future")
            if when < datetime.fromisoformat(row["received_at"]):
                raise UsageError(f"--received: {when.isoformat()} is before the request arrived "
                                 f"({row['received_at']})")
            row.update(verified_at=utc_iso(when), verify_method=method)
            resumed = None
            pauses = json.loads(row["pauses"])
            if row["status"] == "paused" and pauses[-1][2:] == ["identity"]:
                self._end_pause(row, now)  # it waited for this very information
                resumed = True
            if row["status"] == "open" or resumed:
                row["status"] = "verified"
            refused = self._schedule(row, now).restart_refused
            self._save(row, "request.verified", {"method": method, "resumed": resumed, **(evidence or {}),
                                                 "clock": refused}, operator, now)
        public = self._public(row)
        if refused:
            public["clock"] = refused  # one line: why the month did not start again (uk-gdpr)
        return public

    def check_verifiable(self, id: str) -> dict:
        """The request, if it can still be verified (active, not verified yet); UsageError otherwise."""
        return self._public(self._verifiable(id))

    def verification_failed(self, id: str, evidence: dict, *, operator: str, now: datetime) -> dict:
        """Record a verification that did not succeed (event `request.verification_failed`); the request
        stays as it was."""
        with self.audit.transaction():
            row = self._verifiable(id)
            self.audit.append("request.verification_failed", evidence, request_id=row["id"], operator=operator,
                              at=now)
        return self._public(row)

    def pause(self, id: str, reason: str, *, operator: str, now: datetime, ground: str | None = None) -> dict:
        """Stop the clock while waiting for the subject; refused where the regime never stops it. `ground`
        names why (deadlines.PAUSE_GROUNDS: identity, clarification, fee; UK GDPR Art. 12A)."""
        reason = _required(reason, "pause")
        from .deadlines import PAUSE_GROUNDS

        if ground is not None and ground not in PAUSE_GROUNDS:
            raise UsageError(f"--ground: unknown ground '{ground}' (one of: {', '.join(PAUSE_GROUNDS)})")
        with self.audit.transaction():
            row = self._active(id, "pause")
            if row["status"] == "paused":
                raise UsageError(f"request {row['id']} is already paused "
                                 f"(since {json.loads(row['pauses'])[-1][0]})")
            if not _regime_pauses(row):
                raise UsageError(f"request {row['id']}: {row['regime']} does not stop the clock while "
                                 f"waiting for the subject; it stays due on {row['due_date']}")
            pauses = json.loads(row["pauses"])
            pauses.append([utc_iso(now), None] + ([ground] if ground else []))
            row.update(status="paused", pauses=json.dumps(pauses))
            self._schedule(row, now)
            self._save(row, "request.paused", {"reason": reason, "ground": ground}, operator, now)
        return self._public(row)

    def resume(self, id: str, *, operator: str, now: datetime, note: str | None = None) -> dict:
        """Restart the clock of a paused request; the paused days (both ends) move the due date."""
        with self.audit.transaction():
            row = self._row(id)
            if row["status"] != "paused":
                raise UsageError(f"request {row['id']} is not paused (status: {row['status']})")
            self._end_pause(row, now)
            row["status"] = "verified" if row["verified_at"] else "open"
            self._schedule(row, now)
            self._save(row, "request.resumed", {"note": note}, operator, now)
        return self._public(row)

    def extend(self, id: str, reason: str, *, operator: str, now: datetime, allow_late: bool = False,
               notified_on: date | None = None) -> dict:
        """Extend the deadline where the regime allows it.

        Refused when the regime has no extension, when already extended, and (unless `allow_late`) when
        the date to notify the subject of an extension (end of the first period) has passed. Where the law
        demands that notice (`notice_required`), the subject must have been told: an extension letter in the
        log (`letter ID --kind extend`), or `notified_on`, the date they were told another way; a notice
        given after the notice date is refused, a notice given in time lets the extension be entered late.
        """
        reason = _required(reason, "extend")
        with self.audit.transaction():
            row = self._active(id, "extend")
            if row["extended"]:
                raise UsageError(f"request {row['id']} is already extended (due {row['due_date']})")
            today = _local_date(now, row["timezone"])
            deadline = self._deadline(row, today)
            if not deadline.extension_allowed:
                raise UsageError(f"request {row['id']}: {row['regime']} allows no extension "
                                 f"for {row['type']} requests")
            notice = deadline.extension_notice_due
            told = self._extension_notice(row, today, notified_on)
            in_time = told is not None and notice is not None and told[0] <= notice
            if notice is not None and today > notice and not allow_late and not in_time:
                raise UsageError(f"request {row['id']}: the subject had to be told of an extension by "
                                 f"{notice.isoformat()}; it is too late to extend")
            if notice_required(row["regime"], deadline):
                _check_notice(row, notice, told)
            row.update(extended=1, extension_reason=reason)
            self._schedule(row, now)
            self._save(row, "request.extended", {"reason": reason, "late": bool(notice and today > notice),
                                                 "notified_on": told[0].isoformat() if told else None,
                                                 "notified_by": told[1] if told else None},
                       operator, now)
        return self._public(row)

    def _extension_notice(self, row: dict, today: date, notified_on: date | None) -> tuple[date, str] | None:
        """(when, how) the subject was told of the extension: `notified_on` ("other"; UsageError when it is
        before receipt or after today), else the first extension letter in the log that was not a failed
        send ("letter"), else None."""
        received = _local_date(datetime.fromisoformat(row["received_at"]), row["timezone"])
        if notified_on is not None:
            if notified_on > today or notified_on < received:
                raise UsageError(f"--notified-on {notified_on.isoformat()}: must be between the request's receipt "
                                 f"({received.isoformat()}) and today ({today.isoformat()})")
            return notified_on, "other"
        # a letter whose --send failed is recorded with its error: it did not reach the subject that way
        # (sent by hand afterwards, it is entered with --notified-on)
        letter = self.audit.conn.execute(
            "SELECT at FROM events WHERE request_id = ? AND kind = 'letter.extend' "
            "AND NOT (json_valid(data) AND json_extract(data, '$.send_error') IS NOT NULL) ORDER BY seq LIMIT 1",
            [row["id"]]).fetchone()
        return (_local_date(datetime.fromisoformat(letter[0]), row["timezone"]), "letter") if letter else None

    def deadline(self, id: str, today: date, *, extended: bool | None = None) -> "Deadline":
        """The request's deadline as of `today`; with `extended`, as it is (or would be) with or without
        the extension (an extension letter names the date before the extension is recorded)."""
        from dataclasses import replace

        from .deadlines import compute_deadline

        row = self._row(id)
        timeline = self._timeline(row)
        if extended is not None:
            timeline = replace(timeline, extended=extended)
        try:
            return compute_deadline(timeline, today=today)
        except ValueError as exc:
            raise UsageError(f"request {row['id']}: {exc}") from None

    def close(self, id: str, note: str | None = None, *, operator: str, now: datetime) -> dict:
        """Close an answered request (ends any pause); the event records how many days late it was."""
        return self._finish(id, "closed", note, operator, now)

    def deny(self, id: str, reason: str, *, operator: str, now: datetime) -> dict:
        """Refuse a request, with the reason (e.g. manifestly unfounded, identity not proven)."""
        return self._finish(id, "denied", _required(reason, "deny"), operator, now)

    def request_for_run(self, identifiers: Iterable[Identifier], type: str, *, request_id: str | None = None,
                        subject: str | None = None, operator: str, now: datetime,
                        received: datetime | None = None) -> tuple[dict, bool]:
        """The request an export/erase run belongs to: `request_id` (RefusedError unless it names one of
        `identifiers`: see `owned`), else the subject's active request of `type`, else a new one received
        at `received` (default `now`). Returns (request, whether it was created)."""
        if request_id:
            return self.owned(request_id, identifiers), False
        idents = list(identifiers)
        if not idents:
            raise UsageError("a run needs at least one identifier of the subject")
        with self.audit.transaction():
            found = self.find_open(idents, type)
            if found:
                return found, False
            return self.new(subject or str(idents[0]), type, received or now, identifiers=idents,
                            operator=operator, now=now), True

    # --- what needs doing ---------------------------------------------------------------------------------

    def overdue(self, today: date, within: int = 7) -> dict:
        """Active requests past due and due within `within` days, pending extension notices, open tasks,
        and the requests whose stored row cannot be trusted (`untrusted`, see `AuditLog.untrusted_requests`:
        an active row that is not what the log recorded, or a request the log records as active whose row
        was closed or deleted outside dsarctl): those are listed there only, with what the log recorded.

        Each list is most urgent first. Request entries carry `days_overdue` (negative: days left).
        `today` is the controller's local date.
        """
        if within < 0:
            raise UsageError(f"--within must be 0 or more, got {within}")
        horizon = (today + timedelta(days=within)).isoformat()
        # Every query below is a range on an index ((status, due_date), (status, extension_notice_due),
        # tasks' status): the work follows the number of requests listed, not the size of the log.
        # A paused request's due date moves a day later for every day of the pause, so the date stored
        # when it was paused is a lower bound: only those stored within the horizon can be due within it,
        # and only for them is the deadline computed as of today.
        untrusted = self.audit.untrusted_requests()
        suspect = {u["id"] for u in untrusted}
        entries = [self._public(r) for r in self.audit.query(
            "SELECT * FROM requests WHERE status IN ('open', 'verified') AND due_date <= ? "
            "ORDER BY due_date, id", [horizon]) if r["id"] not in suspect]
        for r in self.audit.query("SELECT * FROM requests WHERE status = 'paused' AND due_date <= ?", [horizon]):
            entry = self._public(r, today) if r["id"] not in suspect else None
            if entry and entry["due_date"] <= horizon:
                entries.append(entry)
        for entry in entries:
            entry["days_overdue"] = _days_overdue(entry["due_date"], today)
        entries.sort(key=lambda e: (e["due_date"], e["id"]))
        notices = []
        for r in self.audit.query(
                "SELECT * FROM requests WHERE status IN ('open', 'verified', 'paused') AND extended = 0 "
                "AND extension_notice_due BETWEEN ? AND ? ORDER BY extension_notice_due, id",
                [today.isoformat(), horizon]):
            if r["id"] in suspect:
                continue
            entry = self._public(r)
            entry["days_left"] = (date.fromisoformat(r["extension_notice_due"]) - today).days
            notices.append(entry)
        tasks = self.audit.query(
            "SELECT t.*, r.due_date AS request_due_date FROM tasks t "
            "LEFT JOIN requests r ON r.id = t.request_id WHERE t.status = 'open' "
            "ORDER BY r.due_date IS NULL, r.due_date, t.id")
        return {
            "today": today.isoformat(),
            "within": within,
            "overdue": [e for e in entries if e["days_overdue"] > 0],
            "due_soon": [e for e in entries if e["days_overdue"] <= 0],
            "extension_notices": notices,
            "open_tasks": tasks,
            "untrusted": untrusted,
        }

    # --- internals ----------------------------------------------------------------------------------------

    def _appealed(self, appeal_of: str | None, type: str, regime: str | None) -> dict | None:
        """The refused request an appeal names (None for other types); UsageError when one is missing,
        misplaced or under another regime."""
        if type != "appeal":
            if appeal_of:
                raise UsageError(f"--appeal-of is for appeal requests only, not {type} requests")
            return None
        if not appeal_of:
            raise UsageError("an appeal needs --appeal-of: the id of the refused request it appeals")
        appealed = self._row(appeal_of)
        if regime and regime != appealed["regime"]:
            raise UsageError(f"the appeal of {appealed['id']} is under its regime {appealed['regime']}, "
                             f"not {regime}")
        return appealed

    def _row(self, id: str) -> dict:
        key = (id or "").strip().upper()
        rows = self.audit.query("SELECT * FROM requests WHERE id = ?", [key])
        if not rows:
            raise UsageError(f"unknown request id '{id}' (see: dsarctl request list)")
        return rows[0]

    def _verifiable(self, id: str) -> dict:
        row = self._active(id, "verify")
        if row["verified_at"]:
            raise UsageError(f"request {row['id']} was already verified at {row['verified_at']}")
        return row

    def _active(self, id: str, action: str) -> dict:
        row = self._row(id)
        if row["status"] in FINAL:
            raise UsageError(f"cannot {action} request {row['id']}: "
                             f"it is {row['status']} ({row['closed_at']})")
        return row

    def _finish(self, id: str, status: str, text: str | None, operator: str, now: datetime) -> dict:
        with self.audit.transaction():
            row = self._active(id, "close" if status == "closed" else "deny")
            if row["status"] == "paused":
                self._end_pause(row, now)
            row.update(status=status, closed_at=utc_iso(now), outcome=text)
            self._schedule(row, now)
            late = _days_overdue(row["due_date"], _local_date(now, row["timezone"]))
            self._save(row, f"request.{status}", {"note" if status == "closed" else "reason": text,
                                                  "days_late": max(late, 0)}, operator, now)
        return self._public(row)

    def _end_pause(self, row: dict, now: datetime) -> None:
        pauses = json.loads(row["pauses"])
        start = datetime.fromisoformat(pauses[-1][0])
        if now < start:
            raise UsageError(f"request {row['id']}: cannot resume at {utc_iso(now)}, "
                             f"before the pause started ({pauses[-1][0]})")
        pauses[-1][1] = utc_iso(now)
        row["pauses"] = json.dumps(pauses)

    def _next_id(self, now: datetime) -> str:
        year = _local_date(now, self.inventory.controller.timezone).year
        prefix = f"R-{year}-"
        last = self.audit.conn.execute(
            "SELECT MAX(CAST(substr(id, ?) AS INTEGER)) FROM requests WHERE id >= ? AND id < ?",
            [len(prefix) + 1, prefix, f"R-{year}."],
        ).fetchone()[0]
        return f"{prefix}{(last or 0) + 1:04d}"

    def _timeline(self, row: dict) -> "Timeline":
        from .deadlines import CustomRegime, Pause, Timeline

        custom = None
        if row["custom"]:
            c = json.loads(row["custom"])
            custom = CustomRegime(period=c["period"], extension=c.get("extension"),
                                  pause=bool(c.get("pause", False)), roll=bool(c.get("roll", True)))
        return Timeline(
            regime=row["regime"],
            received_at=datetime.fromisoformat(row["received_at"]),
            timezone=row["timezone"],
            calendar=row["calendar"],
            request_type=row["type"],
            verified_at=datetime.fromisoformat(row["verified_at"]) if row["verified_at"] else None,
            pauses=tuple(Pause(datetime.fromisoformat(s), datetime.fromisoformat(e) if e else None,
                               ground[0] if ground else None)
                         for s, e, *ground in json.loads(row["pauses"])),
            extended=bool(row["extended"]),
            custom=custom,
            identity_asked_at=self._verify_letter(row),
        )

    def _verify_letter(self, row: dict) -> datetime | None:
        """When the first verify letter (asking the subject for identity information) was written, where it
        can matter: a verified uk-gdpr request (its clock restarts only on information asked for). A letter
        whose --send failed did not ask."""
        if row["regime"] != "uk-gdpr" or not row["verified_at"]:
            return None
        letter = self.audit.conn.execute(
            "SELECT at FROM events WHERE request_id = ? AND kind = 'letter.verify' "
            "AND NOT (json_valid(data) AND json_extract(data, '$.send_error') IS NOT NULL) ORDER BY seq LIMIT 1",
            [row["id"]]).fetchone()
        return datetime.fromisoformat(letter[0]) if letter else None

    def _deadline(self, row: dict, today: date) -> "Deadline":
        from .deadlines import compute_deadline

        try:
            return compute_deadline(self._timeline(row), today=today)
        except ValueError as exc:
            raise UsageError(f"request {row['id']}: {exc}") from None

    def _schedule(self, row: dict, now: datetime) -> "Deadline":
        """Store the due dates as of `now` (a paused request's grows daily; see get(today=...))."""
        d = self._deadline(row, _local_date(now, row["timezone"]))
        row["due_date"] = d.due_date.isoformat()
        row["extension_notice_due"] = d.extension_notice_due.isoformat() if d.extension_notice_due else None
        row["confirm_receipt_due"] = d.confirm_receipt_due.isoformat() if d.confirm_receipt_due else None
        return d

    def _save(self, row: dict, kind: str, data: dict, operator: str, now: datetime) -> None:
        data = {k: v for k, v in data.items() if v is not None}
        data.update(status=row["status"], due_date=row["due_date"])
        self.audit.record("requests", row, kind, data, request_id=row["id"], operator=operator, at=now)

    def _public(self, row: dict, today: date | None = None) -> dict:
        due = row["due_date"]
        notice = row["extension_notice_due"]
        if today is not None and row["status"] == "paused":
            d = self._deadline(row, today)
            due = d.due_date.isoformat()
            notice = d.extension_notice_due.isoformat() if d.extension_notice_due else None
        return {
            "id": row["id"],
            "subject": row["subject"],
            "identifiers": json.loads(row["identifiers"]),
            "type": row["type"],
            "status": row["status"],
            "regime": row["regime"],
            "received_at": row["received_at"],
            "due_date": due,
            "extended": bool(row["extended"]),
            "extension_notice_due": notice,
            "confirm_receipt_due": row["confirm_receipt_due"],
            "verified_at": row["verified_at"],
            "verify_method": row["verify_method"],
            "pauses": [{"start": s, "end": e, **({"ground": g[0]} if g else {})}
                       for s, e, *g in json.loads(row["pauses"])],
            "channel": row["channel"],
            "note": row["note"],
            "extension_reason": row["extension_reason"],
            "closed_at": row["closed_at"],
            "outcome": row["outcome"],
            "appeal_of": row.get("appeal_of"),
            "since": row.get("since"),
            "created_at": row["created_at"],
            "created_by": row["created_by"],
        }


def _statuses(status: str) -> tuple[str, ...]:
    if status == "active":
        return ACTIVE
    if status not in STATUSES:
        raise UsageError(f"unknown status '{status}' (one of: active, {', '.join(STATUSES)})")
    return (status,)


def _required(text: str | None, action: str) -> str:
    if not text or not text.strip():
        raise UsageError(f"request {action} needs --reason")
    return text.strip()


def notice_required(regime: str, deadline: "Deadline") -> bool:
    """Whether the law makes an extension depend on telling the subject within the first period, with the
    reasons: every regime that has an extension and a notice date (GDPR Art. 12(3), the CCPA, the US states,
    PIPEDA s.8(4), ...), but not `custom` (the controller's own promise)."""
    return regime != "custom" and deadline.extension_allowed and deadline.extension_notice_due is not None


def _check_notice(row: dict, notice: date, told: tuple[date, str] | None) -> None:
    """UsageError, one line, when the subject was not told of the extension, or told after `notice`."""
    if told is None:
        raise UsageError(f"request {row['id']}: {row['regime']} requires telling the subject of an extension, "
                         f"with the reasons, by {notice.isoformat()}: write the letter first (dsarctl letter "
                         f"{row['id']} --kind extend --reason ...), or give the date they were told another "
                         f"way with --notified-on DATE")
    if told[0] > notice:
        raise UsageError(f"request {row['id']}: the subject was told of the extension on {told[0].isoformat()}, "
                         f"after {notice.isoformat()}, the last day {row['regime']} allows; the extension "
                         "cannot be recorded")


def _regime_pauses(row: dict) -> bool:
    if row["regime"] == "custom":
        return bool(json.loads(row["custom"] or "{}").get("pause", False))
    from .deadlines import _RULES

    return _RULES[row["regime"]].pause


def _local_date(at: datetime, tz: str) -> date:
    from .deadlines import local_date

    return local_date(at, tz)


def _days_overdue(due_date: str, today: date) -> int:
    """Days past the stored due date (deadlines.days_overdue, without importing deadlines)."""
    return (today - date.fromisoformat(due_date)).days


def _check_request(regime: str, type: str, received: date, since: date | None) -> None:
    from .deadlines import check_request

    try:
        check_request(regime, type, received, since=since)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_appeal(appealed: dict, identifiers: list, received_at: datetime, kinds: dict,
                  audit: AuditLog) -> None:
    """Refuse an appeal of a request that was not refused, is itself an appeal, is another subject's,
    was refused after the appeal arrived, or is appealed already."""
    from .boundary import refuse_foreign_request

    rid = appealed["id"]
    if appealed["type"] == "appeal":
        raise UsageError(f"{rid} is itself an appeal: when an appeal is denied, the subject may complain to "
                         "the attorney general; there is no second appeal")
    if appealed["status"] != "denied":
        raise UsageError(f"{rid} is {appealed['status']}, not denied: only a refused request can be appealed "
                         f"(record the refusal with: dsarctl request deny {rid} --reason ...)")
    refuse_foreign_request({"id": rid, "identifiers": json.loads(appealed["identifiers"])}, identifiers, kinds)
    if received_at < datetime.fromisoformat(appealed["closed_at"]):
        raise UsageError(f"--received: the appeal cannot arrive before {rid} was refused "
                         f"({appealed['closed_at']})")
    other = audit.query("SELECT id FROM requests WHERE appeal_of = ? LIMIT 1", [rid])
    if other:
        raise UsageError(f"{rid} is already appealed: {other[0]['id']}")
