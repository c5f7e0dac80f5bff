"""Masking fields of a record: `null`, `redact` (a fixed placeholder) and `hash` (a keyed hash).

A keyed hash keeps joins working (the same value always gives the same hash, in every table) while
nobody without the install key can test guesses. Masking is idempotent: a value already masked is
left as it is, so an interrupted erase can be run again without hashing a hash.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..keys import keyed_hash

REDACTED = "[redacted]"
HASH_KIND = "anonymize"  # one kind for every field: joins across tables survive
HASH_LENGTH = 64  # hex digits of the keyed hash
_HASHED_RE = re.compile(r"^[0-9a-f]{64}$")


def written(op: str) -> str | None:
    """What a field operation writes into a field, for the plan-time checks of a source's columns:
    None for `null`, else a description with the text's length."""
    if op == "redact":
        return f"the placeholder '{REDACTED}' ({len(REDACTED)} characters)"
    if op == "hash":
        return f"the keyed hash ({HASH_LENGTH} characters)"
    return None


def text_length(op: str) -> int:
    """How many characters of text `redact` or `hash` writes."""
    return len(REDACTED) if op == "redact" else HASH_LENGTH


class Masker:
    """Applies an erase rule's field operations with the install key."""

    def __init__(self, key: bytes):
        self.key = key

    def value(self, op: str, value: Any) -> Any:
        """The masked form of one value."""
        if value is None or op == "null":
            return None
        if op == "redact":
            return REDACTED
        if op == "hash":
            if isinstance(value, str) and _HASHED_RE.match(value):
                return value  # already hashed by an earlier run
            return keyed_hash(self.key, HASH_KIND, str(value))
        raise ValueError(f"unknown field operation {op!r}")

    def mask(self, data: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
        """A copy of `data` with `fields` (keys, or dotted paths into nested objects) masked. When every
        field is a key of `data` the copy is shallow: masking makes new values and changes none in
        place, so the values it leaves alone are shared (a deep copy of every planned record of a
        batch cost a third of a second); a dotted path changes nested objects, which are copied."""
        if all(field in data for field in fields):
            out = dict(data)
            for field, op in fields.items():
                out[field] = self._apply(op, out[field])
            return out
        out = copy.deepcopy(data)
        for field, op in fields.items():
            if field in out:
                out[field] = self._apply(op, out[field])
            else:
                _mask_path(out, field.split("."), lambda v, op=op: self._apply(op, v))
        return out

    def unmasked(self, data: dict[str, Any], fields: dict[str, str]) -> list[str]:
        """The fields of `data` that do not hold their masked values (none: masked as the rule says). A
        text value is compared without trailing spaces: a CHAR(n) column pads what it holds."""
        out = []
        for field, op in fields.items():
            if field in data:
                value = data[field]
                if isinstance(value, str):
                    value = value.rstrip(" ")
                if self._apply(op, value) != value:
                    out.append(field)
            elif self.mask(data, {field: op}) != data:
                out.append(field)
        return out

    def _apply(self, op: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self._apply(op, v) for v in value]
        return self.value(op, value)


def _mask_path(node: Any, parts: list[str], fn) -> None:
    if isinstance(node, list):
        for item in node:
            _mask_path(item, parts, fn)
        return
    if not isinstance(node, dict) or parts[0] not in node:
        return
    if len(parts) == 1:
        node[parts[0]] = fn(node[parts[0]])
    else:
        _mask_path(node[parts[0]], parts[1:], fn)
