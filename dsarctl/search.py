"""Finding a subject: identity expansion to a fixpoint across every system.

A subject starts as one or more identifiers. Each round searches every collection for the identifiers
that are new since the last round; the identity fields of every record found yield more identifiers
(email -> customer_id -> orders). The search stops when a round finds nothing new. Each identifier
keeps its provenance (given by the operator, or found in which collection via which identifier), so the
expansion is always shown. Two values of a `unique` identity kind flag the result as ambiguous; when the
operator names values of a unique kind explicitly, other values of that kind are not followed and
records carrying only other values of it are left out.

One failing collection does not stop the search: it is reported with its error and the rest goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import AbstractSet, Any, Callable, Iterable

from . import links
from .connectors import Record, close_quietly, failure, guarded, open_connector
from .sources import checked_records
from .errors import DsarError, SourceError
from .identity import Identifier, group_by_kind
from .inventory.model import Collection, Inventory, System

MAX_ROUNDS = 20  # a real chain is 2-4 rounds; this only stops a pathological loop


@dataclass
class Provenance:
    """How an identifier of the subject became known."""

    identifier: Identifier
    round: int  # 0 = given by the operator
    via: Identifier | None = None
    found_in: str | None = None  # system.collection
    location: str | None = None
    followed: bool = True  # False: a value of a unique kind other than the ones the operator named
    field: str | None = None  # the field of the record that held it: the link it came through

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.identifier.kind, "value": self.identifier.value, "round": self.round}
        if self.round == 0:
            out["source"] = "given"
        else:
            out.update(source="found", found_in=self.found_in, via=str(self.via), location=self.location,
                       field=self.field)
        if not self.followed:
            out["followed"] = False
        return out


@dataclass
class CollectionResult:
    collection: Collection
    records: list[Record] = field(default_factory=list)
    status: str = "ok"  # ok | failed
    error: str | None = None
    excluded: int = 0  # records left out because they carry another value of a named unique kind

    @property
    def matched_by(self) -> list[str]:
        return sorted({f"{k}:{v}" for r in self.records for k, v in r.matched})

    def to_dict(self) -> dict[str, Any]:
        erase = self.collection.erase
        out: dict[str, Any] = {
            "collection": self.collection.name,
            "status": self.status,
            "count": len(self.records),
            "matched_by": self.matched_by,
            "erase": erase.to_dict() if erase else None,
        }
        if self.error:
            out["error"] = self.error
        if self.excluded:
            out["excluded"] = self.excluded
        return out


@dataclass
class SystemResult:
    system: System
    collections: dict[str, CollectionResult] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.system.is_manual:
            return "manual"
        if any(c.status == "failed" for c in self.collections.values()):
            return "failed"
        return "ok"

    @property
    def count(self) -> int:
        return sum(len(c.records) for c in self.collections.values())

    def to_dict(self, result: "FindResult") -> dict[str, Any]:
        out: dict[str, Any] = {
            "system": self.system.name,
            "connector": self.system.connector,
            "status": self.status,
            "count": self.count,
        }
        if self.system.is_manual:
            out["task"] = result.manual_task(self.system)
        else:
            out["collections"] = [c.to_dict() for c in self.collections.values()]
        return out


def failure_groups(failures: Iterable[tuple[str, str, str]]) -> list[tuple[str, list[str], str]]:
    """(system, collections, message) for `failures` ((system, collection, message) triples): the
    collections of one system that failed with the same message together (an unreachable server fails
    every collection alike), in the order first seen."""
    groups: dict[tuple[str, str], list[str]] = {}
    for system, collection, message in failures:
        collections = groups.setdefault((system, message), [])
        if collection not in collections:
            collections.append(collection)
    return [(system, collections, message) for (system, message), collections in groups.items()]


def failure_lines(failures: Iterable[tuple[str, str, str]]) -> list[str]:
    """One line per group of `failure_groups`: `SYSTEM.COLLECTION: message` for one collection,
    `SYSTEM: message` for several with the same message (the commands print each after `failed: `)."""
    return [f"{system}.{collections[0]}: {message}" if len(collections) == 1 else f"{system}: {message}"
            for system, collections, message in failure_groups(failures)]


@dataclass
class FindResult:
    given: list[Identifier]
    provenance: dict[Identifier, Provenance]
    systems: dict[str, SystemResult]
    ambiguous: dict[str, list[str]]
    rounds: int
    complete: bool = True  # every identifier found was searched for (no MAX_ROUNDS cut)

    @property
    def identifiers(self) -> list[Identifier]:
        return [p.identifier for p in self.provenance.values() if p.followed]

    @property
    def total(self) -> int:
        return sum(s.count for s in self.systems.values())

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        """(system, collection, error) of every collection that could not be searched."""
        return [
            (s.system.name, c.collection.name, c.error or "failed")
            for s in self.systems.values()
            for c in s.collections.values()
            if c.status == "failed"
        ]

    def failure_groups(self) -> list[tuple[str, list[str], str]]:
        """The failures grouped by system and message: see `failure_groups`."""
        return failure_groups(self.failures)

    def records(self) -> Iterable[Record]:
        for system in self.systems.values():
            for coll in system.collections.values():
                yield from coll.records

    def manual_task(self, system: System, request_type: str = "access") -> dict[str, Any]:
        """The step at a processor for a request of `request_type`: who, the instruction for that type,
        the identifiers to hand over, and whether it is `needed` (something of the subject was found, or
        the processor is marked `always_ask`)."""
        idents = [str(i) for i in self.identifiers if not system.identity_kinds or i.kind in system.identity_kinds]
        return {
            "processor": system.processor,
            "instructions": system.instruction_for(request_type),
            "identifiers": idents,
            "needed": bool(self.total) or system.always_ask,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": [str(i) for i in self.given],
            "identifiers": [p.to_dict() for p in self.provenance.values()],
            "ambiguous": self.ambiguous,
            "rounds": self.rounds,
            "total": self.total,
            "systems": [s.to_dict(self) for s in self.systems.values()],
            "failures": [{"system": s, "collection": c, "error": e} for s, c, e in self.failures],
        }


def find_subject(
    inventory: Inventory,
    identifiers: list[Identifier],
    *,
    expand: bool = True,
    systems: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    contents: bool = True,
    settled: AbstractSet[tuple[str, str]] = frozenset(),
) -> FindResult:
    """Search every system for the subject, expanding identifiers until nothing new is found.

    `contents=False` says the caller reads of each record only its key, location and identities, never
    the rest of `data` (`find`): sources may then skip reading the rest (`Source.locate(lookup_only=True)`).
    `settled` names (system, collection) pairs known to hold none of `identifiers` (the erase proves it
    for files it rewrote, see erase/settle.py): they are searched only for identifiers found later.
    """
    return find_subjects(inventory, [identifiers], expand=expand, systems=systems, progress=progress,
                         contents=contents, settled=settled)[0]


class _Subject:
    """One subject's state during a (batch) search."""

    def __init__(self, inventory: Inventory, identifiers: list[Identifier], selected: list[System]):
        self.inventory = inventory
        self.given = list(dict.fromkeys(identifiers))
        self.provenance: dict[Identifier, Provenance] = {i: Provenance(i, 0) for i in self.given}
        self.named_unique = {
            kind: {i.value for i in self.given if i.kind == kind}
            for kind, spec in inventory.identities.items()
            if spec.unique and any(i.kind == kind for i in self.given)
        }
        self.results = {s.name: SystemResult(s) for s in selected}
        for system in selected:
            if not system.is_manual:
                for coll in system.collections.values():
                    self.results[system.name].collections[coll.name] = CollectionResult(coll)
        self.found: dict[tuple, Record] = {}
        self.one_way = links.one_way_fields(inventory)
        self.held: set[tuple] = set()  # records reached only through one-way links: not expanded (yet)
        self.frontier = list(self.given)
        self.wanted: dict[str, frozenset[str]] = {}
        self.new: list[Identifier] = []
        self.rounds = 0

    def take(self, coll: Collection, cres: CollectionResult, record: Record, rounds: int, expand: bool) -> None:
        """Add a record found in this round, and the identifiers it carries."""
        if _excluded(record, self.named_unique):
            cres.excluded += 1
            for kind in self.named_unique:
                for value in sorted(record.identities.get(kind, ())):
                    ident = Identifier(kind, value)
                    self.provenance.setdefault(ident, Provenance(
                        ident, rounds, min(Identifier(k, v) for k, v in record.matched),
                        coll.qualified_name, record.location, followed=False))
            return
        previous = self.found.get(record.ref)
        if previous is not None:
            if previous.digest and record.digest and previous.digest != record.digest:
                # the same place holds other bytes than an earlier round read: the file changed meanwhile
                raise SourceError(f"{record.location or coll.qualified_name} changed while it was searched; "
                                  "search again", system=coll.system.name)
            previous.matched |= record.matched
            if record.ref in self.held and not links.through_one_way(self.one_way, self.provenance, record.matched):
                self.held.discard(record.ref)  # reached now through a link of its own: it is the subject's
                self._expand(coll, previous, rounds, expand)
            return
        self.found[record.ref] = record
        cres.records.append(record)
        if not coll.expand:
            return
        if self.one_way and links.through_one_way(self.one_way, self.provenance, record.matched):
            # A row reached only through one-way links (an address someone else's order ships to too) is
            # the subject's to read; what it carries leads to whoever else shares it, so it is not followed.
            self.held.add(record.ref)
            return
        self._expand(coll, record, rounds, expand)

    def _expand(self, coll: Collection, record: Record, rounds: int, expand: bool) -> None:
        """Take the identifiers `record` carries as the subject's, to be searched next round."""
        via = min(Identifier(k, v) for k, v in record.matched)
        carried = links.followed(self.inventory, coll, record) if coll.unfollowed else record.identities
        for kind, values in sorted(carried.items()):
            for value in sorted(values):
                ident = Identifier(kind, value)
                if ident in self.provenance:
                    continue
                followed = expand and not (kind in self.named_unique and value not in self.named_unique[kind])
                self.provenance[ident] = Provenance(ident, rounds, via, coll.qualified_name, record.location, followed,
                                                    links.field_of(self.inventory, coll, record, kind, value))
                if followed:
                    self.new.append(ident)

    def result(self, inventory: Inventory) -> FindResult:
        ambiguous = {}
        for kind, spec in inventory.identities.items():
            if spec.unique and kind not in self.named_unique:
                values = sorted(p.identifier.value for p in self.provenance.values() if p.identifier.kind == kind)
                if len(values) > 1:
                    ambiguous[kind] = values
        return FindResult(self.given, self.provenance, self.results, ambiguous, self.rounds, not self.frontier)


EARLY_ROUNDS = True  # start a round before the previous round's mailboxes are read (tests compare both)


def find_subjects(
    inventory: Inventory,
    subjects: list[list[Identifier]],
    *,
    expand: bool = True,
    systems: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    contents: bool = True,
    settled: AbstractSet[tuple[str, str]] = frozenset(),
) -> list[FindResult]:
    """`find_subject` for several subjects at once, reading each source once per round for all of them:
    every collection is searched for the union of what the subjects look for, and each record found is
    given to the subjects whose identifiers it matches. Each subject's expansion, provenance and
    ambiguity are exactly as if it were searched alone. Whatever a source raises fails its collection
    (one line, see `connectors.failure`); the rest is still searched."""
    selected = [s for s in inventory.systems.values() if systems is None or s.name in systems]
    people = [_Subject(inventory, ids, selected) for ids in subjects]
    connectors: dict = {}
    pending: list = []  # every started search, closed at the end (a grep not waited for is stopped)
    deferred: list = []  # searches of collections that add no identifiers, taken once the next round runs

    def take(key: tuple[str, str], search, takers: list[_Subject], rounds: int, wanting: dict) -> None:
        system_name, coll_name = key
        coll = inventory.systems[system_name].collections[coll_name]
        if progress:
            progress(f"{system_name}.{coll_name}")
        try:
            if isinstance(search, Exception):
                raise search
            source = connectors[system_name]
            records = guarded(lambda: checked_records(source, "locate", search()), system_name, inventory)
            if coll.unsearched:  # whatever the connector returned, a record is found by searched fields only
                records = links.searched_only(inventory, coll, records, wanting)
            if len(takers) == 1:
                [person] = takers
                cres = person.results[system_name].collections[coll_name]
                for record in records:
                    person.take(coll, cres, record, rounds, expand)
                return
            chosen = set(map(id, takers))
            for record in records:
                hits: dict[int, tuple[_Subject, set]] = {}
                # a one-way collection's record counts as found by what it matched on searched fields only
                carried = links.as_identities(record.matched) if coll.unsearched else record.identities
                for kind, values in carried.items():
                    for value in values:
                        for person in wanting.get((kind, value), ()):
                            if id(person) in chosen:
                                hits.setdefault(id(person), (person, set()))[1].add((kind, value))
                for person, matched in hits.values():
                    person.take(coll, person.results[system_name].collections[coll_name],
                                replace(record, matched=matched), rounds, expand)
        except (DsarError, OSError) as exc:
            message = failure(inventory, exc)
            for person in takers:
                _fail(person.results[system_name].collections[coll_name], message, person.found)

    def take_deferred(keep=lambda key: False) -> None:
        nonlocal deferred
        for entry in [e for e in deferred if not keep(e[0])]:
            take(*entry)
        deferred = [e for e in deferred if keep(e[0])]

    rounds = 0
    try:
        while rounds < MAX_ROUNDS and any(p.frontier for p in people):
            rounds += 1
            active = [p for p in people if p.frontier]
            union: dict[str, set[str]] = {}
            for person in active:
                person.wanted = group_by_kind(person.frontier)
                person.new = []
                person.rounds = rounds
                for kind, values in person.wanted.items():
                    union.setdefault(kind, set()).update(values)
            wanted = {kind: frozenset(values) for kind, values in union.items()}
            wanting: dict[tuple[str, str], list[_Subject]] = {}  # (kind, value) -> who looks for it
            for person in active:
                for kind, values in person.wanted.items():
                    for value in values:
                        wanting.setdefault((kind, value), []).append(person)
            candidates = [(system, coll) for system in selected if not system.is_manual
                          for coll in system.collections.values()
                          if set(coll.searched) & set(wanted)
                          and not (rounds == 1 and (system.name, coll.name) in settled)]
            # a collection an earlier round left to take is taken before it is read again
            again = {(system.name, coll.name) for system, coll in candidates}
            take_deferred(keep=lambda key: key not in again)
            # Start every collection's search first (file sources start grep, which runs in the
            # background), then take the results in inventory order.
            started = {}
            for system, coll in candidates:
                takers = [p for p in active if set(coll.searched) & set(p.wanted)
                          and p.results[system.name].collections[coll.name].status != "failed"]
                if not takers:
                    continue
                try:
                    connector = connectors.get(system.name)
                    if connector is None:
                        connector = connectors[system.name] = open_connector(system, inventory)
                    search = connector.start_locate(coll, wanted, lookup_only=not contents)
                    pending.append(search)
                except (DsarError, OSError) as exc:
                    search = exc
                except Exception as exc:  # a source's bug fails its collection, as its errors do
                    search = SourceError(failure(inventory, exc), system=system.name)
                started[(system.name, coll.name)] = (search, takers)
            # The records of a collection that adds no identifiers (a mailbox) cannot change the next
            # rounds, which can start as soon as the others are taken: their greps and lookups then run
            # while this round's mail is still being read. Such a collection is taken before it is read
            # again, or at the end. (Not when a unique identifier was named: a record it excludes notes
            # its identifiers, and the order of those notes is kept.)
            early = EARLY_ROUNDS and expand and not any(p.named_unique for p in active)
            for key, (search, takers) in started.items():
                coll = inventory.systems[key[0]].collections[key[1]]
                if early and not coll.expand:
                    deferred.append((key, search, takers, rounds, wanting))
                else:
                    take(key, search, takers, rounds, wanting)
            for person in active:
                person.frontier = person.new if expand else []
        take_deferred()
    finally:
        for search in pending:
            close_quietly(search)
        for connector in connectors.values():
            close_quietly(connector)
    return [person.result(inventory) for person in people]


def _fail(cres: CollectionResult, message: str, found: dict) -> None:
    cres.status = "failed"
    cres.error = message
    for record in cres.records:
        found.pop(record.ref, None)
    cres.records = []


def _excluded(record: Record, named_unique: dict[str, set[str]]) -> bool:
    for kind, named in named_unique.items():
        values = record.identities.get(kind)
        if values and not values & named:
            return True
    return False
