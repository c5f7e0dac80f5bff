"""Restored records: which of them `erase --replay` erases again — the erased people's, no one else's.

An erasure record keeps the keyed hashes of every identifier the erase followed and when it ran, never
the identifiers. A restore brings the erased person's records back, but some of their ids may since
have been given to someone else: SQLite gives a new row the highest rowid plus one, so a new customer
gets the id of an erased one; a phone number is reassigned. A record is the erased person's only with
evidence beyond a bare id:

1. **Start** from person-level identifiers (identity kinds of type `email` or `phone`) whose keyed hash an
   erasure recorded, found by reading every collection that holds such a kind; and from the recorded ids
   of records whose creation time (`created:` in the inventory) shows they existed before the erasure.
   A recorded database key (a customer id, an order id) starts nothing by itself.
2. **Expand** as a search does (link directions included), following only identifiers whose keyed hash
   an erasure recorded.
3. **Leave alone**, and report, a record found that way when it was created after the erasure, or when
   it carries an e-mail, phone or value of a `unique` kind that no erasure recorded (another person's
   row), or when it was reached only through ids that such a record holds now and no creation time says
   it is older than the erasure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..connectors import Record, close_quietly, failure, guarded, open_connector
from ..errors import DsarError
from ..identity import Identifier
from ..inventory.model import Collection, Inventory
from ..keys import keyed_hash
from ..sources import Erasable, checked_records

PERSON_TYPES = ("email", "phone")  # identity types that name a person, not a row of a database

NEWER = "created after the erasure: a new record (another person's, or the person's new one)"
OTHER = "carries an e-mail, phone or unique id that no erasure recorded: another person's record"
TAKEN = ("reached only through an id that another person's record holds now, and no creation time "
         "(`created:`) shows it is older than the erasure")


@dataclass
class Selection:
    """What a replay erases, and what it found but left alone."""

    found: dict[tuple[str, str], list[Record]] = field(default_factory=dict)  # (system, collection) -> records
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    left: dict[tuple[str, str, str], list[Record]] = field(default_factory=dict)  # (system, collection, why)
    # record ref -> identifiers, for the records of `found` reached only through one-way links (a row
    # that other people's records may point at: see erase.plan.shared_rows)
    targets: dict[tuple, list[Identifier]] = field(default_factory=dict)

    def left_alone(self) -> list[dict[str, Any]]:
        """One entry per collection and reason, in the shape of the erase report's `remaining`."""
        return [{"system": system, "collection": collection, "status": "left alone", "count": len(records),
                 "records": [r.location for r in records], "reason": reason}
                for (system, collection, reason), records in self.left.items()]


def select(inventory: Inventory, key: bytes, erasures: list[dict]) -> Selection:
    """The records of the erased people in the sources now, from the audit log's `erasures`."""
    replay = _Replay(inventory, key, erasures)
    if replay.erased:
        replay.seed()
        replay.expand()
    return replay.selection


class _Replay:
    def __init__(self, inventory: Inventory, key: bytes, erasures: list[dict]):
        from zoneinfo import ZoneInfo

        self.inventory = inventory
        self.key = key
        self.erased: dict[str, datetime] = {}  # keyed hash -> when the latest erasure that recorded it ran
        for erasure in erasures:
            at = _moment(erasure["at"])
            for digest in erasure["identifier_hashes"]:
                self.erased[digest] = max(self.erased.get(digest, at), at)
        kinds = inventory.identities
        self.person = {name for name, kind in kinds.items() if kind.type in PERSON_TYPES}
        self.guarded = self.person | {name for name, kind in kinds.items() if kind.unique}
        self.zone = ZoneInfo(inventory.controller.timezone)
        self.origin: dict[Identifier, datetime] = {}  # identifiers to search by -> their erasure's time
        self.frontier: list[Identifier] = []
        self.linked: set[Identifier] = set()  # identifiers first followed from a `search: false` field
        self.claimed: set[tuple[str, str]] = set()  # ids held by records that are not the erased person's
        self.decided: set = set()
        self.selection = Selection()

    def when(self, kind: str, value: str) -> datetime | None:
        """When the (latest) erasure that recorded this identifier ran; None: no erasure recorded it."""
        return self.erased.get(keyed_hash(self.key, kind, value))

    def follow(self, kind: str, value: str, link: bool = False) -> None:
        ident = Identifier(kind, value)
        at = self.when(kind, value)
        if at is not None and ident not in self.origin:
            self.origin[ident] = at
            self.frontier.append(ident)
            if link:
                self.linked.add(ident)

    # -- 1. where to start ---------------------------------------------------------------------------
    def seed(self) -> None:
        for system in self.inventory.systems.values():
            colls = [c for c in system.collections.values() if self.person & set(c.identities) or c.created]
            if system.is_manual or not colls:
                continue
            try:
                source = open_connector(system, self.inventory)
            except (DsarError, OSError) as exc:
                for coll in colls:
                    self.selection.failed.setdefault((system.name, coll.name), self.reason(exc))
                continue
            try:
                if not isinstance(source, Erasable):
                    continue  # nothing in it can be erased (it has no `scan`); its records are searched below
                for coll in colls:
                    try:
                        for record in guarded(lambda: checked_records(source, "scan", source.scan(coll)),
                                              system.name, self.inventory):
                            self.seed_from(coll, record)
                    except (DsarError, OSError) as exc:
                        self.selection.failed[(system.name, coll.name)] = self.reason(exc)
            finally:
                close_quietly(source)

    def seed_from(self, coll: Collection, record: Record) -> None:
        for kind in self.person & set(record.identities):
            for value in record.identities[kind]:
                self.follow(kind, value)
        if not coll.created:
            return
        created = self.created(coll, record)
        if created is None or self.conflict(coll, record):
            return
        for kind, values in self.carried(coll, record).items():
            for value in values:
                at = self.when(kind, value)
                if kind not in self.person and at is not None and self.before(created, at):
                    self.follow(kind, value)  # a recorded id in a record that existed at the erasure

    # -- 2. expand, 3. leave alone -------------------------------------------------------------------
    def expand(self) -> None:
        from ..search import MAX_ROUNDS, find_subject

        rounds = 0
        while self.frontier and rounds < MAX_ROUNDS:
            rounds += 1
            searched, self.frontier = self.frontier, []
            result = find_subject(self.inventory, searched, expand=False)
            for system, collection, error in result.failures:
                self.selection.failed.setdefault((system, collection), error)
            batch = []
            for record in result.records():
                if record.ref in self.decided:
                    continue
                self.decided.add(record.ref)
                coll = self.inventory.systems[record.system].collections[record.collection]
                times = [self.origin[i] for i in (Identifier(k, v) for k, v in record.matched) if i in self.origin]
                if not times:  # a record is found by what was searched for; nothing else can lead to it
                    continue
                batch.append((coll, record, max(times), self.judge(coll, record, max(times))))
            # every record that holds an id searched in this round is in this round's batch: the ids that
            # other people's records hold are known before any record reached through them is decided
            for coll, record, at, why in batch:
                if why is not None:
                    self.claimed.update((k, v) for k, v in record.matched if k not in self.person)
            for coll, record, at, why in batch:
                if why is None and self.taken(coll, record):
                    why = TAKEN
                if why is not None:
                    self.selection.left.setdefault((record.system, record.collection, why), []).append(record)
                    continue
                if coll.erase is not None:
                    self.selection.found.setdefault((record.system, record.collection), []).append(record)
                    matched = sorted(Identifier(k, v) for k, v in record.matched)
                    if matched and all(i in self.linked for i in matched):
                        self.selection.targets[record.ref] = matched
                for kind, values in self.carried(coll, record).items():
                    for value in values:
                        self.follow(kind, value, self.one_way(coll, record, kind, value))

    def one_way(self, coll: Collection, record: Record, kind: str, value: str) -> bool:
        """Whether `value` came from a `search: false` field of the record (a link to a shared row)."""
        if not coll.unsearched:
            return False
        from .. import links

        name = links.field_of(self.inventory, coll, record, kind, value)
        return name is not None and coll.direction(kind, name) == "follow only"

    def judge(self, coll: Collection, record: Record, at: datetime) -> str | None:
        """Why the record is not the erased person's, or None."""
        created = self.created(coll, record)
        if created is not None and not self.before(created, at):
            return NEWER
        if self.conflict(coll, record):
            return OTHER
        return None

    def conflict(self, coll: Collection, record: Record) -> bool:
        """Whether the record carries a person-level or unique value that no erasure recorded. Mailboxes
        (collections whose identifiers are not followed) name several people by nature: the erase's own
        rules for shared messages apply to them."""
        return any(kind in self.guarded and self.when(kind, value) is None
                   for kind, values in self.carried(coll, record).items() for value in values)

    def taken(self, coll: Collection, record: Record) -> bool:
        """Whether the record was reached only through ids another person's record holds now, with no
        creation time to show it is older than the erasure (judge() already left newer ones alone)."""
        if any(kind in self.person for kind, _ in record.matched):
            return False
        return set(record.matched) <= self.claimed and self.created(coll, record) is None

    def carried(self, coll: Collection, record: Record) -> dict[str, set[str]]:
        """The identifiers of `record` that lead on to other records (none for a mailbox, none from a
        `follow: false` field)."""
        if not coll.expand:
            return {}
        if coll.unfollowed:
            from .. import links

            return links.followed(self.inventory, coll, record)
        return record.identities

    # -- time ----------------------------------------------------------------------------------------
    def created(self, coll: Collection, record: Record) -> datetime | date | None:
        """When the record was created (its `created:` field), or None when unknown."""
        if not coll.created:
            return None
        from ..connectors.matching import field_values

        moments = [m for m in map(_moment, field_values(record.data, coll.created)) if m is not None]
        return moments[0] if len(moments) == 1 else None  # several values: none of them says it

    def before(self, created: datetime | date, at: datetime) -> bool:
        """Whether `created` is before the erasure at `at`. A date alone is before it only when it is
        before the erasure's day (in UTC and in the controller's zone): a record of that same day may be
        newer."""
        if isinstance(created, datetime):
            return created < at
        return created < min(at.astimezone(timezone.utc).date(), at.astimezone(self.zone).date())

    def reason(self, exc: Exception) -> str:
        return failure(self.inventory, exc)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _moment(value: Any) -> datetime | date | None:
    """A date, or an aware datetime (one without an offset is UTC), from a field's value: a date or
    datetime, an ISO text, a Unix timestamp. None when it is none of these."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    if _DATE.match(text):
        return date.fromisoformat(text)
    from dateutil import parser

    try:
        return _moment(parser.isoparse(text))
    except (ValueError, OverflowError):
        return None
