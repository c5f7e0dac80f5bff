"""Carrying out an erase plan: journal first, then each system, then suppression and manual tasks.

Each system is one unit: an SQL system is one transaction, a file is replaced atomically. The unit is
marked done in the journal after it succeeded; a unit killed half-way left its source untouched (the
transaction was not committed, the rename did not happen) or finished (marked on the next run, where
the records are no longer there or already masked — nothing is touched twice). A failing source is
reported and the others still run; its unit stays pending and the next `erase` retries it.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable

from ..audit import AuditLog
from ..connectors import close_quietly, failure, get, open_connector
from ..errors import DsarError
from ..inventory.model import Inventory
from ..keys import keyed_hash, load_or_create_key
from ..sources import EraseContext, EraseOutcome, EraseTarget, Erasable, checked_outcomes, checked_records
from .journal import Journal, open_record_key, seal_record_key
from .mask import Masker
from .plan import Plan, record_id

KILL_ENV = "DSARCTL_TEST_KILL_AT"  # tests: "point" or "point#N" kills the process there (SIGKILL);
_hits: dict[str, int] = {}          # "point#N@TERM" sends another signal (SIGTERM) instead
_hits_lock = threading.Lock()


def kill_checkpoint(point: str) -> None:
    """Test hook: die like `kill -9` (or get the signal named after `@`) at the N-th time `point` is
    reached (only when DSARCTL_TEST_KILL_AT is set)."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    spec, _, signame = spec.partition("@")
    name, _, nth = spec.partition("#")
    if name != point:
        return
    with _hits_lock:  # units run on several threads
        _hits[point] = _hits.get(point, 0) + 1
        if _hits[point] == int(nth or 1):
            os.kill(os.getpid(), getattr(signal, f"SIG{signame}") if signame else signal.SIGKILL)


def audit_dir(inventory: Inventory) -> Path:
    return Path(inventory.audit_path).parent


def install_key(inventory: Inventory) -> bytes:
    return load_or_create_key(audit_dir(inventory))


def journal_dir(inventory: Inventory) -> Path:
    return audit_dir(inventory) / "journal"


@dataclass
class UnitResult:
    system: str
    status: str  # done | failed | skipped (done by an earlier run)
    outcomes: dict[str, EraseOutcome] = field(default_factory=dict)
    error: str | None = None
    replaced: dict[str, Any] = field(default_factory=dict)  # collection -> file state when about to be replaced
    written: dict[str, Any] = field(default_factory=dict)  # collection -> file state right after the rename

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "status": self.status,
                               "collections": {c: o.to_dict() for c, o in self.outcomes.items()}}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class RunResult:
    run_id: str
    units: list[UnitResult] = field(default_factory=list)
    resumed: bool = False
    tasks: list[int] = field(default_factory=list)
    suppressed: int = 0

    @property
    def failures(self) -> list[UnitResult]:
        return [u for u in self.units if u.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "resumed": self.resumed, "units": [u.to_dict() for u in self.units],
                "tasks_opened": self.tasks, "suppressed": self.suppressed}


def journal_header(plan: Plan, key: bytes, *, request_id: str | None, now: datetime, kind: str = "erase") -> dict:
    """The plan as the journal keeps it: no identifier and no record key in plain text (the keys of
    sources other than `local_files` as keyed hashes, and sealed: encrypted with a key derived from the
    install key)."""
    units: dict[str, dict[str, list]] = {}
    for coll in plan.collections:
        for step in coll.steps:
            target = step.target()
            if target is None:
                continue
            entry: dict[str, Any] = {"action": target.action, "key_id": step.key_id}
            if target.fields:
                entry["fields"] = target.fields
            if target.subject:  # keyed hashes: what a redaction takes out of a shared message
                entry["subject"] = list(target.subject)
            if step.digest:
                entry["digest"] = step.digest
            if _local_files(coll.connector):
                entry["key"] = step.key  # a line number, a byte range, a file name (cur/1700000000.M1.host): a place
            else:  # encrypted: a resumed run finds the record by it, without listing the source
                sealed = seal_record_key(key, coll.system, coll.collection, step.key_id, step.key)
                if sealed is not None:
                    entry["sealed"] = sealed
            units.setdefault(coll.system, {}).setdefault(coll.collection, []).append(entry)
    return {
        "run_id": f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
        "kind": kind,
        "created_at": now.isoformat(),
        "request_id": request_id,
        "identifier_hashes": sorted({keyed_hash(key, i.kind, i.value) for i in plan.identifiers}),
        "units": units,
        "suppress": {s: sorted({(i.kind, keyed_hash(key, i.kind, i.value)) for i in ids})
                     for s, ids in plan.suppress.items()},
        "tasks": [{"system": t["system"], "processor": t["processor"], "instructions": t["instructions"]}
                  for t in plan.tasks],
        "counts": plan.counts(),
    }


def execute(inventory: Inventory, plan: Plan, *, operator: str, now: datetime, request_id: str | None = None,
            checkpoint: Callable[[str], None] | None = None, kind: str = "erase") -> RunResult:
    """Journal the plan, then carry it out (keys of the planned SQL rows are known: no rescan)."""
    key = install_key(inventory)
    header = journal_header(plan, key, request_id=request_id, now=now, kind=kind)
    journal = Journal.create(journal_dir(inventory), header)
    known = {step.key_id: step.key for step in plan.steps}
    try:
        return run_journal(inventory, journal, key=key, operator=operator, now=now, known=known,
                           checkpoint=checkpoint or kill_checkpoint)
    finally:
        journal.close()


def resume_unfinished(inventory: Inventory, *, operator: str, now: datetime,
                      checkpoint: Callable[[str], None] | None = None) -> list[RunResult]:
    """Finish every erase run that was interrupted (killed, or a source failed)."""
    journals = Journal.unfinished(journal_dir(inventory))
    if not journals:
        return []
    key = install_key(inventory)
    results = []
    try:
        for journal in journals:
            result = run_journal(inventory, journal, key=key, operator=operator, now=now, known=None,
                                 checkpoint=checkpoint or kill_checkpoint)
            result.resumed = True
            results.append(result)
    finally:
        for journal in journals:
            journal.close()
    return results


def run_journal(inventory: Inventory, journal: Journal, *, key: bytes, operator: str, now: datetime,
                known: dict[str, Any] | None, checkpoint: Callable[[str], None]) -> RunResult:
    header = journal.header
    result = RunResult(journal.run_id)
    checkpoint("journal.written")
    audit = AuditLog.open(inventory.audit_path)
    try:
        masker = Masker(key)
        units = {name: UnitResult(name, "skipped") for name in header["units"]}  # in the plan's order
        todo = [name for name in header["units"] if not journal.done("done", name)]

        def finished(unit: UnitResult) -> None:  # on this thread, as each unit ends
            units[unit.system] = unit
            if unit.status == "done":
                journal.mark("done", system=unit.system,
                             outcomes={c: o.to_dict() for c, o in unit.outcomes.items()})
                checkpoint("unit.done")
            else:
                journal.mark("failed", system=unit.system, error=unit.error)

        side_by_side(todo, lambda name, point: _run_unit(inventory, name, header["units"][name], masker, key,
                                                         known, point),
                     finished, checkpoint)
        result.units.extend(units.values())
        _record_erasure(audit, journal, operator=operator, now=now, checkpoint=checkpoint)
        for system_name, hashed in header.get("suppress", {}).items():
            by_kind: dict[str, list[str]] = {}
            for kind, digest in hashed:
                by_kind.setdefault(kind, []).append(digest)
            for kind, digests in sorted(by_kind.items()):
                result.suppressed += audit.add_suppressions(digests, system_name, header.get("request_id"),
                                                            kind=kind, operator=operator, at=now)
        checkpoint("suppressed")
        if header.get("tasks") and not journal.done("tasks"):
            for task in header["tasks"]:
                result.tasks.append(audit.add_task(header.get("request_id"), task["system"],
                                                   processor=task["processor"], instructions=task["instructions"],
                                                   operator=operator, at=now))
            journal.mark("tasks", ids=result.tasks)
            checkpoint("tasks.opened")
        if not result.failures:
            journal.mark("complete")
    finally:
        audit.close()
    return result


def _record_erasure(audit: AuditLog, journal: Journal, *, operator: str, now: datetime,
                    checkpoint: Callable[[str], None]) -> None:
    """Record in the audit log (for a replay after a backup restore) the erasure of the systems whose
    units are done and that no earlier record of this run names: an erasure that did not happen (every
    unit failed) is not recorded, and a unit done by a later run of the journal is recorded then. A run
    killed after a unit was done and before this record is finished by the next `erase`, which records it."""
    header = journal.header
    if header.get("kind") == "replay":
        return
    recorded: set[str] = set()
    for entry in journal.entries:
        if entry["type"] == "recorded":
            if "systems" not in entry:
                return  # a journal of an earlier version, which recorded the whole run before acting
            recorded.update(entry["systems"])
    erased = {e["system"]: e.get("outcomes", {}) for e in journal.entries
              if e["type"] == "done" and e.get("system") and e["system"] not in recorded}
    if not erased:
        return
    at = datetime.fromisoformat(header["created_at"]) if header.get("created_at") else now  # when it ran first
    audit.record_erasure(header.get("request_id"), header["identifier_hashes"],
                         {"run_id": journal.run_id, "kind": header.get("kind"), "erased": erased},
                         operator=operator, at=at)
    journal.mark("recorded", systems=sorted(erased))
    checkpoint("audit.recorded")


class _Stopped(Exception):
    """Raised at a checkpoint of a unit still running when another unit's thread (or this process's
    main thread) was interrupted: the unit stops there, as the whole run would have."""


def side_by_side(names: list[str], run: Callable[[str, Callable[[str], None]], UnitResult],
                 finished: Callable[[UnitResult], None], checkpoint: Callable[[str], None]) -> None:
    """`run(name, checkpoint)` for every unit, each on its own thread: the units touch different
    sources (an SQL database, a file, a Maildir), so one's disk or database waits and another's parsing
    overlap (and the parsing of large files runs in child processes, on other cores: files.offload_edits).
    `finished(unit)` runs on the calling thread as each unit ends, in the order they end (it marks the
    journal). When anything is raised (an interrupt, an error that is not a source's, a test's crash
    hook), the other units stop at their next checkpoint, before they replace a file or commit, and the
    first error is raised once every thread has stopped."""
    if len(names) < 2:
        for name in names:
            finished(run(name, checkpoint))
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    stop = threading.Event()

    def guarded(point: str) -> None:
        if stop.is_set():
            raise _Stopped(point)
        checkpoint(point)

    pool = ThreadPoolExecutor(max_workers=min(len(names), _MAX_THREADS), thread_name_prefix="dsarctl-unit")
    try:
        pending = {pool.submit(run, name, guarded) for name in names}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                finished(future.result())
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_MAX_THREADS = 8


def _run_unit(inventory: Inventory, system_name: str, collections: dict[str, list[dict]], masker: Masker,
              key: bytes, known: dict[str, Any] | None, checkpoint: Callable[[str], None]) -> UnitResult:
    system = inventory.systems.get(system_name)
    if system is None:
        return UnitResult(system_name, "failed", error="the system is no longer in the inventory")
    replaced: dict[str, Any] = {}
    written: dict[str, Any] = {}
    stopped: list[BaseException] = []  # what the run's checkpoint raised to stop this unit

    def stop_point(point: str) -> None:
        try:
            checkpoint(point)
        except BaseException as exc:
            stopped.append(exc)
            raise

    context = EraseContext(masker, stop_point, partial(_note, replaced, recent=False),
                           partial(_note, written, recent=True))
    source = None
    try:
        source = open_connector(system, inventory)
        if not isinstance(source, Erasable):
            return UnitResult(system_name, "failed", error=f"its source ({system.connector}) cannot erase")
        work = []
        for coll_name, entries in collections.items():
            coll = system.collections.get(coll_name)
            if coll is None:
                return UnitResult(system_name, "failed", error=f"collection '{coll_name}' is no longer in the inventory")
            work.append((coll, _targets(source, coll, entries, key, known)))
        outcomes = checked_outcomes(source, work, source.erase_system(work, context))
    except Exception as exc:  # whatever the source raised (a plugin's bug too) fails this unit only
        if stopped:
            raise stopped[0] from None  # the run is stopping: not the source's failure
        if isinstance(exc, (DsarError, OSError)):
            message = getattr(exc, "reason", None) or (exc.strerror if isinstance(exc, OSError) and exc.strerror
                                                       else str(exc))
            return UnitResult(system_name, "failed", error=inventory.redact(str(message)))
        return UnitResult(system_name, "failed", error=failure(inventory, exc))
    finally:
        if source is not None:
            close_quietly(source)
    return UnitResult(system_name, "done", outcomes, replaced={c: s for c, s in replaced.items() if s is not None},
                      written={c: s for c, s in written.items() if s is not None})


def _note(states: dict[str, Any], coll, *, recent: bool) -> None:
    """Keep the state of a collection's file when the erase is about to rename the rewritten file over
    it (it holds the file's lock and has read all of it: `replaced`), or right after the rename
    (`written`, `recent`): the verification compares the first with the state the prepare search read,
    the second with the file's state then (settle.py). A second rename of one file is not followed."""
    from .settle import file_state

    states[coll.name] = file_state(coll, recent=recent) if coll.name not in states else None


def _local_files(connector_name: str) -> bool:
    cls = get(connector_name)
    return bool(cls is not None and cls.local_files)


def _targets(connector, coll, entries: list[dict], key: bytes, known: dict[str, Any] | None) -> list[EraseTarget]:
    """The journal's entries as targets. Records of sources other than `local_files` are named by a
    keyed hash of their key, and their key is sealed: when this process did not plan them (a resumed
    run), the sealed key is opened, and every planned record is handed to the source, which counts one
    already gone as `missing`. Entries without a sealed key (a journal written before keys were sealed,
    or a key of a type not sealed) are found by scanning the source and hashing every record's key."""
    needs_key = not connector.local_files
    keys: dict[str, Any] = dict(known or {})
    system_name = connector.system.name
    if needs_key:
        for entry in entries:
            if entry["key_id"] not in keys and entry.get("sealed"):
                record_key = open_record_key(key, system_name, coll.name, entry["key_id"], entry["sealed"])
                if record_id(key, system_name, coll.name, record_key) == entry["key_id"]:
                    keys[entry["key_id"]] = record_key
                # else a key whose hash its type does not keep (a value hashed by its repr): scanned for
    if needs_key and any(e["key_id"] not in keys for e in entries):
        wanted = {e["key_id"] for e in entries}
        for record in checked_records(connector, "scan", connector.scan(coll)):
            rid = record_id(key, connector.system.name, coll.name, record.key)
            if rid in wanted:
                keys[rid] = record.key
    targets = []
    for entry in entries:
        resumed = entry["key_id"] not in (known or {})
        if needs_key:
            if entry["key_id"] not in keys:
                continue  # gone: deleted by the interrupted run
            record_key = keys[entry["key_id"]]
        else:
            # mbox ranges are known to the process that planned them (the journal keeps only Maildir
            # names): with them the erase finds its targets in place instead of parsing every message
            record_key = entry.get("key", keys.get(entry["key_id"]))
        if isinstance(record_key, list):
            record_key = tuple(record_key)
        targets.append(EraseTarget(record_key, entry.get("digest"), entry["action"], entry.get("fields") or {},
                                   tuple(entry.get("subject") or ()), resumed))
    return targets


def add_suppressions(inventory: Inventory, plan: Plan, *, operator: str, now: datetime,
                     request_id: str | None = None) -> int:
    """Put the plan's suppressed identifiers (as keyed hashes) on the lists; returns how many were new."""
    key = install_key(inventory)
    added = 0
    with AuditLog.open(inventory.audit_path) as audit:
        for system, ids in plan.suppress.items():
            for kind in sorted({i.kind for i in ids}):
                added += audit.add_suppressions([keyed_hash(key, i.kind, i.value) for i in ids if i.kind == kind],
                                                system, request_id, kind=kind, operator=operator, at=now)
    return added
