"""Reading identity values out of a record and matching them against what is searched for.

Shared by every connector so that the matching rules are the same everywhere: a field's value is
normalised for its identity kind, then compared exactly. A field name is tried first as a whole key
(CSV columns like "Email Address", JSON keys containing dots), then as a dotted path; lists met along
the path are searched element by element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from ..identity import IdentityKind
    from ..inventory.model import Collection, Inventory

_MISSING = object()


def field_values(record: Any, field: str) -> list[Any]:
    """Every value at `field` (a key, or a dotted path through nested mappings and lists)."""
    if isinstance(record, dict) and field in record:
        return _flatten(record[field])
    values = [record]
    for part in field.split("."):
        nxt: list[Any] = []
        for value in values:
            if isinstance(value, dict):
                if part in value:
                    nxt.append(value[part])
            elif isinstance(value, list):
                nxt.extend(v[part] for v in value if isinstance(v, dict) and part in v)
        values = nxt
        if not values:
            return []
    out: list[Any] = []
    for value in values:
        out.extend(_flatten(value))
    return out


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [value]


class FieldMatcher:
    """Extracts a collection's identity values from records and matches them."""

    def __init__(self, collection: "Collection", inventory: "Inventory",
                 fields: dict[str, list[str]] | None = None):
        """`fields`: identity kind -> fields to read (default: every identity field of the collection)."""
        self.fields: list[tuple["IdentityKind", list[str]]] = [
            (inventory.identities[kind], names)
            for kind, names in (collection.identities if fields is None else fields).items()
        ]

    def identities(self, record: Any) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for kind, fields in self.fields:
            for field in fields:
                for raw in field_values(record, field):
                    value = kind.normalise(raw)
                    if value is not None:
                        out.setdefault(kind.name, set()).add(value)
        return out

    @staticmethod
    def matches(identities: dict[str, set[str]], wanted: dict[str, frozenset[str]]) -> set[tuple[str, str]]:
        hits: set[tuple[str, str]] = set()
        for kind, values in identities.items():
            want = wanted.get(kind)
            if want:
                hits.update((kind, v) for v in values & want)
        return hits

    def kinds(self) -> Iterable[str]:
        return (kind.name for kind, _ in self.fields)
