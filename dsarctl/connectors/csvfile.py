"""CSV files with a header row; identity fields are column names."""

from __future__ import annotations

import csv
import io
from typing import Iterator

from .base import Connector, EraseOutcome, Finding, KeySpec
from .files import LineRecords, display_path, iter_lines, offload_edits, source_errors
from .lines import max_line_bytes, too_long

_FILE_KEYS = {
    "path": KeySpec("path", "The CSV file, relative to the inventory."),
    "encoding": KeySpec("encoding", "Text encoding (default utf-8-sig: UTF-8, a BOM skipped; also latin-1, "
                                    "cp1252, utf-16, utf-32 …, a BOM kept by an erase)."),
    "delimiter": KeySpec("char", 'Field separator, one character (default ,; a tab: "\\t" in double quotes).'),
}


class CsvConnector(LineRecords, Connector):
    name = "csv"
    description = "CSV file with a header row"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    is_file = True
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
        header: list[str] | None = None
        for start, raw in self._raw_rows(iter_lines(collection.path, encoding, where, self.fail), where):
            if header is None:
                header = self._header(collection, raw, delimiter, where, start)
            elif raw.strip():
                yield start, raw, header
        if header is None:
            raise self.fail(f"{where}: empty file, no header row")

    def _raw_rows(self, lines, where: str) -> Iterator[tuple[int, str]]:
        """(first line number, text) of every row, from (line number, text) lines."""
        buffer: list[str] = []
        quotes = 0
        start = 0
        for lineno, text in lines:
            if not buffer:  # most rows: one line, yielded as it is
                quotes = text.count('"')
                if quotes % 2 == 0:
                    yield lineno, text
                    continue
                start, buffer = lineno, [text]
                continue
            buffer.append(text)
            quotes += text.count('"')
            if quotes % 2:
                continue  # inside a quoted field that continues on the next line
            yield start, "".join(buffer)
            buffer, quotes = [], 0
        if buffer:
            raise self.fail(f"{where}:{start}: quoted field not closed before the end of the file")

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
        return dict(zip(header, self._fields(header, raw, delimiter, where, start)))

    def _fields(self, header: list[str], raw: str, delimiter: str, where: str, start: int) -> list[str]:
        fields = self._parse(raw, delimiter, where, start)
        if len(fields) != len(header):
            raise self.fail(f"{where}:{start}: row has {len(fields)} fields, the header has {len(header)}")
        return fields

    def candidate_entries(self, collection, job):
        """The rows holding a candidate line. A candidate line may be the middle of a row with quoted
        newlines: the row is found from the parity of the quotes before it (counted by `bytes.count` in
        one pass up to the last candidate) and read whole."""
        delimiter, encoding = self._dialect(collection)
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail):
            handle = job.file()  # the file grep reads: the same version even if it is replaced
        lines = iter_lines(collection.path, encoding, where, self.fail, handle)
        header_start, header_raw = next(self._raw_rows(lines, where), (1, None))
        lines.close()
        if header_raw is None:
            raise self.fail(f"{where}: empty file, no header row")
        header = self._header(collection, header_raw, delimiter, where, header_start)
        header_lines = header_raw.count("\n")
        fmt = self.line_format(collection)
        limit = max_line_bytes()
        quotes = None
        done_until = 0
        for lineno, offset, _text in self.candidates(collection, job):
            if lineno <= header_lines or offset < done_until:
                continue  # the header, or a line of a row already read
            if quotes is None:
                quotes = QuoteIndex(handle)
            start, start_line = offset, lineno
            while quotes.before(start) % 2:  # inside a quoted field: the row began on an earlier line
                start = _previous_line(handle, start)
                start_line -= 1
            raw_bytes = _row_bytes(handle, start, limit)
            done_until = start + len(raw_bytes)
            if len(raw_bytes) > limit:
                raise self.fail(too_long(where, start_line, limit))
            if raw_bytes.count(b'"') % 2:
                raise self.fail(f"{where}:{start_line}: quoted field not closed before the end of the file")
            try:
                raw = fmt.text(raw_bytes, start_line == 1)
            except UnicodeDecodeError as exc:
                line = start_line + raw_bytes.count(b"\n", 0, exc.start)
                raise self.fail(f"{where}:{line}: not valid {encoding} (byte 0x{raw_bytes[exc.start]:02x})") from None
            if raw.strip():
                yield start_line, start_line, self._row(header, raw, delimiter, where, start_line), raw

    def _parse(self, raw: str, delimiter: str, where: str, lineno: int) -> list[str]:
        reader = self._readers.get(delimiter)
        if reader is None:
            reader = self._readers[delimiter] = _RowReader(delimiter)
        fields = reader.parse(raw)
        if fields is not None:
            return fields
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

    def entries(self, collection):
        return self.rows(collection)

    # -- erase ---------------------------------------------------------------------------------------
    def erase(self, collection, targets, masker, checkpoint) -> EraseOutcome:
        """Drop or mask the target rows (found by content hash); the header, every other row and the
        line endings are copied byte for byte. A file that does not parse completely is not rewritten
        (a row without quotes is checked by counting its delimiters, the others are parsed)."""
        from ..filelock import locked, rewrite_lines

        with locked(collection.path):
            edits, outcome = offload_edits(self._edits, collection, targets, masker)
            if edits:
                outcome.sha256 = rewrite_lines(collection.path, edits, checkpoint,
                                               newline=self.line_format(collection).newline)
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
        for lineno, raw, header in self.raw_rows(collection):
            target = by_digest.get(text_digest(raw))
            if target is None:
                if '"' in raw:
                    self._fields(header, raw, delimiter, where, lineno)  # it must parse
                elif raw.count(delimiter) + 1 != len(header):
                    raise self.fail(f"{where}:{lineno}: row has {raw.count(delimiter) + 1} fields, "
                                    f"the header has {len(header)}")
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
        lines = iter_lines(collection.path, encoding, where, self.fail)
        try:
            first = next(self._raw_rows(lines, where), None)
        finally:
            lines.close()  # only the header is read
        if first is None:
            raise self.fail(f"{where}: empty file, no header row")
        header = self._header(collection, first[1], delimiter, where, first[0])
        return [(field, f"column '{field}' is not in the header of {where}") for field in fields if field not in header]

    def check_collection(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.rows(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} rows")]


class _RowReader:
    """One `csv.reader` kept for parsing row after row (a reader per row, over a StringIO, cost 10 µs a
    row: most of an erase's pass over a list where a third of the rows hold quotes). A row of one line
    is handed to the reader as its one line, exactly as a reader of its own would get it; `parse`
    gives the fields when the reader read exactly that line into one record, else None (an error, a
    record going on past the line, a row of several lines), and the caller parses the row on its own,
    which says what is wrong in the usual words."""

    def __init__(self, delimiter: str):
        self.delimiter = delimiter
        self.pending: str | None = None
        self.reader = self._new()

    def _new(self):
        return csv.reader(self, delimiter=self.delimiter, strict=True)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw, self.pending = self.pending, None
        if raw is None:
            raise StopIteration
        return raw

    def parse(self, raw: str) -> list[str] | None:
        if not raw or "\n" in raw[:-1]:
            # no line at all; or several lines (quoted newlines, rare): a reader of its own is given them
            # one by one and sees a record end at a line's end where this one, given one string, would
            # read on ('a"b\n' + '\r\n' is two records to it, one here): those rows go the slow way
            return None
        self.pending = raw
        try:
            # strict: a record going on past the line asks for the next, gets none, and is an error
            return next(self.reader)
        except (csv.Error, StopIteration):
            self.reader = self._new()  # its state is unknown: start afresh
            return None


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


def _row_bytes(handle, start: int, limit: int) -> bytes:
    """The bytes of the row starting at `start`: lines until the quotes are balanced (or more than
    `limit` bytes)."""
    handle.seek(start)
    parts = []
    count = size = 0
    while size <= limit:
        line = handle.readline(limit + 1 - size)
        if not line:
            break
        parts.append(line)
        size += len(line)
        count += line.count(b'"')
        if count % 2 == 0 and line.endswith(b"\n"):
            break
    return b"".join(parts)
