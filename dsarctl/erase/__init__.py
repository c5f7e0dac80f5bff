"""Erasure (GDPR Art. 17, CCPA §1798.105): plan, journal, apply, verify, replay.

    plan = prepare(inventory, [identifiers], now=now)       # search, expand, refuse if ambiguous
    result = carry_out(inventory, plan, operator=..., now=now)  # journal, act, search again

The core imports no CLI code. Modules: `plan` (what happens to which record), `journal` (the plan on
disk before acting, for crash recovery), `apply` (carrying it out per system), `mask` (null / redact /
hash), `restored` (which records a replay after a backup restore erases again). Identifiers reach the
journal and the audit log only as keyed hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..identity import Identifier
from ..inventory.model import Inventory
from ..keys import keyed_hash
from .apply import RunResult, execute, install_key, resume_unfinished
from .mask import REDACTED, Masker
from .plan import Plan, build_plan, erased_subjects, outcome, plan_from_find, pointed_at

__all__ = ["Plan", "EraseResult", "prepare", "carry_out", "resume_unfinished", "replay", "REDACTED", "Masker"]


@dataclass
class EraseResult:
    plan: Plan
    run: RunResult | None  # None: nothing to do (an already erased subject)
    remaining: list[dict[str, Any]] = field(default_factory=list)
    resumed: list[RunResult] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        from ..search import failure_lines

        # one line per system and message (an unreachable server fails each collection alike); a
        # collection the plan could not search is not said again for its verification's search, nor are
        # records left by a system's failed erase whose reason is that failure (the report lists them)
        unsearched = {(c.system, c.collection) for c in self.plan.failures}
        out = failure_lines((c.system, c.collection, c.error or "failed") for c in self.plan.failures)
        if self.run:
            out += [f"{u.system}: {u.error}" for u in self.run.failures]
        out += failure_lines((r["system"], r["collection"], r["reason"]) for r in self.remaining
                             if r["status"] == "failed" and (r["system"], r["collection"]) not in unsearched)
        unit_errors = {(u.system, u.error) for u in self.run.failures} if self.run else set()
        out += [f"{r['system']}.{r['collection']}: {r['reason']}" for r in self.remaining if r["status"] == "not erased"
                and (r["system"], r["reason"]) not in unit_errors]  # else said by its system's line already
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def resumed_problems(self) -> list[str]:
        """The systems of interrupted runs this erase finished first that still fail (those runs stay
        pending): not the subject's, but a source failed, and the command says which and exits 3."""
        return [f"{u.system}: {u.error} (interrupted erase run {r.run_id}, still pending)"
                for r in self.resumed for u in r.failures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failed",
            "plan": self.plan.to_dict(),
            "run": self.run.to_dict() if self.run else None,
            "resumed": [r.to_dict() for r in self.resumed],
            "remaining": self.remaining,
            "problems": self.problems,
            "resumed_problems": self.resumed_problems,
            **({"subjects": self.subject_reports()} if self.plan.subjects is not None else {}),
        }

    def subject_reports(self) -> list[dict[str, Any]]:
        """A batch's report per subject: what was done to its records per collection (`outcomes`: deleted,
        anonymized, retained, redacted, kept, ... with counts), and what remains of them and why."""
        failed = {u.system: u.error for u in self.run.units if u.status == "failed"} if self.run else {}
        out = []
        index = _record_index(self.remaining)
        for subject in self.plan.subjects or []:
            mine: set[tuple[str, str, str]] = set()
            colls = []
            for c in subject.collections:
                if not c.steps and c.status != "failed":
                    continue
                outcomes: dict[str, int] = {}
                for step in c.steps:
                    outcomes[outcome(step)] = outcomes.get(outcome(step), 0) + 1
                    if step.location:
                        mine.add((c.system, c.collection, step.location))
                entry: dict[str, Any] = {"system": c.system, "collection": c.collection, "count": len(c.steps),
                                         "status": "failed" if c.status == "failed" or c.system in failed else "ok",
                                         "outcomes": outcomes}
                if c.error or c.system in failed:
                    entry["error"] = c.error or failed[c.system]
                if c.action == "retain":
                    entry["until"] = c.until.isoformat() if c.until else None
                    entry["reason"] = c.rule.reason if c.rule else None
                colls.append(entry)
            until = {(c["system"], c["collection"]): c["until"] for c in colls if "until" in c}
            out.append({**{k: v for k, v in subject.to_dict().items() if k != "collections"},
                        "collections": colls, "remaining": _remaining_of(self.remaining, mine, until, index)})
        return out

    def audit_summary(self, key: bytes) -> dict[str, Any]:
        """Counts and hashes only: what the audit log may keep forever."""
        return {
            "identifier_hashes": sorted({keyed_hash(key, i.kind, i.value) for i in self.plan.identifiers}),
            "counts": self.plan.counts(),
            "run": self.run.to_dict() if self.run else None,
            "resumed": [r.run_id for r in self.resumed],
            "remaining": [{k: v for k, v in r.items() if k != "records"} for r in self.remaining],
            "status": "ok" if self.ok else "failed",
        }


def _record_index(remaining: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Per entry of "what remains": each record's place in it (built once for a batch's subjects)."""
    return [{r: i for i, r in enumerate(entry.get("records") or ())} for entry in remaining]


def _remaining_of(remaining: list[dict[str, Any]], locations: set[tuple[str, str, str]],
                  until: dict[tuple[str, str], str | None],
                  index: list[dict[str, int]] | None = None) -> list[dict[str, Any]]:
    """The entries of "what remains" about the records at `locations` ((system, collection, location) of
    the subject's planned records: the same text names different records in two systems, such as
    "customers (id=5)"), counted for those records only, a retained one kept until the latest date of
    those records (`until`: per system and collection). `index`: `_record_index(remaining)`, so that a
    batch looks up each subject's few records instead of reading every entry's records per subject."""
    out = []
    for entry, places in zip(remaining, index if index is not None else _record_index(remaining)):
        place = (entry["system"], entry.get("collection"))
        records = sorted((r for system, collection, r in locations if (system, collection) == place and r in places),
                         key=places.__getitem__)
        if records:
            mine = {**entry, "count": len(records), "records": records}
            if "until" in entry and (entry["system"], entry["collection"]) in until:
                mine["until"] = until[(entry["system"], entry["collection"])]
            out.append(mine)
    return out


def prepare(inventory: Inventory, subjects: list[list[Identifier]], *, now: datetime,
            progress: Callable[[str], None] | None = None, batch: bool = False,
            suppress_unmatched: bool = False) -> Plan:
    """Search every subject (with identity expansion) and plan the erasure of what was found. A batch is
    searched together: each source is read once per expansion round for all subjects; its plan says what
    each subject's part is, and keeps no suppression entry for a subject found nowhere unless
    `suppress_unmatched` (see `plan_from_find`)."""
    from ..search import find_subjects
    from .settle import watched_search

    results, watch = watched_search(inventory, lambda: find_subjects(inventory, subjects, progress=progress))
    plan = plan_from_find(inventory, results, key=install_key(inventory), erased_on=now.date(), batch=batch,
                          suppress_unmatched=suppress_unmatched)
    plan.search = watch
    return plan


def actionable(plan: Plan) -> bool:
    """Whether carrying out the plan changes anything in a source (else: an already erased subject)."""
    return any(s.target() for s in plan.steps)


def carry_out(inventory: Inventory, plan: Plan, *, operator: str, now: datetime, request_id: str | None = None,
              checkpoint: Callable[[str], None] | None = None) -> EraseResult:
    """Journal and apply the plan, then search again and say what remains and why."""
    run = None
    if actionable(plan):
        run = execute(inventory, plan, operator=operator, now=now, request_id=request_id, checkpoint=checkpoint)
    else:
        if plan.suppress:
            from .apply import add_suppressions

            add_suppressions(inventory, plan, operator=operator, now=now, request_id=request_id)  # idempotent
        if plan.tasks:
            _ask_processors(inventory, plan, operator=operator, now=now, request_id=request_id)
    return EraseResult(plan, run, verify(inventory, plan, run))


def _ask_processors(inventory: Inventory, plan: Plan, *, operator: str, now: datetime,
                    request_id: str | None) -> None:
    """Nothing to change in any source, yet processors marked `always_ask` must still be asked: their
    tasks are opened (once per request) as an erase that changes records opens them."""
    from ..audit import AuditLog

    with AuditLog.open(inventory.audit_path) as audit:
        have = {t["system"] for t in audit.tasks(request_id=request_id)} if request_id else set()
        for task in plan.tasks:
            if task["system"] not in have:
                audit.add_task(request_id, task["system"], processor=task["processor"],
                               instructions=task["instructions"], operator=operator, at=now)


def verify(inventory: Inventory, plan: Plan, run: RunResult | None = None) -> list[dict[str, Any]]:
    """What remains of the subject after the erase, record by record, and why (see remaining.py)."""
    from .remaining import verify as remaining

    return remaining(inventory, plan, run)


def replay(inventory: Inventory, *, operator: str, now: datetime,
           checkpoint: Callable[[str], None] | None = None) -> EraseResult:
    """Re-apply every recorded erasure to the sources (after a backup restore), to the erased people's
    records only: see `restored.select` for how they are told from a new person's records with a recycled
    id. What was found but left alone is reported in `remaining` (status `left alone`, with the reason)."""
    from ..audit import AuditLog
    from .restored import select

    key = install_key(inventory)
    with AuditLog.open(inventory.audit_path) as audit:
        erasures = audit.erasures()
    chosen = select(inventory, key, erasures)
    # a row reached only through one-way links that someone else's record points at stays, as the erase
    # that recorded it left it
    own = {r.ref for records in chosen.found.values() for r in records}
    kept = pointed_at(inventory, chosen.targets, own)
    erased = frozenset(h for e in erasures for h in e["identifier_hashes"])
    plan = build_plan(inventory, chosen.found, chosen.failed, [], key=key, erased_on=now.date(), open_tasks=False,
                      kept=kept, subjects=erased_subjects(inventory, key, set(erased)), owners=lambda _record: erased)
    run = None
    if any(s.target() for s in plan.steps):
        run = execute(inventory, plan, operator=operator, now=now, checkpoint=checkpoint, kind="replay")
    left = chosen.left_alone()
    shared: dict[tuple[str, str, str], list] = {}
    for step in plan.steps:
        if step.kept and not step.shared:
            shared.setdefault((step.system, step.collection, step.kept), []).append(step.location)
    left += [{"system": system, "collection": collection, "status": "left alone", "count": len(records),
              "records": records, "reason": reason} for (system, collection, reason), records in shared.items()]
    return EraseResult(plan, run, left)
