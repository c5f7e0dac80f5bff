"""The suppression list: keyed hashes of erased subjects' identifiers, so they are not re-imported.

Erasing a subject from a system marked `suppress: true` adds the keyed hash (HMAC with the install key)
of each of their normalised identifiers to the audit log's suppression list. `check` tells whether a
value is on it; `filter_csv` drops the rows of an import file whose column holds a suppressed value.
The list never holds an address itself.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .audit import AuditLog
from .audit_marker import open_audit
from .errors import UsageError
from .identity import Identifier, parse_identifier
from .inventory.model import Inventory
from .keys import keyed_hash, load_or_create_key


def _key(inventory: Inventory) -> bytes:
    return load_or_create_key(Path(inventory.audit_path).parent)


def suppressed_in(inventory: Inventory, identifier: Identifier, audit: AuditLog | None = None) -> list[str]:
    """The systems whose suppression list holds `identifier` (empty when none)."""
    own = audit is None
    audit = audit or open_audit(inventory)  # first: a log used before and missing is refused, no new key made
    try:
        digest = keyed_hash(_key(inventory), identifier.kind, identifier.value)
        rows = audit.db.execute("SELECT DISTINCT system FROM suppressions WHERE hash = ? ORDER BY system",
                                [digest]).fetchall()
    finally:
        if own:
            audit.close()
    return [r[0] for r in rows]


def check(inventory: Inventory, value: str) -> dict:
    identifier = parse_identifier(value, inventory.identities)
    systems = suppressed_in(inventory, identifier)
    return {"identifier": str(identifier), "suppressed": bool(systems), "systems": systems}


@dataclass
class FilterResult:
    kept: int
    dropped: int
    unreadable: int  # values that are not an identifier of the kind: kept

    def to_dict(self) -> dict:
        return {"kept": self.kept, "dropped": self.dropped, "not_an_identifier": self.unreadable}


def filter_csv(inventory: Inventory, source: IO[str], target: IO[str], column: str, *, kind: str | None = None,
               system: str | None = None) -> FilterResult:
    """Copy a CSV from `source` to `target` without the rows whose `column` is suppressed."""
    reader = csv.reader(source)
    where = getattr(source, "name", "the import file")

    def rows():
        for row in reader:
            if _UNDECODED.search("".join(row)):  # bytes that are not UTF-8 (a source opened with surrogateescape)
                raise UsageError(f"{where}:{reader.line_num}: not UTF-8 text; save the file as UTF-8")
            yield row

    try:
        return _filter_rows(inventory, rows(), target, column, kind, system)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    except csv.Error as exc:
        raise UsageError(f"{where}:{reader.line_num}: {exc}") from None


_UNDECODED = re.compile("[\udc80-\udcff]")


def _filter_rows(inventory: Inventory, reader, target: IO[str], column: str, kind: str | None,
                 system: str | None) -> FilterResult:
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError("the import file is empty (no header row)") from None
    if column not in header:
        raise UsageError(f"column '{column}' is not in the header (columns: {', '.join(header)})")
    index = header.index(column)
    identity = inventory.identities.get(kind) if kind else _guess_kind(inventory)
    if identity is None:
        raise UsageError(f"unknown identifier kind '{kind}' (kinds: {', '.join(sorted(inventory.identities))})")
    with open_audit(inventory) as audit:  # a missing log would let every erased address back in: refused
        key = _key(inventory)
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(header)
        kept = dropped = unreadable = 0
        for row in reader:
            value = identity.normalise(row[index]) if index < len(row) else None
            if value is None:
                unreadable += 1
            elif audit.is_suppressed(keyed_hash(key, identity.name, value), system):
                dropped += 1
                continue
            writer.writerow(row)
            kept += 1
    return FilterResult(kept, dropped, unreadable)


def _guess_kind(inventory: Inventory):
    for ident in inventory.identities.values():
        if ident.type == "email":
            return ident
    return None
