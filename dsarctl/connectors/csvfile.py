"""CSV files with a header row; identity fields are column names."""

from __future__ import annotations

import csv
import io
from typing import Iterator

from .base import Connector, Finding, KeySpec, Record, Wanted
from .files import Prefilter, display_path, iter_lines
from .matching import FieldMatcher

_FILE_KEYS = {
    "path": KeySpec("path", "The CSV file, relative to the inventory."),
    "encoding": KeySpec("str", "Text encoding (default utf-8; a BOM is skipped)."),
    "delimiter": KeySpec("str", "Field separator (default ,)."),
}


class CsvConnector(Connector):
    name = "csv"
    description = "CSV file with a header row"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    is_file = True

    def _dialect(self, collection):
        delimiter = collection.options.get("delimiter", ",")
        if len(delimiter) != 1:
            raise self.fail(f"delimiter must be one character, got {delimiter!r}")
        return delimiter, collection.options.get("encoding", "utf-8-sig")

    def rows(self, collection, prefilter: Prefilter | None = None) -> Iterator[tuple[int, int, dict | None, str]]:
        """(row number, line number, row as dict or None when skipped by the prefilter, raw text).

        Rows spanning several lines (quoted newlines) are put together before anything else.
        """
        delimiter, encoding = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        header: list[str] | None = None
        buffer: list[str] = []
        quotes = 0
        start = 0
        rowno = 0
        lines = iter_lines(collection.path, encoding, where, self.fail)
        for lineno, text in lines:
            if not buffer:
                start = lineno
            buffer.append(text)
            quotes += text.count('"')
            if quotes % 2:
                continue  # inside a quoted field that continues on the next line
            raw = "".join(buffer)
            buffer, quotes = [], 0
            if header is None:
                header = self._parse(raw, delimiter, where, start)
                if not header or not any(h.strip() for h in header):
                    raise self.fail(f"{where}:{start}: no header row")
                dupes = {h for h in header if header.count(h) > 1}
                if dupes:
                    raise self.fail(f"{where}:{start}: duplicate column '{sorted(dupes)[0]}' in the header")
                self._check_columns(collection, header, where)
                continue
            if not raw.strip():
                continue
            rowno += 1
            if prefilter is not None and not prefilter.could_match(raw):
                if '"' not in raw and raw.count(delimiter) + 1 != len(header):
                    raise self.fail(f"{where}:{start}: row has {raw.count(delimiter) + 1} fields, the header has {len(header)}")
                yield rowno, start, None, raw
                continue
            fields = self._parse(raw, delimiter, where, start)
            if len(fields) != len(header):
                raise self.fail(f"{where}:{start}: row has {len(fields)} fields, the header has {len(header)}")
            yield rowno, start, dict(zip(header, fields)), raw
        if buffer:
            raise self.fail(f"{where}:{start}: quoted field not closed before the end of the file")
        if header is None:
            raise self.fail(f"{where}: empty file, no header row")

    def _parse(self, raw: str, delimiter: str, where: str, lineno: int) -> list[str]:
        try:
            rows = list(csv.reader(io.StringIO(raw), delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise self.fail(f"{where}:{lineno}: {exc}") from None
        if len(rows) != 1:
            raise self.fail(f"{where}:{lineno}: cannot read this row as CSV")
        return rows[0]

    def _check_columns(self, collection, header: list[str], where: str) -> None:
        columns = set(header)
        for kind, fields in collection.identities.items():
            for field in fields:
                if field not in columns:
                    raise self.mismatch(
                        collection.key_path + ("identities", kind),
                        f"column '{field}' is not in the header of {where} (columns: {', '.join(header)})",
                    )

    def locate(self, collection, wanted: Wanted) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        prefilter = Prefilter.build(collection, self.inventory, wanted, forbid='"')
        where = display_path(collection.path, self.inventory)
        for rowno, lineno, row, _raw in self.rows(collection, prefilter):
            if row is None:
                continue
            ids = matcher.identities(row)
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, rowno, row, ids, hits, f"{where}:{lineno}")

    def check_collection(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.rows(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} rows")]
