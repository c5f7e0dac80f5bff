"""Where find/export/erase runs meet the audit log, and the command line's clock.

`record_run` is the one hook the workflows (`dsarctl.workflows`) call after a run: it attaches the run to
a request, records per-system status and counts (never the records, never the identifiers), and opens a
manual task for each processor dsarctl cannot reach. Time and operator are passed in; only `now()`, the
command line's clock, reads the time. Heavy modules are imported inside the functions so that
`dsarctl overdue` (which imports this module for `now()`) stays fast.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any

# The request type a run answers when it is not attached explicitly (find attaches only with --request).
RUN_REQUEST_TYPES = {"export": "access", "erase": "erasure"}

_DIGEST = re.compile(r"[0-9a-f]{32,}")
_REDACTED = "(withheld: contains an identifier of the subject)"


def now() -> datetime:
    """The current time for the command line: $DSARCTL_NOW (ISO datetime) if set, else the clock.

    DSARCTL_NOW makes tests and demos reproducible (`DSARCTL_NOW=2026-03-10T09:00Z dsarctl overdue`).
    A value without an offset is UTC.
    """
    from .errors import UsageError

    text = os.environ.get("DSARCTL_NOW", "").strip()
    if not text:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise UsageError(f"DSARCTL_NOW: '{text}' is not an ISO datetime (2026-03-10T09:00+00:00)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def resolve_request(inventory, kind: str, identifiers: list, request_id: str | None = None, *, now: datetime,
                    operator: str, received: datetime | None = None) -> dict | None:
    """The request an export/erase run answers, settled BEFORE the run acts, so that the package's
    manifest and the tasks erase opens carry its id: `request_id` (UsageError when unknown, RefusedError
    when it names none of the subject's `identifiers`), else the
    subject's active request of the matching type, else a new one received at `received` (default `now`).
    Returns `{"id", "due_date", "created", "verified", "regime"}`, or None for kinds that do not attach by themselves
    (find).
    """
    from .audit_marker import open_audit
    from .requests import RequestBook

    if not request_id and (kind not in RUN_REQUEST_TYPES or not identifiers):
        return None
    with open_audit(inventory, create=True) as log:
        book = RequestBook(log, inventory)
        request, created = book.request_for_run(list(dict.fromkeys(identifiers)), RUN_REQUEST_TYPES.get(kind, "access"),
                                                request_id=request_id, operator=operator, now=now,
                                                received=received)
    return {"id": request["id"], "due_date": request["due_date"], "created": created,
            "verified": bool(request["verified_at"]), "regime": request["regime"]}


def check_request(inventory, request_id: str, identifiers: list) -> None:
    """Refuse (exit 2) a `--request` that is unknown or names none of the subject's `identifiers`, before
    a run acts (erase checks it before asking for confirmation; `resolve_request` and `record_run` check
    it again)."""
    from .audit_marker import open_audit
    from .requests import RequestBook

    with open_audit(inventory) as log:
        RequestBook(log, inventory).owned(request_id, identifiers)


def record_run(inventory, kind: str, result, *, now: datetime, operator: str, request_id: str | None = None,
               extra: dict[str, Any] | None = None, attach: bool = True, tasks: bool = True):
    """Record a run in the audit log, at `now`, by `operator`; returns the request it was attached to, or None.

    `result` is a `dsarctl.search.FindResult` (find, export) or an erase result (with `.plan`). The run
    attaches to `request_id` if given (UsageError, exit 2, when unknown; RefusedError, exit 2, when it is
    another subject's: nothing is recorded); else export and erase attach to
    the subject's oldest active request of the matching type (access / erasure), or open one received
    `now`; find without --request is recorded without a request, and so is a run with `attach=False` (a
    batch erase answering many requests). Returns `{"id", "due_date", "created"}`.
    An audit log locked past its timeout raises DsarError: a run the log does not know about must fail.
    """
    from .audit_marker import open_audit
    from .requests import RequestBook

    at = now
    given, identifiers = _identifiers(result)
    summary = _summary(result, extra, identifiers)
    with open_audit(inventory, create=True) as log:  # a run may start the log; a log used before must be there
        book = RequestBook(log, inventory)
        with log.transaction():
            request, created = None, False
            if request_id:
                request = book.owned(request_id, identifiers or given)
            elif attach and kind in RUN_REQUEST_TYPES and identifiers:
                request, created = book.request_for_run(
                    given + [i for i in identifiers if i not in given], RUN_REQUEST_TYPES[kind],
                    operator=operator, now=at)
            rid = request["id"] if request else None
            log.record_run(kind, rid, summary, operator=operator, at=at)
            if rid is not None and tasks:  # not for the search a verification compares with
                _open_manual_tasks(log, result, rid, request.get("type", "access"), operator, at)
    if request is None:
        return None
    return {"id": request["id"], "due_date": request["due_date"], "created": created}


def _identifiers(result) -> tuple[list, list]:
    """(given, all followed) identifiers of the subject of a find or erase result."""
    if hasattr(result, "provenance"):  # FindResult
        return list(result.given), list(result.identifiers)
    plan = getattr(result, "plan", None)
    idents = list(getattr(plan, "identifiers", None) or [])
    return idents[:1], idents


def _summary(result, extra: dict[str, Any] | None, identifiers: list) -> dict[str, Any]:
    """Counts and statuses only: what the audit log may keep forever."""
    summary: dict[str, Any] = {}
    if hasattr(result, "provenance"):
        kinds: dict[str, int] = {}
        for ident in identifiers:
            kinds[ident.kind] = kinds.get(ident.kind, 0) + 1
        systems = {}
        for name, sres in result.systems.items():
            entry: dict[str, Any] = {"status": sres.status, "count": sres.count}
            if sres.collections:
                colls = {}
                for cname, cres in sres.collections.items():
                    c: dict[str, Any] = {"status": cres.status, "count": len(cres.records)}
                    if cres.error:
                        c["error"] = cres.error
                    colls[cname] = c
                entry["collections"] = colls
            systems[name] = entry
        summary = {"total": result.total, "identifier_kinds": kinds, "rounds": result.rounds,
                   "systems": systems}
    needles = [str(i.value).lower() for i in identifiers if len(str(i.value)) >= 3]
    for key, value in (extra or {}).items():
        summary[key] = _scrub(value, needles)
    return _scrub(summary, needles)


def _scrub(value: Any, needles: list[str]) -> Any:
    """Withhold any text that contains an identifier of the subject (an export file name, an error)."""
    if isinstance(value, str):
        if _DIGEST.fullmatch(value):
            return value  # a hash: a short numeric identifier could appear in it by chance
        low = value.lower()
        return _REDACTED if any(n in low for n in needles) else value
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, needles) for v in value]
    return value


def _open_manual_tasks(log, result, request_id: str, request_type: str, operator: str, at: datetime) -> None:
    """One task per manual system and request, however many runs there are, with the processor's
    instruction for the request's type; none while nothing of the subject was found, unless the processor
    is marked `always_ask` (it holds data dsarctl cannot see)."""
    systems = getattr(result, "systems", None)
    if not systems:
        return  # erase opens its own tasks as part of carrying out the plan
    have = {t["system"] for t in log.tasks(request_id=request_id)}
    for name, sres in systems.items():
        if sres.status == "manual" and name not in have and (result.total or sres.system.always_ask):
            log.add_task(request_id, name, processor=sres.system.processor,
                         instructions=sres.system.instruction_for(request_type), operator=operator, at=at)
