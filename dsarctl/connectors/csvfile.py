"""CSV files with a header row; identity fields are column names."""

from __future__ import annotations

import csv
import io
from typing import Iterator

from ..sources import EraseOutcome, Erasable, Finding, KeySpec, Source
from ..filelock import line_span
from ..wording import plural
from .files import LineRecords, display_path, iter_lines, offload_edits, source_errors
from .lines import max_line_bytes, too_long

_FILE_KEYS = {
    "path": KeySpec("path", "The CSV file, relative to the inventory."),
    "encoding": KeySpec("encoding", "Text encoding (default utf-8-sig: UTF-8, a BOM skipped; also latin-1, "
                                    "cp1252, utf-16, utf-32 …, a BOM kept by an erase)."),
    "delimiter": KeySpec("char", 'Field separator, one character (default ,; a tab: "\\t" in double quotes).'),
}


class CsvConnector(LineRecords, Source, Erasable):
    name = "csv"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    local_files = True
    prefilter_forbid = '"'

    def __init__(self, system, inventory):
        super().__init__(system, inventory)
        self._readers: dict[str, _RowReader] = {}  # by delimiter

    def _dialect(self, collection):
        delimiter = collection.options.get("delimiter", ",")
        if len(delimiter) != 1:
            raise self.fail(f"delimiter must be one character, got {delimiter!r}")
        return delimiter, collection.options.get("encoding", "utf-8-sig")

    def encoding(self, collection) -> str:
        return collection.options.get("encoding", "utf-8-sig")

    def rows(self, collection) -> Iterator[tuple[int, int, dict, str]]:
        """(line number, line number, row as dict, raw text) of every row; a row is known by the line it
        starts on. Rows spanning several lines (quoted newlines) are put together before anything else."""
        delimiter, _ = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        for start, raw, header in self.raw_rows(collection):
            yield start, start, self._row(header, raw, delimiter, where, start), raw

    def raw_rows(self, collection) -> Iterator[tuple[int, str, list[str]]]:
        """(first line number, raw text, header) of every non-blank row after the header, unparsed."""
        delimiter, encoding = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        rows = self._raw_rows(iter_lines(collection.path, encoding, where, self.fail), where)
        header, _ = self._header_row(collection, rows, delimiter, where)
        for start, raw in rows:
            if raw.strip():
                yield start, raw, header

    def _raw_rows(self, lines, where: str) -> Iterator[tuple[int, str]]:
        """(first line number, text) of every row, from (line number, text) lines: a row goes on while
        its quotes are open (a quoted field holding newlines). Every reader of a CSV file, whole or from
        a candidate row on, frames its rows here."""
        buffer: list[str] = []
        quotes = size = start = 0
        limit = max_line_bytes()
        for lineno, text in lines:
            if not buffer:  # most rows: one line, yielded as it is
                quotes = text.count('"')
                if quotes % 2 == 0:
                    yield lineno, text
                    continue
                start, buffer, size = lineno, [text], len(text)
                continue
            buffer.append(text)
            quotes += text.count('"')
            size += len(text)
            if size > limit:  # a quote left open: the rest of the file is not held as one row
                raise self.fail(too_long(where, start, limit))
            if quotes % 2:
                continue  # inside a quoted field that continues on the next line
            yield start, "".join(buffer)
            buffer, quotes = [], 0
        if buffer:
            raise self.fail(f"{where}:{start}: quoted field not closed before the end of the file")

    def _header_row(self, collection, rows: Iterator[tuple[int, str]], delimiter: str, where: str
                    ) -> tuple[list[str], int]:
        """The header, read from the first of `rows` (`_raw_rows`), and the number of lines it takes."""
        first = next(rows, None)
        if first is None:
            raise self.fail(f"{where}: empty file, no header row")
        start, raw = first
        return self._header(collection, raw, delimiter, where, start), line_span(raw)

    def _header(self, collection, raw: str, delimiter: str, where: str, start: int) -> list[str]:
        header = self._parse(raw, delimiter, where, start)
        if not header or not any(h.strip() for h in header):
            raise self.fail(f"{where}:{start}: no header row")
        dupes = {h for h in header if header.count(h) > 1}
        if dupes:
            raise self.fail(f"{where}:{start}: duplicate column '{sorted(dupes)[0]}' in the header")
        self._check_columns(collection, header, where)
        return header

    def _row(self, header: list[str], raw: str, delimiter: str, where: str, start: int) -> dict:
        fields = self._parse(raw, delimiter, where, start)
        if len(fields) != len(header):
            raise self.fail(self._wrong_width(len(fields), header, where, start))
        return dict(zip(header, fields))

    def _wrong_width(self, width: int, header: list[str], where: str, start: int) -> str:
        return f"{where}:{start}: row has {width} fields, the header has {len(header)}"

    def _reader(self, delimiter: str) -> "_RowReader":
        reader = self._readers.get(delimiter)
        if reader is None:
            reader = self._readers[delimiter] = _RowReader(delimiter)
        return reader

    def candidate_entries(self, collection, job):
        """The rows holding a candidate line. A candidate line may be the middle of a row with quoted
        newlines: where the row starts is found from the parity of the quotes before it (counted by
        `bytes.count` in one pass up to the last candidate), and the row is read from there as a whole
        read reads it (the same lines, framing, parsing and errors)."""
        delimiter, encoding = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail):
            handle = job.file()  # the file grep reads: the same version even if it is replaced
        rows = self._raw_rows(iter_lines(collection.path, encoding, where, self.fail, handle), where)
        try:
            header, next_line = self._header_row(collection, rows, delimiter, where)
        finally:
            rows.close()
        next_line += 1  # the first line not read yet
        quotes = None
        for lineno, offset, _text in self.candidates(collection, job):
            if lineno < next_line:
                continue  # the header, or a line of a row already read
            if quotes is None:
                quotes = QuoteIndex(handle)
            start, start_line = offset, lineno
            while quotes.before(start) % 2:  # inside a quoted field: the row began on an earlier line
                start = _previous_line(handle, start)
                start_line -= 1
            rows = self._raw_rows(iter_lines(collection.path, encoding, where, self.fail, handle,
                                             start=start, first_line=start_line), where)
            try:
                start_line, raw = next(rows)
            finally:
                rows.close()
            next_line = start_line + line_span(raw)
            if raw.strip():
                yield start_line, start_line, self._row(header, raw, delimiter, where, start_line), raw

    def _parse(self, raw: str, delimiter: str, where: str, lineno: int) -> list[str]:
        try:
            return self._reader(delimiter).parse(raw)
        except csv.Error as exc:
            raise self.fail(f"{where}:{lineno}: {exc}") from None

    def _check_columns(self, collection, header: list[str], where: str) -> None:
        columns = set(header)
        for kind, fields in collection.identities.items():
            for field in fields:
                if field not in columns:
                    raise self.mismatch(
                        collection.key_path + ("identities", kind),
                        f"column '{field}' is not in the header of {where} (columns: {', '.join(header)})",
                    )

    def entries(self, collection):
        return self.rows(collection)

    # -- erase ---------------------------------------------------------------------------------------
    def erase(self, collection, targets, context) -> EraseOutcome:
        """Drop or mask the target rows (found by content hash); the header, every other row and the
        line endings are copied byte for byte. A file that does not parse completely is not rewritten
        (every row is parsed, as a full read parses it)."""
        from functools import partial

        from ..filelock import locked, rewrite_lines

        with locked(collection.path):
            edits, outcome = offload_edits(self._edits, collection, targets, context.masker)
            if edits:
                outcome.sha256 = rewrite_lines(collection.path, edits, context.checkpoint,
                                               newline=self.line_format(collection).newline,
                                               renaming=partial(context.replacing, collection),
                                               renamed=partial(context.replaced, collection))
        return outcome

    def _edits(self, collection, targets, masker) -> tuple[dict[int, tuple[int, bytes]], EraseOutcome]:
        """What `erase` changes: {line number: (lines replaced, new bytes)}, and the counts. Reads the
        file and computes only (it may run in a child process: see files.offload_edits)."""
        from ..filelock import line_ending, line_span, text_digest

        delimiter, _ = self._dialect(collection)
        fmt = self.line_format(collection)
        by_digest = {t.digest: t for t in targets}
        outcome = EraseOutcome()
        edits: dict[int, tuple[int, bytes]] = {}
        hit: set[str] = set()
        where = display_path(collection.path, self.inventory)
        width = self._reader(delimiter).width
        for lineno, raw, header in self.raw_rows(collection):
            target = by_digest.get(text_digest(raw))
            if target is None:  # kept as it is, but it must parse: its fields are counted as parse splits
                try:
                    if (fields := width(raw)) != len(header):
                        raise self.fail(self._wrong_width(fields, header, where, lineno))
                except csv.Error as exc:
                    raise self.fail(f"{where}:{lineno}: {exc}") from None
                continue
            row = self._row(header, raw, delimiter, where, lineno)
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
            edits[lineno] = (line_span(raw), fmt.encode(buffer.getvalue(), lineno == 1))
            outcome.masked += 1
        outcome.missing = len(set(by_digest) - hit)
        return edits, outcome

    def mask_problems(self, collection) -> list[tuple[str, str]]:
        """A field to mask must be a column of the header (a cell takes any text, or none)."""
        fields = collection.erase.fields if collection.erase else {}
        if not fields:
            return []
        delimiter, encoding = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        rows = self._raw_rows(iter_lines(collection.path, encoding, where, self.fail), where)
        try:
            header, _ = self._header_row(collection, rows, delimiter, where)
        finally:
            rows.close()  # only the header is read
        return [(field, f"column '{field}' is not in the header of {where}") for field in fields if field not in header]

    def check(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.rows(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {plural(count, 'row')}")]


class _RowReader:
    """The one parser of CSV rows: one `csv.reader` (strict) kept for row after row, handed each row's
    lines one at a time, as a reader of its own would get them (a reader per row over a StringIO cost
    10 µs a row: most of an erase's pass over a list where a third of the rows hold quotes). A row of
    one line with nothing in it that CSV reads specially (no quote, no line break before its end, no
    longer than a field may be) is split without the reader: what the reader gives for it, at half the
    cost (tested with hypothesis against a reader per row). `parse` gives the fields of exactly one
    record, or raises csv.Error in the csv module's words."""

    def __init__(self, delimiter: str):
        self.delimiter = delimiter
        self.pending: str | None = None  # the row's next line
        self.more: Iterator[str] | None = None  # its lines after that (a row of several lines)
        self.field_limit = csv.field_size_limit()
        self.reader = csv.reader(self, delimiter=delimiter, strict=True)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self.pending
        if raw is not None:
            self.pending = None
            return raw
        if self.more is not None:
            return next(self.more)
        raise StopIteration

    def _plain(self, raw: str) -> str | None:
        """The row without its line end when nothing in it is read specially (no quote, no line break but
        one line end, which may be \r\r\n to the reader, no longer than a field may be), else None."""
        text = raw.rstrip("\r\n")
        if (text and '"' not in text and "\r" not in text and "\n" not in text and len(text) < self.field_limit
                and "\n" not in raw[len(text):-1]):
            return text
        return None

    def width(self, raw: str) -> int:
        """How many fields `parse` gives, counted where it would split (an erase checks the rows it keeps)."""
        text = self._plain(raw)
        return text.count(self.delimiter) + 1 if text is not None else len(self._read(raw))

    def parse(self, raw: str) -> list[str]:
        text = self._plain(raw)
        return text.split(self.delimiter) if text is not None else self._read(raw)

    def _read(self, raw: str) -> list[str]:
        if raw and "\n" not in raw[:-1]:
            # one line is one record or an error: the reader takes the whole line before it ends a record,
            # and asks for another (there is none: strict, an error) when a quoted field is still open
            self.pending = raw
            return next(self.reader)
        self.pending, self.more = None, iter(io.StringIO(raw))  # its lines as a file gives them (\n ends one)
        try:
            rows = list(self.reader)  # the reader starts each record afresh, after an error too
        finally:
            self.more = None
        if len(rows) != 1:
            raise csv.Error("cannot read this row as CSV")
        return rows[0]


class QuoteIndex:
    """How many double quotes a file holds before an offset: counted per 64 KB block, in one pass that
    goes only as far as the offsets asked for (candidates come in file order: a subject found in the
    first half of the file costs half a pass)."""

    BLOCK = 1 << 16

    def __init__(self, handle):
        self.handle = handle
        self.totals = [0]  # quotes before block i, for the blocks counted so far
        self.at_end = False

    def _count_to(self, block: int) -> None:
        while len(self.totals) <= block and not self.at_end:
            self.handle.seek((len(self.totals) - 1) * self.BLOCK)
            chunk = self.handle.read(self.BLOCK * 64)
            for i in range(0, len(chunk), self.BLOCK):
                self.totals.append(self.totals[-1] + chunk.count(b'"', i, i + self.BLOCK))
            self.at_end = len(chunk) < self.BLOCK * 64

    def before(self, offset: int) -> int:
        block = offset // self.BLOCK
        self._count_to(block)
        self.handle.seek(block * self.BLOCK)
        return self.totals[block] + self.handle.read(offset - block * self.BLOCK).count(b'"')


def _previous_line(handle, offset: int) -> int:
    """The offset of the line before the one starting at `offset`."""
    end = offset - 1  # the newline ending the previous line
    step = 4096
    while True:
        lo = max(0, end - step)
        handle.seek(lo)
        chunk = handle.read(end - lo)
        i = chunk.rfind(b"\n")
        if i != -1:
            return lo + i + 1
        if lo == 0:
            return 0
        step *= 4

