"""The workflows: find, export, erase (and replay), and opening a request, as a library caller runs them.

Each workflow owns the legal steps around its core, so that no caller can skip them:

- the audit log is opened as `audit_marker.open_audit` opens it: a log this inventory used before and that
  is now missing is refused (exit 2) before anything is searched or written;
- a `request_id` must belong to the subject (RefusedError, exit 2, nothing written or recorded), and an
  ambiguous subject (two values of a `unique` identity kind) is refused by export and erase;
- export and erase attach the run to a request: `request_id`, else the subject's active request of the
  matching type (access / erasure), else a new one received at `received` (default `now`);
- the run is recorded in the audit log (counts and statuses, never the data); an access package that the
  log refuses to record is deleted, since a package the log does not know about must not be sent;
- an erase holds the erase lock (one at a time per audit log), first finishes erasures that were
  interrupted, and changes nothing unless `confirm(plan)` says yes.

The command line parses its arguments, calls one of these, and renders what it returns. Time is injected:
`now` (an aware datetime) is a parameter, and nothing here reads the clock. Heavy modules are imported
inside the functions: `dsarctl find` runs `find` without typer, rich or sqlite-utils.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from .errors import RefusedError

if TYPE_CHECKING:
    from .erase import EraseResult, Plan
    from .erase.apply import RunResult
    from .export import ExportResult
    from .identity import Identifier
    from .inventory.model import Inventory
    from .search import FindResult

# `progress(text)` names each collection as it is searched; `progress(None)` says the search is over.
Progress = Callable[[Optional[str]], None]


class NotConfirmed(RefusedError):
    """The erase's `confirm` callback said no: nothing was changed."""


@dataclass
class FindRun:
    """A find as recorded: the search's result and the request it was filed under (only with `request_id`)."""

    result: "FindResult"
    request: dict[str, Any] | None = None  # {"id", "due_date", "created"}

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        if self.request:
            data["request"] = self.request
        return data


@dataclass
class ExportRun:
    """An export as recorded: the search, the package written (None when nothing was found: no package), and
    the request the run was attached to."""

    find: "FindResult"
    package: "ExportResult | None"
    request: dict[str, Any] | None = None

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        """(system, collection, error) of every source that failed; the package was written without them."""
        return list(self.package.failures) if self.package else list(self.find.failures)

    def failure_lines(self) -> list[str]:
        """One line per system and message that failed (`search.failure_lines`)."""
        from .search import failure_lines

        return failure_lines(self.failures)

    def to_dict(self) -> dict[str, Any]:
        if self.package is None:
            return {"file": None, "total": 0, "subject": [str(i) for i in self.find.given],
                    "failures": [{"system": s, "collection": c, "error": e} for s, c, e in self.failures]}
        data = self.package.to_dict()
        if self.request:
            data["request"] = self.request
        return data


@dataclass
class EraseRun:
    """An erase as recorded: the plan, what was done (None for a dry run) and the request it answers."""

    plan: "Plan"
    result: "EraseResult | None"
    request: dict[str, Any] | None = None
    dry_run: bool = False

    @property
    def problems(self) -> list[str]:
        """What failed or was not erased (empty for a dry run: nothing was attempted)."""
        return self.result.problems if self.result else []

    @property
    def resumed_problems(self) -> list[str]:
        """Systems of interrupted runs finished first that still fail (exit 3 too)."""
        return self.result.resumed_problems if self.result else []

    def to_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"dry_run": True, "plan": self.plan.to_dict()}
        data = self.result.to_dict()
        if self.request:
            data["request"] = self.request
        return data


# --- find -------------------------------------------------------------------------------------------------


def find(inventory: "Inventory", identifiers: list["Identifier"], *, now: datetime, operator: str,
         request_id: str | None = None, expand: bool = True, progress: Progress | None = None) -> FindRun:
    """Where the subject's data is, recorded in the audit log as a find run (under `request_id` when given:
    UsageError when unknown, RefusedError when it is another subject's, and then nothing is recorded)."""
    from . import runs
    from .search import find_subject

    result = _searching(progress, lambda p: find_subject(inventory, identifiers, expand=expand, progress=p,
                                                         contents=False))
    recorded = runs.record_run(inventory, "find", result, request_id=request_id, now=now, operator=operator)
    return FindRun(result, recorded)


# --- export -----------------------------------------------------------------------------------------------


def export(inventory: "Inventory", identifiers: list["Identifier"], *, output: Path | str, now: datetime,
           operator: str, request_id: str | None = None, received: datetime | None = None, expand: bool = True,
           progress: Progress | None = None) -> ExportRun:
    """Write the subject's access package to `output` (never replacing a file), attached to a request and
    recorded in the audit log. Refused (exit 2, nothing written, nothing recorded): a missing audit log, a
    taken file name, an ambiguous subject, another subject's `request_id`. Nothing found: no package, the run
    is still recorded. A run the audit log refuses to record deletes the package it wrote."""
    from . import runs
    from .audit_marker import open_audit
    from .boundary import refuse_ambiguous
    from .export import check_target, write_package
    from .search import find_subject

    open_audit(inventory, create=True).close()  # a log used before and now missing: refused before searching
    target = Path(output)
    check_target(target.absolute())  # a taken name is known before the search
    result = _searching(progress, lambda p: find_subject(inventory, identifiers, expand=expand, progress=p))
    refuse_ambiguous([result], "exporting")  # before a request is opened or anything is written
    attached = runs.resolve_request(inventory, "export", result.given + result.identifiers, request_id,
                                    now=now, operator=operator, received=received)
    request_id = attached["id"] if attached else request_id
    if result.total == 0:
        recorded = runs.record_run(inventory, "export", result, request_id=request_id, now=now, operator=operator,
                                   extra={"zip_sha256": None, "file": None})
        return ExportRun(result, None, _request(recorded, attached))
    package = write_package(inventory, result, target, now=now, request_id=request_id,
                            verified=bool(attached and attached.get("verified")),
                            regime=attached.get("regime") if attached else None)
    try:
        recorded = runs.record_run(inventory, "export", result, request_id=request_id, now=now, operator=operator,
                                   extra={"zip_sha256": package.sha256, "file": str(package.path)})
    except BaseException:
        os.unlink(package.path)  # a package the audit log does not know about must not be sent
        raise
    return ExportRun(result, package, _request(recorded, attached))


# --- erase ------------------------------------------------------------------------------------------------


def erase(inventory: "Inventory", identifiers: list["Identifier"], *, confirm: Callable[["Plan"], bool],
          now: datetime, operator: str, request_id: str | None = None, received: datetime | None = None,
          dry_run: bool = False, progress: Progress | None = None, on_wait: Callable[[str], None] | None = None,
          on_resumed: Callable[["RunResult"], None] | None = None, wait: float | None = None) -> EraseRun:
    """Plan the erasure of one subject, ask `confirm(plan)`, carry it out, search again, attach the run to a
    request and record it (see `erase_batch` for the steps and the callbacks)."""
    return _erase(inventory, [list(identifiers)], batch=False, confirm=confirm, now=now, operator=operator,
                  request_id=request_id, received=received, dry_run=dry_run, progress=progress, on_wait=on_wait,
                  on_resumed=on_resumed, wait=wait)


def erase_batch(inventory: "Inventory", subjects: list[list["Identifier"]], *, confirm: Callable[["Plan"], bool],
                now: datetime, operator: str, request_id: str | None = None, dry_run: bool = False,
                progress: Progress | None = None, on_wait: Callable[[str], None] | None = None,
                on_resumed: Callable[["RunResult"], None] | None = None, wait: float | None = None,
                suppress_unmatched: bool = False) -> EraseRun:
    """Erase several subjects in one run (each file source rewritten once). A batch answers many requests:
    the run is attached to one only when `request_id` names it, and recorded as a batch. The plan and the
    result say what each subject's part is (`subjects`); a subject found nowhere is listed as such and gets
    no suppression entry unless `suppress_unmatched`.

    Steps: refuse a missing audit log; take the erase lock, waiting up to `wait` seconds
    ($DSARCTL_ERASE_WAIT, default 600; `on_wait(message)` is told once when the wait starts; EraseBusy after
    it); finish interrupted erasures (`on_resumed(run)` for each); search and plan (refusing an ambiguous
    subject); refuse another subject's `request_id`; with `dry_run`, return the plan there. When the plan
    changes anything, `confirm(plan)` must return True (else NotConfirmed, nothing changed); then erase,
    search again, attach and record the run, and release the lock."""
    return _erase(inventory, [list(s) for s in subjects], batch=True, confirm=confirm, now=now, operator=operator,
                  request_id=request_id, received=None, dry_run=dry_run, progress=progress, on_wait=on_wait,
                  on_resumed=on_resumed, wait=wait, suppress_unmatched=suppress_unmatched)


def _erase(inventory, subjects, *, batch: bool, confirm, now, operator, request_id, received, dry_run, progress,
           on_wait, on_resumed, wait, suppress_unmatched: bool = False) -> EraseRun:
    from . import erase as erasing
    from . import runs
    from .audit_marker import open_audit
    from .erase.apply import install_key

    open_audit(inventory, create=not dry_run).close()  # a log used before and now missing: refused first
    with _erase_lock(inventory, operator=operator, now=now, wait=wait, on_wait=on_wait, take=not dry_run):
        resumed = [] if dry_run else erasing.resume_unfinished(inventory, operator=operator, now=now)
        for run in resumed:
            if on_resumed:
                on_resumed(run)
        plan = _searching(progress, lambda p: erasing.prepare(inventory, subjects, now=now, progress=p, batch=batch,
                                                              suppress_unmatched=suppress_unmatched))
        if request_id:
            runs.check_request(inventory, request_id, plan.identifiers)  # refused before asking
        if dry_run:
            return EraseRun(plan, None, dry_run=True)
        if erasing.actionable(plan) and not confirm(plan):
            raise NotConfirmed("the erasure was not confirmed; nothing was changed")
        attached = None
        if not batch or request_id:
            attached = runs.resolve_request(inventory, "erase", plan.identifiers, request_id, now=now,
                                            operator=operator, received=received)
        request_id = attached["id"] if attached else request_id
        result = erasing.carry_out(inventory, plan, operator=operator, now=now, request_id=request_id)
        result.resumed = resumed
        recorded = runs.record_run(inventory, "erase", result, request_id=request_id, now=now, operator=operator,
                                   extra={**result.audit_summary(install_key(inventory)),
                                          **({"batch": True} if batch else {})},
                                   attach=not batch)
    return EraseRun(plan, result, _request(recorded, attached))


def replay(inventory: "Inventory", *, confirm: Callable[[], bool], now: datetime, operator: str,
           on_wait: Callable[[str], None] | None = None, wait: float | None = None) -> EraseRun:
    """Re-apply every recorded erasure to sources restored from a backup (to the erased people's records
    only: see `erase.replay`), under the erase lock, once `confirm()` says yes; recorded as an erase run."""
    from . import erase as erasing
    from . import runs
    from .audit_marker import open_audit
    from .erase.apply import install_key

    open_audit(inventory, create=True).close()
    with _erase_lock(inventory, operator=operator, now=now, wait=wait, on_wait=on_wait):
        if not confirm():
            raise NotConfirmed("the replay was not confirmed; nothing was changed")
        result = erasing.replay(inventory, operator=operator, now=now)
        recorded = runs.record_run(inventory, "erase", result, now=now, operator=operator,
                                   extra={"replay": True, **result.audit_summary(install_key(inventory))})
    return EraseRun(result.plan, result, recorded)


@contextmanager
def _erase_lock(inventory, *, operator: str, now: datetime, wait: float | None,
                on_wait: Callable[[str], None] | None, take: bool = True) -> Iterator[None]:
    """The erase lock (erase/runlock.py), held for the block: the plan confirmed is the plan carried out."""
    if not take:
        yield
        return
    from .erase import runlock
    from .erase.apply import audit_dir

    release = runlock.hold(audit_dir(inventory), operator=operator, now=now,
                           wait=runlock.wait_limit() if wait is None else wait, on_wait=on_wait)
    try:
        yield
    finally:
        release()


# --- requests ---------------------------------------------------------------------------------------------


def open_request(inventory: "Inventory", identifiers: list["Identifier"], type: str, *, now: datetime,
                 operator: str, received: datetime | None = None, regime: str | None = None,
                 channel: str | None = None, note: str | None = None, appeal_of: str | None = None,
                 since: date | None = None, allow_duplicate: bool = False,
                 confirm_duplicate: Callable[[dict], bool] | None = None) -> dict[str, Any]:
    """Open a request for the subject (the first identifier names it) received at `received` (default
    `now`), recorded as a `request.new` event; the one request step that may start the audit log. Every
    later step is a method of the RequestBook that `requests.request_book(inventory)` opens.

    A likely duplicate (an active request of the same type sharing an identifier with this one; appeals
    excepted, see `RequestBook.new`) is opened
    only with `allow_duplicate`, or when `confirm_duplicate(open_request)` says yes; else
    `requests.DuplicateRequest` (exit 2), naming the open request (see `RequestBook.new`)."""
    from .requests import request_book

    idents = list(identifiers)
    if not idents:
        from .errors import UsageError

        raise UsageError("a request needs at least one identifier of the subject")
    with request_book(inventory, create=True) as book:
        return book.new(str(idents[0]), type, received or now, identifiers=idents, regime=regime,
                        channel=channel, note=note, appeal_of=appeal_of, since=since, operator=operator,
                        now=now, allow_duplicate=allow_duplicate, confirm_duplicate=confirm_duplicate)


@dataclass
class Verification:
    """A `request verify --match` as recorded: each data point checked, the verdict, and the request."""

    request: dict[str, Any]
    checks: list[Any]  # verification.Check
    verified: bool
    why: str
    minimum: int
    failures: list[tuple[str, str, str]]

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "verified": self.verified, "why": self.why, "minimum": self.minimum,
                "checks": [c.to_dict() for c in self.checks],
                "failures": [{"system": s, "collection": c, "error": e} for s, c, e in self.failures]}


def verify_identity(inventory: "Inventory", request_id: str, points: list[tuple[str, str]], *, now: datetime,
                    operator: str, minimum: int | None = None, method: str | None = None,
                    received: datetime | None = None, progress: Progress | None = None) -> Verification:
    """Check data points the requester gave (KEY, VALUE) against the records found for the request's
    subject (verification.py), record the search as a find run under the request, and either mark the
    request verified (event `request.verified` with the checks) or record the attempt (event
    `request.verification_failed`). `minimum` None: the regime's (verification.default_minimum). Only
    keyed hashes of the values are kept. Refused (exit 2, nothing
    recorded) for an unknown, closed or already verified request and an ambiguous subject."""
    from . import runs
    from .identity import parse_identifier
    from .keys import load_or_create_key
    from .requests import request_book
    from .search import find_subject
    from .verification import check_points, decide, default_minimum

    if not points:
        from .errors import UsageError

        raise UsageError("give at least one --match KEY=VALUE (or verify without --match, with --method)")
    with request_book(inventory) as book:
        request = book.check_verifiable(request_id)
    if minimum is None:
        minimum = default_minimum(request["regime"], request["type"])
    idents = [parse_identifier(i, inventory.identities) for i in request["identifiers"]]
    result = _searching(progress, lambda p: find_subject(inventory, idents, progress=p))
    for kind, values in result.ambiguous.items():
        raise RefusedError(f"ambiguous: the search for the subject of {request['id']} reached {len(values)} values of "
                           f"unique identity '{kind}' ({', '.join(values)}); data points cannot be checked against "
                           "two people's records: verify by other means (--method TEXT, without --match)")
    subject = parse_identifier(request["subject"], inventory.identities)
    checks = check_points(inventory, result, points, subject, load_or_create_key(Path(inventory.audit_path).parent))
    verified, why = decide(checks, minimum)
    runs.record_run(inventory, "find", result, request_id=request["id"], now=now, operator=operator, tasks=False)
    evidence = {"checks": [c.to_dict() for c in checks], "minimum": minimum, "why": why}
    with request_book(inventory) as book:
        if verified:
            matched = ", ".join(c.key for c in checks if c.counts)
            request = book.verify(request["id"], f"data points matched: {matched}" + (f"; {method}" if method else ""),
                                  evidence=evidence, received=received, operator=operator, now=now)
        else:
            request = book.verification_failed(request["id"], evidence, operator=operator, now=now)
    return Verification(request, checks, verified, why, minimum, result.failures)


def confirm_task(inventory: "Inventory", task_id: int, *, now: datetime, operator: str,
                 note: str | None = None) -> dict[str, Any]:
    """Record that a person carried out manual task `task_id` (a processor dsarctl cannot reach): who and
    when, as a `task.confirmed` event of the task's request. UsageError (exit 2) for an unknown task or
    one already confirmed."""
    from .audit_marker import open_audit

    with open_audit(inventory) as audit:
        return audit.confirm_task(task_id, operator=operator, at=now, note=note)


def tasks(inventory: "Inventory", *, status: str | None = None, request: str | None = None) -> list[dict[str, Any]]:
    """Manual tasks, oldest first: only `status` (open | done), or only those of request `request` (an id
    the request book knows; UsageError otherwise)."""
    from .audit_marker import open_audit
    from .requests import RequestBook

    with open_audit(inventory) as audit:
        rid = RequestBook(audit, inventory).get(request)["id"] if request else None
        found = audit.tasks(status=status, request_id=rid)
        types = dict(audit.conn.execute("SELECT id, type FROM requests").fetchall()) if found else {}
    return [{**t, "request_type": types.get(t["request_id"])} for t in found]


# --- helpers ----------------------------------------------------------------------------------------------


def _searching(progress: Progress | None, search: Callable[[Any], Any]) -> Any:
    """Run `search(progress)`, then tell `progress` the search is over."""
    try:
        return search(progress)
    finally:
        if progress:
            progress(None)


def _request(recorded: dict | None, attached: dict | None) -> dict | None:
    """The request a run was recorded under, `created` when the run itself opened it."""
    if not recorded:
        return None
    return {**recorded, "created": bool(attached and attached["created"])}
