"""What the file connectors (CSV, JSONL) share: streaming line reading with a text prefilter.

Files are read line by line, never whole. Before a line is parsed it is checked for the searched values
as plain text (case-folded): a line that cannot contain any of them is skipped without parsing. The
prefilter is only used where it is exact — it is switched off for phone numbers (written in many
formats), and per line for JSON text holding escape sequences.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator

from .base import Record, Wanted
from .matching import FieldMatcher

if TYPE_CHECKING:
    from ..inventory.model import Collection, Inventory


class Prefilter:
    """Cheap test on a line's text: False means the line cannot match."""

    def __init__(self, needles: list[str] | None):
        self.needles = needles

    @classmethod
    def build(cls, collection: "Collection", inventory: "Inventory", wanted: Wanted, *, forbid: str = "") -> "Prefilter":
        needles: list[str] = []
        for kind_name in collection.identities:
            values = wanted.get(kind_name)
            if not values:
                continue
            if inventory.identities[kind_name].type == "phone":
                return cls(None)
            for value in values:
                if (forbid and any(ch in value for ch in forbid)) or not value.isascii():
                    return cls(None)  # non-ASCII text may be spelt decomposed in the file: parse every line
                needles.append(value.casefold())
        return cls(needles)

    @property
    def active(self) -> bool:
        return self.needles is not None

    def could_match(self, text: str) -> bool:
        if self.needles is None:
            return True
        folded = text.casefold()
        return any(n in folded for n in self.needles)


def display_path(path: os.PathLike, inventory: "Inventory") -> str:
    """A path as the user wrote it: relative to the inventory's folder when inside it."""
    try:
        return os.path.relpath(path, inventory.base_dir) if str(path).startswith(str(inventory.base_dir)) else str(path)
    except ValueError:
        return str(path)


def iter_lines(path, encoding: str, where: str, fail) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line of a file, decoding each line on its own so that a bad byte
    is reported with its line number."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise fail(f"file not found: {where}") from None
    except IsADirectoryError:
        raise fail(f"is a folder, not a file: {where}") from None
    except OSError as exc:
        raise fail(f"cannot read {where}: {exc.strerror}") from None
    with handle:
        lineno = 0
        try:
            for raw in handle:
                lineno += 1
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise fail(f"{where}:{lineno}: not valid {encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
                if "\x00" in text:
                    raise fail(f"{where}:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
                yield lineno, text
        except OSError as exc:
            raise fail(f"{where}:{lineno + 1}: read error: {exc.strerror}") from None


class LineRecords:
    """locate / scan / record_digests for connectors whose records are lines (or quoted multi-line rows)
    of one text file. A subclass provides `entries(collection, prefilter)` yielding
    (key, line number, record dict or None when the prefilter skipped it, raw text)."""

    prefilter_forbid = ""  # characters that make a value's raw spelling uncertain (CSV doubles quotes)

    def entries(self, collection, prefilter: Prefilter | None = None):
        raise NotImplementedError

    def locate(self, collection, wanted: Wanted) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        prefilter = Prefilter.build(collection, self.inventory, wanted, forbid=self.prefilter_forbid)
        where = display_path(collection.path, self.inventory)
        for key, lineno, data, _raw in self.entries(collection, prefilter):
            if data is None:
                continue
            ids = matcher.identities(data)
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, key, data, ids, hits, f"{where}:{lineno}")

    def scan(self, collection) -> Iterator[Record]:
        """Every record, read completely (erase refuses a file it could not read to the end)."""
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        for key, lineno, data, _raw in self.entries(collection):
            yield Record(self.system.name, collection.name, key, data, matcher.identities(data), set(),
                         f"{where}:{lineno}")

    def record_digests(self, collection, keys) -> dict:
        from ..filelock import text_digest

        wanted = set(keys)
        return {key: text_digest(raw) for key, _line, _data, raw in self.entries(collection) if key in wanted}
