"""JSON Lines files: one JSON object per line; identity fields are dotted paths into it."""

from __future__ import annotations

import json
from typing import Iterator

from .base import Connector, Finding, KeySpec, Record, Wanted
from .files import Prefilter, display_path, iter_lines
from .matching import FieldMatcher

_FILE_KEYS = {
    "path": KeySpec("path", "The .jsonl file, relative to the inventory."),
    "encoding": KeySpec("str", "Text encoding (default utf-8)."),
}


class JsonlConnector(Connector):
    name = "jsonl"
    description = "JSON Lines file (one object per line)"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    is_file = True

    def objects(self, collection, prefilter: Prefilter | None = None) -> Iterator[tuple[int, dict | None, str]]:
        """(line number, object or None when skipped by the prefilter, raw line) for every non-blank line."""
        where = display_path(collection.path, self.inventory)
        encoding = collection.options.get("encoding", "utf-8")
        for lineno, text in iter_lines(collection.path, encoding, where, self.fail):
            if not text.strip():
                continue
            # JSON may spell a character as \uXXXX: such lines are always parsed.
            if prefilter is not None and "\\" not in text and not prefilter.could_match(text):
                yield lineno, None, text
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise self.fail(f"{where}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise self.fail(f"{where}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj, text

    def locate(self, collection, wanted: Wanted) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        prefilter = Prefilter.build(collection, self.inventory, wanted)
        where = display_path(collection.path, self.inventory)
        for lineno, obj, _text in self.objects(collection, prefilter):
            if obj is None:
                continue
            ids = matcher.identities(obj)
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, lineno, obj, ids, hits, f"{where}:{lineno}")

    def check_collection(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.objects(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} records")]
