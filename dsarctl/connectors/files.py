"""What the file connectors (CSV, JSONL) share: streaming line reading, and searching through the
byte-level prefilter (`bytescan`).

Files are read line by line, never whole. A search first finds the lines that can hold a searched value
(raw bytes, ASCII case-folded, by GNU grep or a chunked Python scan) and parses only those; where no exact
byte test exists (phone numbers, non-ASCII values, encodings that do not spell ASCII as ASCII) every line
is parsed. Erase and `inventory check` always read every line.
"""

from __future__ import annotations

import codecs
import os
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Iterator

from ..sources import Record, StartedSearch, Wanted
from .bytescan import LinesJob, Needles, needles_for
from .lines import LineFormat, LongLine, check_encoding, line_format, max_line_bytes, too_long
from .matching import FieldMatcher

if TYPE_CHECKING:
    from ..inventory.model import Inventory


def display_path(path: os.PathLike, inventory: "Inventory") -> str:
    """A path as the user wrote it: relative to the inventory's folder when inside it."""
    try:
        return os.path.relpath(path, inventory.base_dir) if str(path).startswith(str(inventory.base_dir)) else str(path)
    except ValueError:
        return str(path)


@contextmanager
def source_errors(where: str, fail, kind: str = "a file"):
    """Report a file that cannot be opened or read in the words of every file connector."""
    try:
        yield
    except FileNotFoundError:
        raise fail(f"file not found: {where}") from None
    except IsADirectoryError:
        raise fail(f"is a folder, not {kind}: {where}") from None
    except OSError as exc:
        raise fail(f"cannot read {where}: {exc.strerror or exc}") from None


def start_file_search(connector, collection, wanted: Wanted, needles: Needles | None, job_class) -> StartedSearch:
    """`start_locate` of a file connector: start its grep job now (`job_class(collection.path, needles)`)
    and hand it to `locate`; without needles, a full read when called."""
    if needles is None:
        return StartedSearch(lambda: connector.locate(collection, wanted, prefilter=False))
    job = job_class(collection.path, needles)
    return StartedSearch(lambda: connector.locate(collection, wanted, job=job), [job])


def run_started(search: StartedSearch) -> Iterator[Record]:
    """The records of a started search, releasing what it started (its grep) however it ends."""
    try:
        yield from search()
    finally:
        search.close()


OFFLOAD_BYTES = 1 << 18  # a smaller file is read in the calling thread: a fork would cost more than it


def offload_edits(compute, collection, targets, masker):
    """`compute(collection, targets, masker)`, an erase's pass over a whole file (parse and hash every
    line, a second or more per 100 MB) that only reads: in a child process (`offload`) when the file is
    large, so that the erases of several files, each on its own thread, use several cores. The calling
    thread holds the file's lock and waits."""
    from .. import errors, identity, offload  # noqa: F401 - what the child may need, imported before the fork
    from ..filelock import line_ending, line_span, text_digest  # noqa: F401

    try:
        with open(collection.path, "rb") as handle:  # a codec is imported on its first use
            codecs.getincrementaldecoder(line_format(compute.__self__.encoding(collection), handle.read(4)).codec)
        large = os.path.getsize(collection.path) >= OFFLOAD_BYTES
    except (LookupError, ValueError, OSError):
        large = False  # the pass says what is wrong, in its usual words
    if not large:
        return compute(collection, targets, masker)
    return offload.call(compute, collection, targets, masker)


def iter_lines(path, encoding: str, where: str, fail, handle=None, *, long_lines: bool = False,
               start: int = 0, first_line: int = 1) -> Iterator[tuple[int, "str | LongLine"]]:
    """(line number, text) for every line of a file (or of the open `handle`), decoding each line on its
    own so that a bad byte is reported with its line number; from its start, or from the line that
    starts at byte `start`, numbered `first_line`. A line longer than `lines.max_line_bytes()` is an
    error naming it, or with `long_lines`, given as a `LongLine` (its bytes in pieces, never whole in
    memory)."""
    if handle is not None:
        yield from _decoded_lines(handle, encoding, where, fail, long_lines, start, first_line)
        return
    with source_errors(where, fail):
        handle = open(path, "rb")
    with handle:
        yield from _decoded_lines(handle, encoding, where, fail, long_lines, start, first_line)


def file_format(handle, encoding: str, fail) -> LineFormat:
    """The `LineFormat` of the open file in `encoding` (read from its first bytes; the handle is left at
    its start)."""
    handle.seek(0)
    head = handle.read(4)
    handle.seek(0)
    try:
        return line_format(encoding, head)
    except (LookupError, ValueError) as exc:
        raise fail(check_encoding(encoding) or str(exc)) from None


def _decoded_lines(handle, encoding: str, where: str, fail, long_lines: bool = False, start: int = 0,
                   first_line: int = 1) -> Iterator[tuple[int, "str | LongLine"]]:
    fmt = file_format(handle, encoding, fail)
    handle.seek(start)
    limit = max_line_bytes()
    codec = fmt.codec
    mark = codecs.BOM_UTF8 if fmt.sig else fmt.bom  # what a line may start with that is not its text
    lineno = first_line - 1
    # most files: lines end at 0x0a, read by a C loop here (a generator in between costs a third more)
    lines = iter(partial(handle.readline, limit + 1), b"") if fmt.newline == b"\n" else fmt.raw_lines(handle, limit)
    try:
        for raw in lines:
            lineno += 1
            if raw.__class__ is LongLine or len(raw) > limit:
                if not long_lines:
                    raise fail(too_long(where, lineno, limit))
                if raw.__class__ is not LongLine:
                    raw = fmt.long_line(raw, handle)
                yield lineno, raw
                raw.drain()
                continue
            try:
                text = fmt.text(raw, lineno == 1) if mark and raw.startswith(mark) else raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise fail(f"{where}:{lineno}: not valid {encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
            if "\x00" in text:
                raise fail(f"{where}:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
            yield lineno, text
    except OSError as exc:
        raise fail(f"{where}:{lineno + 1}: read error: {exc.strerror}") from None


class LineRecords:
    """locate / scan for connectors whose records are lines (or quoted multi-line rows)
    of one text file. A subclass provides `entries(collection)` yielding (key, line number, record dict,
    raw text) for every record, and `candidate_entries(collection, needles)` doing the same for only the
    records that contain a candidate line of the started `LinesJob` (see `bytescan`)."""

    prefilter_forbid = ""  # characters that make a value's raw spelling uncertain (CSV doubles quotes)
    prefilter_extra: tuple[bytes, ...] = ()  # bytes that can hide a value in the format (JSON: backslash)
    prefilter_regex: tuple[bytes, ...] = ()  # the same, as extended regular expressions
    prefilter_follows: bytes | None = None  # what a value can follow, if it never begins a line (bytescan)

    def encoding(self, collection) -> str:
        return collection.options.get("encoding", "utf-8")

    def line_format(self, collection) -> LineFormat:
        """How the collection's file makes lines (its encoding, newline and byte order mark)."""
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail), open(collection.path, "rb") as handle:
            return file_format(handle, self.encoding(collection), self.fail)

    def entries(self, collection):
        raise NotImplementedError

    def candidate_entries(self, collection, job: LinesJob):
        raise NotImplementedError

    def needles(self, collection, wanted: Wanted) -> Needles | None:
        return needles_for(collection, self.inventory, wanted, encoding=self.encoding(collection),
                           forbid=self.prefilter_forbid, extra=self.prefilter_extra,
                           follows=self.prefilter_follows, regex=self.prefilter_regex)

    def candidates(self, collection, job: LinesJob) -> Iterator[tuple[int, int, str]]:
        """(line number, byte offset, decoded text with its line ending) of every candidate line; the
        file's errors in the same words as a full read."""
        path = collection.path
        where = display_path(path, self.inventory)
        encoding = self.encoding(collection)
        with source_errors(where, self.fail):
            if os.path.isdir(path):
                raise self.fail(f"is a folder, not a file: {where}")
            handle = job.file()
            handle.seek(0)
            head = handle.read(1 << 16)
            size = os.fstat(handle.fileno()).st_size
            if b"\x00" in head:
                lineno = head.count(b"\n", 0, head.index(b"\x00")) + 1
                raise self.fail(f"{where}:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
            fmt = file_format(handle, encoding, self.fail)
            limit = max_line_bytes()
            for lineno, offset, raw in job.lines():
                if offset + len(raw) < size:
                    raw += b"\n"  # the scan gives the line without its newline
                if len(raw) > limit:
                    raise self.fail(too_long(where, lineno, limit))
                try:
                    text = fmt.text(raw, lineno == 1)
                except UnicodeDecodeError as exc:
                    raise self.fail(f"{where}:{lineno}: not valid {encoding} (byte 0x{raw[exc.start]:02x} "
                                    f"at column {exc.start + 1})") from None
                if "\x00" in text:
                    raise self.fail(f"{where}:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
                yield lineno, offset, text

    def start_locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> StartedSearch:
        return start_file_search(self, collection, wanted, self.needles(collection, wanted), LinesJob)

    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False, prefilter: bool = True,
               job: LinesJob | None = None) -> Iterator[Record]:
        """The records holding a wanted value (a line holds all its fields: `lookup_only` changes nothing);
        with `prefilter=False` every record is parsed (the tests compare both ways over the same data)."""
        if prefilter and job is None:  # through the byte prefilter, when there is an exact one
            yield from run_started(self.start_locate(collection, wanted))
            return
        from ..filelock import text_digest

        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        found = self.entries(collection) if job is None else self.candidate_entries(collection, job)

        for key, lineno, data, raw in found:
            ids = matcher.identities(data)
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, key, data, ids, hits, f"{where}:{lineno}",
                             text_digest(raw))

    def scan(self, collection) -> Iterator[Record]:
        """Every record, read completely (erase refuses a file it could not read to the end)."""
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        for key, lineno, data, _raw in self.entries(collection):
            yield Record(self.system.name, collection.name, key, data, matcher.identities(data), set(),
                         f"{where}:{lineno}")
