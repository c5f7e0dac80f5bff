"""What remains of a subject after an erase, record by record, and why: the report's "What remains".

The report says of each record what it holds now, never what its rule meant to happen:

- the sources are searched again with every identifier of the plan (files the erase can show hold
  nothing of the subject any more are not read again, see settle.py);
- every planned record that was to be masked is read again by its key where the source can (SQL), and
  so is every planned record of a system whose erase failed (its transaction was rolled back): a record
  can hold the plaintext without carrying an identifier the search would find;
- each record is then judged by its contents: its rule's masks hold, or they do not.

Statuses: `kept` (no erase rule, or left for other people's records that point at it), `retained` (a
retain rule, its masks in place), `anonymized` (masked as the rule says, still carrying an identifier
the rule does not mask), `not erased` (the erase was to delete or mask it and it still holds what it
held: the reason is the source's error when the system's erase failed), `failed` (could not be read
again), `manual` (a task for a processor). `not erased` and `failed` make the erase exit 3.
"""

from __future__ import annotations

from typing import Any

from ..connectors import close_quietly, failure, open_connector
from ..inventory.model import Inventory
from ..sources import Erasable, checked_read_records
from ..retention import kept_until_range
from .mask import Masker

ANONYMIZED = "anonymized; the record still carries an identifier the rule does not mask"
STILL_THERE = "still present after the erase"


def verify(inventory: Inventory, plan: Any, run: Any = None) -> list[dict[str, Any]]:
    """Search again with every identifier of the plan and read the planned records again: what is
    still there, record by record, and why (see the module docstring)."""
    from ..search import find_subject
    from .apply import install_key
    from .settle import settled

    if not plan.identifiers:
        return []
    again = find_subject(inventory, plan.identifiers, expand=True, settled=settled(inventory, plan, run))
    failed_units = {u.system: u.error for u in run.units if u.status == "failed"} if run else {}
    out: list[dict[str, Any]] = []
    unreadable: set[tuple[str, str]] = set()
    for system, collection, error in again.failures:
        unreadable.add((system, collection))
        out.append(_failed(system, collection, f"could not be searched: {error}"))
    for cplan in plan.collections:  # failed before the erase: what it holds is unknown, even if found empty now
        if cplan.status == "failed" and (cplan.system, cplan.collection) not in unreadable:
            unreadable.add((cplan.system, cplan.collection))
            out.append(_failed(cplan.system, cplan.collection,
                               f"could not be searched before the erase, so nothing in it was erased: {cplan.error}"))
    read, errors = _read_again(inventory, plan, failed_units)
    for (system, collection), error in errors.items():
        if (system, collection) not in unreadable:
            unreadable.add((system, collection))
            out.append(_failed(system, collection, f"could not be read again: {error}"))
    key = install_key(inventory)
    steps = {(s.system, s.collection, _key(s.key)): s for s in plan.steps}
    judge = _Judge(Masker(key), failed_units, plan.erased_on)
    seen: set[tuple] = set()
    for sres in again.systems.values():
        if sres.system.is_manual:
            continue
        for cres in sres.collections.values():
            coll = cres.collection
            place = (sres.system.name, coll.name)
            seen.update(place + (_key(r.key),) for r in cres.records)
            seen.update(place + (k,) for k in read.get(place, {}))
            left = _left_alone(inventory, plan, cres, steps, key)
            if left:  # rows other people's records point at, messages they share: left on purpose, said so
                shared = [r for r in cres.records if id(r) in left]
                out.append({"system": place[0], "collection": place[1], "count": len(shared),
                            "records": [r.location for r in shared], "status": "kept",
                            "reason": "; ".join(sorted(set(left.values())))})
            records = {_key(r.key): (r.location, r.data, True) for r in cres.records if id(r) not in left}
            for record_key, data in read.get(place, {}).items():
                step = steps.get(place + (record_key,))
                if record_key not in records and not (step and step.kept):
                    records[record_key] = (step.location if step else None, data, False)
            groups: dict[tuple[str, str], list[tuple[str | None, dict]]] = {}
            for record_key, (location, data, searched) in records.items():
                verdict = judge(coll, data, searched)
                if verdict:
                    groups.setdefault(verdict, []).append((location, data))
            out.extend(judge.entry(coll, status, reason, members) for (status, reason), members in groups.items())
    out.extend(_untouched(inventory, plan, seen, unreadable))
    for task in plan.tasks:
        out.append({"system": task["system"], "collection": None, "status": "manual", "count": None,
                    "reason": f"manual task open: {task['processor'] or task['system']}"})
    return out


def _untouched(inventory: Inventory, plan: Any, seen: set[tuple], unreadable: set[tuple[str, str]]
               ) -> list[dict[str, Any]]:
    """The planned records the erase left as they are (retained, kept, shared, no rule) that the search
    cannot reach any more: a ticket found through its requester's account, which the erase deleted. They
    are still there, so they are reported from the plan (not for file sources, whose records are found
    by their contents, nor for a collection that could not be searched again)."""
    from ..connectors import get

    groups: dict[tuple[str, str, str, str], list] = {}
    for cplan in plan.collections:
        place = (cplan.system, cplan.collection)
        cls = get(cplan.connector)
        if cplan.status != "ok" or place in unreadable or cls is None or cls.local_files:
            continue
        for step in cplan.steps:
            if place + (_key(step.key),) in seen or step.target() is not None or step.done:
                continue
            if step.kept:
                status, reason = "kept", step.kept
            elif cplan.rule is None:
                status, reason = "kept", "no erase rule in the inventory"
            elif cplan.rule.action == "retain":
                status, reason = "retained", cplan.rule.reason or ""
            else:
                continue
            groups.setdefault(place + (status, reason), []).append(step)
    out = []
    for (system, collection, status, reason), members in groups.items():
        entry: dict[str, Any] = {"system": system, "collection": collection, "count": len(members),
                                 "records": [s.location for s in members], "status": status, "reason": reason}
        if status == "retained":
            dates = [s.until for s in members if s.until]
            entry["until"] = max(dates).isoformat() if dates else None
        out.append(entry)
    return out


def _left_alone(inventory: Inventory, plan: Any, cres: Any, steps: dict, key: bytes) -> dict[int, str]:
    """id(record) -> why, for the records found again that the plan left as they are on purpose: rows
    other people's records point at, and shared messages of a `shared: keep` mailbox (an mbox message
    moves when one before it goes, so those are told by their contents)."""
    from .plan import shared_kept

    why = {id(r): steps[(r.system, r.collection, _key(r.key))].kept for r in cres.records
           if getattr(steps.get((r.system, r.collection, _key(r.key))), "kept", None)}
    why.update(shared_kept(inventory, cres.collection, cres.records, plan.identifiers, key))
    return why


class _Judge:
    """The status of one record after the erase, from what it holds now."""

    def __init__(self, masker: Masker, failed_units: dict[str, str], erased_on):
        self.masker = masker
        self.failed_units = failed_units
        self.erased_on = erased_on

    def __call__(self, coll, data: dict, searched: bool) -> tuple[str, str] | None:
        rule = coll.erase
        if rule is None:
            return ("kept", "no erase rule in the inventory") if searched else None
        failed = self.failed_units.get(coll.system.name)
        if rule.action == "delete":
            return "not erased", failed or STILL_THERE
        unmasked = self.masker.unmasked(data, rule.fields) if rule.fields else []
        if unmasked:
            return "not erased", failed or (f"not masked as planned ({', '.join(unmasked)}): the record changed "
                                            f"or appeared after the search")
        if not searched:
            return None  # masked as planned and no longer found as the subject's
        if rule.action == "retain":
            return "retained", rule.reason or ""
        return "anonymized", ANONYMIZED

    def entry(self, coll, status: str, reason: str, members: list[tuple[str | None, dict]]) -> dict[str, Any]:
        entry: dict[str, Any] = {"system": coll.system.name, "collection": coll.name, "count": len(members),
                                 "records": [location for location, _ in members], "status": status,
                                 "reason": reason}
        rule = coll.erase
        if status == "retained":
            span = kept_until_range(rule, (data for _, data in members), self.erased_on)
            entry["until"] = span[1].isoformat() if span else None
        return entry


def _read_again(inventory: Inventory, plan: Any, failed_units: dict[str, str]
                ) -> tuple[dict[tuple[str, str], dict], dict[tuple[str, str], str]]:
    """The planned records to read again by key, as their sources hold them now: those to be masked,
    and every record to be changed in a system whose erase failed. Sources that cannot read a record
    by key (files) are left to the search."""
    wanted: dict[tuple[str, str], list] = {}
    for cplan in plan.collections:
        if cplan.status != "ok":
            continue
        for step in cplan.steps:
            if getattr(step, "kept", None):
                continue
            if step.fields or (cplan.system in failed_units and step.target() is not None):
                wanted.setdefault((cplan.system, cplan.collection), []).append(_key(step.key))
    read: dict[tuple[str, str], dict] = {}
    errors: dict[tuple[str, str], str] = {}
    for system_name in dict.fromkeys(system for system, _ in wanted):
        system = inventory.systems.get(system_name)
        if system is None:
            continue
        try:
            source = open_connector(system, inventory)
        except Exception as exc:  # whatever a source raises fails its collections' check, not the erase
            for (name, coll_name) in wanted:
                if name == system_name:
                    errors[(name, coll_name)] = _reason(inventory, exc)
            continue
        try:
            for (name, coll_name), keys in wanted.items():
                if name != system_name or coll_name not in system.collections or not isinstance(source, Erasable):
                    continue
                try:
                    rows = checked_read_records(source, system.collections[coll_name], keys)
                except Exception as exc:
                    errors[(name, coll_name)] = _reason(inventory, exc)
                    continue
                if rows is not None:
                    read[(name, coll_name)] = {_key(k): v for k, v in rows.items()}
        finally:
            close_quietly(source)
    return read, errors


def _failed(system: str, collection: str, reason: str) -> dict[str, Any]:
    return {"system": system, "collection": collection, "status": "failed", "count": 0, "reason": reason}


def _reason(inventory: Inventory, exc: Exception) -> str:
    if isinstance(exc, OSError):
        return inventory.redact(str(exc))
    return failure(inventory, exc)


def _key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
