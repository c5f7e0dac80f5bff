"""Link directions: which identity fields of a collection are searched by, and which are followed.

An identity field works both ways unless the inventory says otherwise: `search: false` (the field's values
lead on to other records, but the collection is never searched by it: a link to a row that many people
share, such as a shipping address or a product) and `follow: false` (the collection is searched by it, but
a value found there is not followed). Connectors may search more widely than a collection's searched
fields; the search keeps a record of a one-way collection only when a searched field holds a wanted value,
so the rule holds for every connector, built-in or plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Container, Iterable, Iterator

from .connectors.matching import FieldMatcher, field_values

from .identity import Identifier
from .sources import checked_records

if TYPE_CHECKING:
    from .connectors import Record
    from .inventory.model import Collection, Inventory
    from .search import FindResult


def searched_only(inventory: "Inventory", coll: "Collection", records: Iterable["Record"],
                  wanting: Container[tuple[str, str]]) -> Iterator["Record"]:
    """The records whose searched fields hold a wanted (kind, value), each with `matched` set to those."""
    matcher = FieldMatcher(coll, inventory, coll.searched)
    for record in records:
        hits = {(kind, value) for kind, values in matcher.identities(record.data).items()
                for value in values if (kind, value) in wanting}
        if hits:
            record.matched = hits
            yield record


def followed(inventory: "Inventory", coll: "Collection", record: "Record") -> dict[str, set[str]]:
    """The identity values of `record` that lead on to other records (none from `follow: false` fields)."""
    return FieldMatcher(coll, inventory, coll.followed).identities(record.data)


def field_of(inventory: "Inventory", coll: "Collection", record: "Record", kind: str, value: str) -> str | None:
    """The field of `record` that holds `value` of `kind` (the link an identifier came through)."""
    fields = coll.identities.get(kind, [])
    if len(fields) == 1:
        return fields[0]
    normalise = inventory.identities[kind].normalise
    for name in fields:
        if any(normalise(raw) == value for raw in field_values(record.data, name)):
            return name
    return None


def as_identities(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, value in pairs:
        out.setdefault(kind, set()).add(value)
    return out


def one_way_fields(inventory: "Inventory") -> frozenset[tuple[str, str, str]]:
    """(collection, kind, field) of every `search: false` field of the inventory."""
    return frozenset((c.qualified_name, kind, name) for c in inventory.collections() for kind, name in c.unsearched)


def through_one_way(one_way: Container[tuple[str, str, str]], provenance: dict, matched: Iterable[tuple[str, str]],
                    ) -> bool:
    """Whether every identifier in `matched` came from a `search: false` field (its first provenance): the
    record was reached only through one-way links."""
    any_ = False
    for kind, value in matched:
        prov = provenance.get(Identifier(kind, value))
        if prov is None or not prov.round or (prov.found_in, kind, prov.field) not in one_way:
            return False
        any_ = True
    return any_


def link_targets(inventory: "Inventory", result: "FindResult") -> dict[tuple, list["Identifier"]]:
    """The records of `result` reached only through one-way links (each matched identifier came from a
    `search: false` field): record ref -> those identifiers. Such a record is a row that several people
    may share (an address, a product): it is the subject's to read, but not to erase unless no one else's
    record points at it (see `referrers`)."""
    one_way = one_way_fields(inventory)
    if not one_way:
        return {}
    return {record.ref: [Identifier(k, v) for k, v in sorted(record.matched)] for record in result.records()
            if through_one_way(one_way, result.provenance, record.matched)}


def referrers(inventory: "Inventory", identifiers: Iterable["Identifier"], own: Container[tuple],
              ) -> dict["Identifier", int]:
    """How many records outside `own` (refs) hold each identifier in a `search: false` field: the other
    records that point at a shared row. Searches those fields, which the subject's search never does."""
    from dataclasses import replace
    from functools import partial

    from .connectors import guarded, open_connector

    wanted: dict[str, set[str]] = {}
    for ident in identifiers:
        wanted.setdefault(ident.kind, set()).add(ident.value)
    counts: dict = {}
    for coll in inventory.collections():
        fields = {kind: [f for k, f in sorted(coll.unsearched) if k == kind] for kind in wanted}
        fields = {kind: names for kind, names in fields.items() if names}
        if not fields:
            continue
        view = replace(coll, identities=fields, unsearched=frozenset(), unfollowed=frozenset())
        with open_connector(coll.system, inventory) as connector:
            records = list(guarded(partial(_located, connector, view, {k: frozenset(wanted[k]) for k in fields}),
                                   coll.system.name, inventory))
            for record in records:
                if record.ref in own:
                    continue
                for kind, value in record.matched:
                    key = Identifier(kind, value)
                    counts[key] = counts.get(key, 0) + 1
    return counts


def _located(source, collection, wanted) -> Iterator:
    """The records of a lookup (only where they are and what they carry is read: `lookup_only`)."""
    search = source.start_locate(collection, wanted, lookup_only=True)
    try:
        yield from checked_records(source, "locate", search())
    finally:
        search.close()
