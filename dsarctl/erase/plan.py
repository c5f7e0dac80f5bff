"""The erase plan: per system and collection, which records are deleted, masked or retained, and why.

A plan is built from what `find` found (or, for a replay, from records matched by keyed hash). Each
step names one record: SQL rows by primary key, file records by the SHA-256 of their stored bytes (so
a file changed since the plan is never mis-edited). Retained records carry their computed `until` date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable

from ..boundary import refuse_ambiguous
from ..checks import impossible_masks
from ..connectors import Record, close_quietly, failure, get, open_connector
from ..connectors.shared_mail import SubjectTest, sharing
from ..errors import DsarError, SourceError
from ..identity import Identifier
from ..inventory.model import EraseRule, Inventory
from ..keys import keyed_hash
from ..retention import kept_until
from ..sources import EraseTarget
from .mask import Masker


@dataclass
class Step:
    """What happens to one record."""

    system: str
    collection: str
    action: str  # delete | anonymize | retain | none; redact | keep (a shared message, see `shared`)
    key: Any
    key_id: str  # keyed hash of the record's key: how the journal names it without the key itself
    digest: str | None  # files: SHA-256 of the record's bytes
    fields: dict[str, str] = field(default_factory=dict)
    until: date | None = None
    location: str | None = None
    done: bool = False  # already masked as planned (an earlier run did it): nothing to change
    kept: str | None = None  # why the record is left as it is although the rule would change it
    shared: int = 0  # how many people other than the subject the record names (a mail message)
    subject: tuple[str, ...] = ()  # redact: keyed hashes of the subject's identifiers to take out

    def target(self) -> EraseTarget | None:
        if self.done or self.kept:
            return None
        if self.action == "redact":
            return EraseTarget(self.key, self.digest, "redact", subject=self.subject)
        if self.action == "delete":
            return EraseTarget(self.key, self.digest, "delete")
        if self.fields:
            return EraseTarget(self.key, self.digest, "mask", dict(self.fields))
        return None  # retained as it is


@dataclass
class CollectionPlan:
    system: str
    collection: str
    connector: str
    rule: EraseRule | None
    steps: list[Step] = field(default_factory=list)
    status: str = "ok"  # ok | failed (could not be searched or read)
    error: str | None = None

    @property
    def until(self) -> date | None:
        dates = [s.until for s in self.steps if s.until]
        return max(dates) if dates else None

    @property
    def action(self) -> str:
        return self.rule.action if self.rule else "none"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "collection": self.collection, "status": self.status,
                               "action": self.action, "count": len(self.steps)}
        if self.rule:
            if self.rule.fields:
                out["fields"] = dict(self.rule.fields)
            if self.rule.action == "retain":
                out["reason"] = self.rule.reason
                out["until"] = self.until.isoformat() if self.until else None
                if self.rule.until:
                    out["until_rule"] = self.rule.until.text
        else:
            out["note"] = "no erase rule in the inventory: records are left as they are"
        if self.error:
            out["error"] = self.error
        out["records"] = [s.location for s in self.steps]
        kept = [{"record": s.location, "reason": s.kept} for s in self.steps if s.kept]
        if kept:
            out["kept"] = kept
        shared = [{"record": s.location, "others": s.shared, "action": s.action} for s in self.steps if s.shared]
        if shared:  # messages that name other people too, and what happens to each
            out["shared"] = shared
        return out


# What happened to a record, as a batch's report says it per subject.
OUTCOMES = {"delete": "deleted", "anonymize": "anonymized", "retain": "retained", "redact": "redacted",
            "keep": "kept", "none": "left (no erase rule)"}


def outcome(step: Step) -> str:
    """`deleted`, `anonymized`, `retained`, `redacted`, `kept` (left for other people), `already masked` or
    `left (no erase rule)`: what carrying out the step does to its record."""
    if step.kept:
        return "kept"
    if step.done:
        return "already masked"
    return OUTCOMES.get(step.action, step.action)


@dataclass
class SubjectPlan:
    """One subject of a batch: what its search found, and the plan's steps for its records."""

    given: list[Identifier]  # the batch file's line
    identifiers: list[Identifier]  # as the search expanded them
    total: int  # records found (0: the line matches nobody)
    collections: list[CollectionPlan]  # the steps of its records only, per collection

    @property
    def matched(self) -> bool:
        return self.total > 0

    def to_dict(self) -> dict[str, Any]:
        return {"subject": [str(i) for i in self.given], "identifiers": [str(i) for i in self.identifiers],
                "matched": self.matched, "total": self.total,
                "collections": [c.to_dict() for c in self.collections if c.steps or c.status == "failed"]}


@dataclass
class Plan:
    identifiers: list[Identifier]
    collections: list[CollectionPlan]
    tasks: list[dict[str, Any]]  # manual systems: processor, instructions, identifiers to hand over
    suppress: dict[str, list[Identifier]]  # system -> identifiers kept as keyed hashes
    erased_on: date
    search: Any = None  # how the prepare search read the files (settle.SearchWatch): for the verification
    subjects: list[SubjectPlan] | None = None  # a batch: each line's subject and its part of the plan
    suppress_unmatched: bool = False  # a batch: subjects found nowhere get a suppression entry all the same

    @property
    def steps(self) -> list[Step]:
        return [s for c in self.collections for s in c.steps]

    @property
    def failures(self) -> list[CollectionPlan]:
        return [c for c in self.collections if c.status == "failed"]

    def counts(self) -> dict[str, int]:
        """Records per action: a record left as it is (`kept`) counts as `keep`, a shared message whose
        subject is taken out as `redact`."""
        out = {"delete": 0, "anonymize": 0, "retain": 0, "none": 0, "redact": 0, "keep": 0}
        for coll in self.collections:
            for step in coll.steps:
                out["keep" if step.kept else step.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifiers": [str(i) for i in self.identifiers],
            "erased_on": self.erased_on.isoformat(),
            "counts": self.counts(),
            "collections": [c.to_dict() for c in self.collections if c.steps or c.status == "failed"],
            "tasks": self.tasks,
            "suppress": {s: len(ids) for s, ids in self.suppress.items()},
            **({"subjects": [s.to_dict() for s in self.subjects], "suppress_unmatched": self.suppress_unmatched}
               if self.subjects is not None else {}),
        }


def shared_with(others: int) -> str:
    return f"shared with {others} other{'s' if others != 1 else ''}"


def subject_hashes(inventory: Inventory, key: bytes, identifiers: Iterable[Identifier]) -> frozenset[str]:
    """The keyed hashes of the e-mail addresses and phone numbers among `identifiers`: what a shared
    message is searched for when the subject is taken out of it (other kinds never stand in a header)."""
    types = ("email", "phone")
    return frozenset(keyed_hash(key, i.kind, i.value) for i in identifiers
                     if i.kind in inventory.identities and inventory.identities[i.kind].type in types)


def erased_subjects(inventory: Inventory, key: bytes, erased: set[str]) -> Callable[[Record], frozenset[str]]:
    """For a replay, whose subjects are known only as the keyed hashes an erasure recorded: the hashes of
    a record's identifiers that were erased, and of the e-mail addresses and phone numbers in its other
    fields (a phone number in a message's subject) that were."""
    probe = SubjectTest(key, (), inventory)

    def subjects(record: Record) -> frozenset[str]:
        out = {h for kind, values in record.identities.items() for value in values
               if (h := keyed_hash(key, kind, value)) in erased}
        for value in record.data.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    out.update(h for _span, hashes in probe.identifiers(text) for h in hashes if h in erased)
        return frozenset(out)

    return subjects


def shared_kept(inventory: Inventory, collection, records: list[Record], identifiers: list[Identifier],
                key: bytes) -> dict[int, str]:
    """id(record) -> why, for the records of `collection` that an erase leaves as they are because they
    are shared and the collection says `shared: keep` (the search after an erase reports them as kept)."""
    cls = get(collection.system.connector)
    if cls is None or not cls.mailbox or not records:
        return {}
    subject = SubjectTest(key, subject_hashes(inventory, key, identifiers), inventory)
    out = {}
    owns: dict = {}
    for record in records:
        shared, policy = sharing(inventory, collection, record.identities, subject, owns) or (0, None)
        if policy == "keep" and collection.erase and collection.erase.action in ("delete", "anonymize"):
            out[id(record)] = shared_with(shared)
    return out


def people_others(inventory: Inventory, collection, people: dict[str, set[str]], subject: frozenset[str],
                  key: bytes, owns: dict) -> int:
    """How many of the people a record names (`Record.people`: kind -> values) are neither the subject
    (`subject`: keyed hashes of its identifiers) nor the controller's own (an e-mail address of the
    mailbox's or the controller's domains, as for shared mail)."""
    from ..connectors.shared_mail import own_address_test

    if collection.qualified_name not in owns:
        owns[collection.qualified_name] = own_address_test(inventory, collection)
    own = owns[collection.qualified_name]
    count = 0
    for kind, values in people.items():
        spec = inventory.identities.get(kind)
        for value in values:
            if keyed_hash(key, kind, value) in subject or (spec is not None and spec.type == "email" and own(value)):
                continue
            count += 1
    return count


def record_id(key: bytes, system: str, collection: str, record_key: Any) -> str:
    return keyed_hash(key, "record", _RECORD_JSON.encode([system, collection, record_key]))


# what json.dumps(..., default=str) makes, without building an encoder for each of a batch's records
_RECORD_JSON = json.JSONEncoder(default=str)


def build_plan(inventory: Inventory, found: dict[tuple[str, str], list[Record]], failed: dict[tuple[str, str], str],
               identifiers: list[Identifier], *, key: bytes, erased_on: date, open_tasks: bool = True,
               kept: dict[tuple, str] | None = None,
               subjects: Callable[[Record], Iterable[str]] | None = None,
               owners: Callable[[Record], frozenset[str]] | None = None) -> Plan:
    """The plan for the records `found` per (system, collection); `kept`: record ref -> why it is left
    as it is (a row other people's records point at); `subjects`: the keyed hashes of the identifiers
    of the subject whose record it is (default: every one of `identifiers`), which tell a shared
    message's other people from the subject and what a redaction takes out of it; `owners`: the keyed
    hashes of every identifier, of any kind, of the subject(s) whose record it is (default: every one
    of `identifiers`), which tell the other people a record names (`Record.people`) from the subject."""
    kept = kept or {}
    everyone = subject_hashes(inventory, key, identifiers)
    everyone_all = frozenset(keyed_hash(key, i.kind, i.value) for i in identifiers)
    tests: dict[frozenset, SubjectTest] = {}

    def subject_of(record: Record) -> SubjectTest:
        hashes = frozenset(subjects(record) if subjects else everyone)
        if hashes not in tests:
            tests[hashes] = SubjectTest(key, hashes, inventory)
        return tests[hashes]

    collections: list[CollectionPlan] = []
    impossible: list[str] = []  # masks the sources cannot take: the whole erase is refused before writing
    owns: dict = {}  # each mailbox's own addresses (shared_mail.sharing)
    for system in inventory.systems.values():
        if system.is_manual:
            continue
        connector = None
        shares = getattr(get(system.connector), "mailbox", False)
        try:
            for coll in system.collections.values():
                cplan = CollectionPlan(system.name, coll.name, system.connector, coll.erase)
                collections.append(cplan)
                if (system.name, coll.name) in failed:
                    cplan.status, cplan.error = "failed", failed[(system.name, coll.name)]
                    continue
                records = found.get((system.name, coll.name), [])
                if not records:
                    continue
                rule = coll.erase
                masker = Masker(key)
                unknown = None  # why the people the records name could not be told
                if rule and rule.action in ("delete", "anonymize") and getattr(get(system.connector), "names_people", False):
                    try:
                        if connector is None:
                            connector = open_connector(system, inventory)
                        connector.find_people(coll, records)
                    except Exception as exc:  # whatever the source raises: the records are kept, not failed
                        unknown = f"not erased: who else it names could not be read ({failure(inventory, exc)})"
                for record in records:
                    action = rule.action if rule else "none"
                    until = kept_until(rule, record.data, erased_on)
                    fields = dict(rule.fields) if rule and action in ("anonymize", "retain") else {}
                    subject = subject_of(record) if shares else None
                    shared, policy = (sharing(inventory, coll, record.identities, subject, owns) if subject else None) \
                        or (0, None)
                    if policy in ("redact", "keep") and action in ("delete", "anonymize"):
                        action, fields = policy, {}  # the other people's message stays theirs
                    if record.people and not shared:  # a ticket other people wrote in or are copied on
                        shared = people_others(inventory, coll, record.people,
                                               owners(record) if owners else everyone_all, key, owns)
                        if shared and action in ("delete", "anonymize"):
                            action, fields = "keep", {}  # no one else's record is deleted or altered
                    elif unknown and action in ("delete", "anonymize"):
                        action, fields = "keep", {}
                    cplan.steps.append(Step(system.name, coll.name, action, record.key,
                                            record_id(key, system.name, coll.name, record.key), record.digest, fields,
                                            until, record.location,
                                            done=bool(fields) and masker.mask(record.data, fields) == record.data,
                                            kept=kept.get(record.ref) or (shared_with(shared) if action == "keep" and shared
                                                                          else unknown if action == "keep" else None),
                                            shared=shared,
                                            subject=tuple(sorted(subject.hashes)) if action == "redact" else ()))
                if any((t := s.target()) is not None and t.fields for s in cplan.steps):
                    try:
                        if connector is None:
                            connector = open_connector(system, inventory)
                        impossible.extend(line for _, line in impossible_masks(inventory, connector, coll))
                    except Exception as exc:  # whatever the source raises fails this collection only
                        cplan.status, cplan.error = "failed", failure(inventory, exc)
                        cplan.steps = []
        finally:
            if connector is not None:
                close_quietly(connector)
    if impossible:
        from ..errors import RefusedError

        raise RefusedError("cannot erase: " + "; ".join(impossible) + " — fix the erase rule; nothing was changed")
    tasks = []
    if open_tasks:
        found = any(s.target() for c in collections for s in c.steps)
        for system in inventory.systems.values():
            if system.is_manual and (found or system.always_ask):  # nothing found: only processors always asked
                idents = [str(i) for i in identifiers if not system.identity_kinds or i.kind in system.identity_kinds]
                tasks.append({"system": system.name, "processor": system.processor,
                              "instructions": system.instruction_for("erasure"), "identifiers": idents})
    suppress: dict[str, dict[Identifier, None]] = {}  # ordered, without duplicates (a batch has thousands)
    for coll in inventory.collections():
        if coll.suppress:
            ids = [i for i in identifiers if i.kind in coll.identities]
            if ids:
                suppress.setdefault(coll.system.name, {}).update(dict.fromkeys(ids))
    return Plan(list(identifiers), collections, tasks, {s: list(ids) for s, ids in suppress.items()}, erased_on)


def plan_from_find(inventory: Inventory, results: list, *, key: bytes, erased_on: date, batch: bool = False,
                   suppress_unmatched: bool = False) -> Plan:
    """The plan for one or more subjects found by `find_subject` (refuses an ambiguous one). For a `batch`,
    the plan also holds each subject's part (`Plan.subjects`), and a subject whose search found nothing
    adds no suppression entry unless `suppress_unmatched` (a line matching nobody may be a typo: a hash
    of it would block nobody, or the wrong address)."""
    refuse_ambiguous(results)
    found: dict[tuple[str, str], list[Record]] = {}
    seen: set = set()
    failed: dict[tuple[str, str], str] = {}
    identifiers: dict[Identifier, None] = {}  # ordered, without duplicates
    owners: dict[tuple, list] = {}  # record ref -> the results (subjects of a batch) that found it
    for result in results:
        for ident in result.identifiers:
            identifiers.setdefault(ident, None)
        for system, collection, error in result.failures:
            failed[(system, collection)] = error
        for record in result.records():
            owners.setdefault(record.ref, []).append(result)
            if record.ref in seen:
                continue
            seen.add(record.ref)
            found.setdefault((record.system, record.collection), []).append(record)
    hashes: dict[int, frozenset[str]] = {}

    def subjects(record: Record) -> frozenset[str]:  # in a batch, a message's subjects are the ones that found it
        out: set[str] = set()
        for result in owners.get(record.ref, ()):
            if id(result) not in hashes:
                hashes[id(result)] = subject_hashes(inventory, key, result.identifiers)
            out |= hashes[id(result)]
        return frozenset(out)

    plan = build_plan(inventory, found, failed, list(identifiers), key=key, erased_on=erased_on,
                      open_tasks=True, kept=shared_rows(inventory, results, seen),
                      subjects=subjects)  # a record naming only people of the batch is no one else's
    if batch:
        plan.subjects = _subject_plans(plan, found, results)
        plan.suppress_unmatched = suppress_unmatched
        if not suppress_unmatched:
            matched = {i for r in results if r.total for i in r.identifiers}
            kept_ids = {system: [i for i in ids if i in matched] for system, ids in plan.suppress.items()}
            plan.suppress = {system: ids for system, ids in kept_ids.items() if ids}
    return plan


def _subject_plans(plan: Plan, found: dict[tuple[str, str], list[Record]], results: list) -> list[SubjectPlan]:
    """Each batch subject's part of the plan: the steps of the records its own search found."""
    step_of: dict[tuple, Step] = {}
    for cplan in plan.collections:
        records = found.get((cplan.system, cplan.collection), [])
        if len(records) == len(cplan.steps):  # built one step per record, in order (none: the collection failed)
            step_of.update((r.ref, step) for r, step in zip(records, cplan.steps))
    out = []
    for result in results:
        mine: dict[tuple[str, str], list[Step]] = {}
        for record in result.records():
            step = step_of.get(record.ref)
            if step is not None:
                mine.setdefault((record.system, record.collection), []).append(step)
        colls = [CollectionPlan(c.system, c.collection, c.connector, c.rule, mine.get((c.system, c.collection), []),
                                c.status, c.error) for c in plan.collections]
        out.append(SubjectPlan(list(result.given), list(result.identifiers), result.total, colls))
    return out


def shared_rows(inventory: Inventory, results: list, own: set) -> dict[tuple, str]:
    """The records reached only through one-way links that other people's records point at too (an
    address someone else's order ships to): ref -> why the erase leaves them. A row only the subject's
    records point at is erased as its rule says."""
    from .. import links

    targets: dict[tuple, list[Identifier]] = {}
    for result in results:
        targets.update(links.link_targets(inventory, result))
    return pointed_at(inventory, targets, own)


def pointed_at(inventory: Inventory, targets: dict[tuple, list[Identifier]], own: set) -> dict[tuple, str]:
    """Of `targets` (record ref -> the identifiers of one-way links that reached it), the records that
    records outside `own` point at too: ref -> why the erase leaves them."""
    from .. import links

    if not targets:
        return {}
    try:
        counts = links.referrers(inventory, {i for idents in targets.values() for i in idents}, own)
    except (DsarError, OSError) as exc:
        # Erasing a row others may point at cannot be decided without them: nothing is erased, and the
        # operator is told why (once the subject's own records are gone, such rows cannot be found again).
        raise SourceError(f"cannot tell whether rows behind one-way links are shared, so nothing was erased: "
                          f"{inventory.redact(str(exc))}") from None
    out = {}
    for ref, idents in targets.items():
        others = sum(counts.get(i, 0) for i in idents)
        if others:
            named = ", ".join(str(i) for i in idents)
            out[ref] = f"shared: {others} other record{'s point' if others != 1 else ' points'} at it ({named})"
    return out
