"""CSV files with a header row; identity fields are column names."""

from __future__ import annotations

import csv
import io
from typing import Iterator

from .base import Connector, EraseOutcome, Finding, KeySpec
from .files import LineRecords, Prefilter, display_path, iter_lines

_FILE_KEYS = {
    "path": KeySpec("path", "The CSV file, relative to the inventory."),
    "encoding": KeySpec("str", "Text encoding (default utf-8; a BOM is skipped)."),
    "delimiter": KeySpec("str", "Field separator (default ,)."),
}


class CsvConnector(LineRecords, Connector):
    name = "csv"
    description = "CSV file with a header row"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    is_file = True
    prefilter_forbid = '"'

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

    def entries(self, collection, prefilter: Prefilter | None = None):
        return self.rows(collection, prefilter)

    # -- erase ---------------------------------------------------------------------------------------
    def erase(self, collection, targets, masker, checkpoint) -> EraseOutcome:
        """Drop or mask the target rows (found by content hash); the header, every other row and the
        line endings are copied byte for byte. A file that does not parse completely is not rewritten."""
        from ..filelock import line_ending, line_span, locked, rewrite_lines, text_digest

        delimiter, encoding = self._dialect(collection)
        out_encoding = "utf-8" if encoding.lower().replace("_", "-") == "utf-8-sig" else encoding
        by_digest = {t.digest: t for t in targets}
        outcome = EraseOutcome()
        with locked(collection.path):
            edits: dict[int, tuple[int, bytes]] = {}
            hit: set[str] = set()
            for _rowno, lineno, row, raw in self.rows(collection):
                target = by_digest.get(text_digest(raw))
                if target is None:
                    continue
                hit.add(target.digest)
                if target.action == "delete":
                    edits[lineno] = (line_span(raw), b"")
                    outcome.deleted += 1
                    continue
                masked = masker.mask(row, target.fields)
                if masked == row:
                    outcome.unchanged += 1
                    continue
                buffer = io.StringIO()
                csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending(raw)).writerow(
                    ["" if v is None else v for v in masked.values()])
                edits[lineno] = (line_span(raw), buffer.getvalue().encode(out_encoding))
                outcome.masked += 1
            outcome.missing = len(set(by_digest) - hit)
            if edits:
                outcome.sha256 = rewrite_lines(collection.path, edits, checkpoint)
        return outcome

    def check_collection(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.rows(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} rows")]
