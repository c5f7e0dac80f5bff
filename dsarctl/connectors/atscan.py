"""Find many e-mail needles at once: every needle holds an `@`, so only the text around each `@` of the
data needs looking at.

GNU grep searches a few fixed strings at memory speed, but with hundreds of them (an erase batch of
1,000 subjects) its multi-pattern search crawls on mail: at 300k records, 4 s over a 370 MB mbox and
6 s over a 490 MB Maildir in the faster of its two locales. Here each `@` of the data is found with
`bytes.find` (memchr), the few bytes around it are looked up in a table of the needles' bytes around
their own first `@`, and only a needle whose window matches is compared whole: about a microsecond
per `@`, and mail holds a few per message (headers), base64 attachments none.

It is exact: a needle occurs at offset s only if the data's `@` at s + p (p: where the needle's first
`@` is) is one of the `@`s visited, and there the window test is a necessary condition of the whole
comparison. Letters are folded as ASCII, like `grep -F -i` in the C locale (needles are lower case).

Markers (`-m`: bytes without letters, such as `=?`, which can hide an address in mail) are found in
the same pass with `bytes.find`, so a batch reads each mailbox once instead of once more per marker.

Run as a program (`python -I -S atscan.py`, standard library only, so it starts in ~15 ms), it prints
what `grep -F -i` prints for the needles and markers together, for the two forms `bytescan` runs: `--lines` as `grep -n -b -a`
("LINE:OFFSET:TEXT" per line holding a needle) and `--files` as `grep -l -Z` (names, NUL-ended, of
the regular files directly in the folders given holding a needle). Exit status as grep's: 0 found,
1 none, 2 an error (reported on stderr; the scan goes on). `bytescan` runs it for mail only: where
nearly every line holds an `@` (a newsletter list, an event log) grep in the C locale is faster.

`--files --headers` looks only at each file's header block (up to the first empty line, as
`mail._header_block` reads it), for Maildir messages, whose bodies are never searched: reading three
system calls' worth of each file instead of all of it, with the needles (any bytes then, not only
e-mails) and the markers in one pass, where grep read every file once per needle and once per marker
(on a 30,000-message Maildir, two passes of ~0.2 s of system time each). `--part I/N` takes the files
whose unique name (before the `:` of the flags) falls in part I of N by CRC-32, so that N processes
share a big folder, and a message a mail client renames meanwhile (new/ to cur/, flags) stays in its
part.
"""

from __future__ import annotations

import heapq
import os
import sys
import zlib
from typing import Iterator

WINDOW = 4  # bytes looked at on each side of an `@` (fewer where a needle has fewer)
CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the file's size


class AtIndex:
    """The needles (lower-case bytes, each holding `@`) by the bytes around their first `@`."""

    def __init__(self, needles) -> None:
        shapes: dict[tuple[int, int], dict[bytes, list[tuple[int, bytes]]]] = {}
        for needle in dict.fromkeys(needles):
            at = needle.index(b"@")
            left, right = min(WINDOW, at), min(WINDOW, len(needle) - at)
            table = shapes.setdefault((left, right), {})
            table.setdefault(needle[at - left:at + right], []).append((at, needle))
        self.shapes = list(shapes.items())

    def starts(self, data: bytes, begin: int = 0, end: int | None = None) -> Iterator[int]:
        """The offset of a needle at each `@` of data[begin:end] where one starts (once per `@`)."""
        find, shapes = data.find, self.shapes
        end = len(data) if end is None else end
        q = find(b"@", begin, end)
        while q != -1:
            for (left, right), table in shapes:
                if q - left < begin or q + right > end:
                    continue
                bucket = table.get(data[q - left:q + right].lower())
                if bucket:
                    hit = next((q - at for at, needle in bucket if q - at >= begin and q - at + len(needle) <= end
                                and data[q - at:q - at + len(needle)].lower() == needle), None)
                    if hit is not None:
                        yield hit
                        break
            q = find(b"@", q + 1, end)

    def holds(self, data: bytes) -> bool:
        return next(self.starts(data), None) is not None


def lines(fd: int, index: AtIndex, chunk: int = CHUNK, markers: tuple[bytes, ...] = ()) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset of the line, line without its newline) of every line holding a needle or a
    marker, in file order, reading the open file `fd` from its start (pread: the caller's file position
    is left alone)."""
    for offset, lineno, part in blocks(fd, chunk):
        hits = index.starts(part)
        if markers:
            hits = heapq.merge(hits, *(occurrences(part, m) for m in markers))
        yield from lines_at(part, offset, lineno, hits)


def plain_marker(marker: bytes) -> bool:
    """Whether a marker can be looked for as it is: no letters (no case to fold), no newline."""
    return bool(marker) and marker.lower() == marker.upper() and b"\n" not in marker


def occurrences(data: bytes, marker: bytes) -> Iterator[int]:
    """The offset of every occurrence of `marker` in data. Its last byte is found with memchr (`find` of
    one byte: many GB/s) and the rest compared there; `find` of the whole marker reads a byte at a time
    for a short one (~1 GB/s, as slow as the rest of the scan). In mail `?` is rare, `=` is not."""
    last, back = marker[-1:], len(marker) - 1
    q = data.find(last, back)
    while q != -1:
        if data.startswith(marker, q - back):
            yield q - back
        q = data.find(last, q + 1)


def blocks(fd: int, chunk: int = CHUNK) -> Iterator[tuple[int, int, bytes]]:
    """(offset, number of its first line, bytes) of the file in pieces of whole lines (the last may end
    without a newline), about `chunk` bytes each. Each piece is read where it starts (a block's last,
    partial line is read again with the next block) instead of being glued to the next read: copying
    megabytes costs more than the memory reads it saves."""
    offset, lineno, size = 0, 1, chunk
    while True:
        block = os.pread(fd, size, offset)
        if not block:
            return
        cut = block.rfind(b"\n") + 1
        if cut < len(block) and (len(block) == size or os.pread(fd, 1, offset + len(block))):
            if cut == 0:  # a line longer than the block: read more of it at once
                size *= 2
                continue
            block = block[:cut]
        # else: the block ends with a newline, or the file ends (without one) with this block
        yield offset, lineno, block
        lineno += block.count(b"\n")
        offset += len(block)
        size = chunk


def lines_at(part: bytes, offset: int, lineno: int, hits) -> Iterator[tuple[int, int, bytes]]:
    """The lines of a block (see `blocks`) holding the offsets `hits` (ascending), each once."""
    counted, at, last = lineno, 0, -1
    for hit in hits:
        start = part.rfind(b"\n", 0, hit) + 1
        if start <= last:  # a line already given (two hits in it)
            continue
        last = start
        counted += part.count(b"\n", at, start)
        at = start
        stop = part.find(b"\n", start)
        yield counted, offset + start, part[start:stop if stop != -1 else len(part)]


def file_holds(fd: int, index: AtIndex, chunk: int = CHUNK, markers: tuple[bytes, ...] = ()) -> bool:
    """Whether the open file holds a needle or a marker (neither holds a newline: a whole small file is
    looked at at once; a big one in pieces of whole lines)."""
    size = os.fstat(fd).st_size
    if size < chunk:  # a message: one read of its size (not a buffer of `chunk` bytes for every file)
        data = os.pread(fd, size + 1, 0)
        if len(data) <= size:
            return any(next(occurrences(data, m), None) is not None for m in markers) or index.holds(data)
    return next(lines(fd, index, chunk, markers), None) is not None


HEADER_LIMIT = 1 << 24  # a header block not ended within 16 MB: the file is a candidate (the reader decides)


def header_block(fd: int) -> bytes | None:
    """The bytes of the open message file up to the empty line that ends its headers (without it; the
    whole file when there is none), or None when no such line comes within `HEADER_LIMIT` bytes."""
    data = os.pread(fd, 1 << 13, 0)  # most messages' headers: one read (of no more than they need)
    end = data.find(b"\n\n")
    # the common case at once: the empty line within the first read, no CRLF one before it, and a first
    # line that is not itself empty
    if end > 0 and data[0] not in (10, 13) and data.find(b"\n\r\n", 0, end + 2) == -1:
        return data[:end + 1]
    data, offset, size = b"", 0, 1 << 13
    while True:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            return data
        begin = max(0, len(data) - 2)
        data += chunk
        offset += len(chunk)
        size *= 2
        if data.startswith((b"\n", b"\r\n")):
            return b""
        end = data.find(b"\n\n", begin)
        crlf = data.find(b"\n\r\n", begin, len(data) if end == -1 else end + 2)
        if crlf != -1 or end != -1:
            return data[:crlf + 1 if crlf != -1 else end + 1]
        if len(data) > HEADER_LIMIT:
            return None


class HeaderNeedles:
    """What makes a header block a candidate: a needle (lower-case bytes, any) or a marker in it."""

    def __init__(self, needles: list[bytes], markers: tuple[bytes, ...], expressions: list[bytes] = ()):
        import re

        self.expressions = [re.compile(x) for x in expressions]
        at = [n for n in needles if b"@" in n]
        many = len(at) > 16
        self.index = AtIndex(at) if many else None
        self.plain = tuple(n for n in needles if not many or b"@" not in n)
        self.markers = markers

    def holds(self, block: bytes) -> bool:
        # plain loops: any() over a generator costs more than the test itself on a 2 KB header block
        for marker in self.markers:
            if marker in block:
                return True
        if self.plain:
            low = block.lower()
            for needle in self.plain:
                if needle in low:
                    return True
        if self.index is not None and self.index.holds(block):
            return True
        for expression in self.expressions:
            if expression.search(block):
                return True
        return False


def header_files(folder: str, heads: HeaderNeedles, part: tuple[int, int] | None, out) -> tuple[bool, bool]:
    """Write the path (NUL-ended) of every regular file directly in `folder` (of its part) whose header
    block holds a needle; (found any, an error was reported). Each file is opened relative to the
    folder (one path step for the kernel, not the whole path), and most are read in one 8 KB read."""
    found, failed = False, False
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_file(follow_symlinks=False) and _in_part(e.name, part)]
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        sys.stderr.write(f"atscan: {folder}: {exc.strerror}\n")
        return False, True
    prefix = os.fsencode(os.path.join(folder, ""))
    opened, close, holds = os.open, os.close, heads.holds
    try:
        for name in names:
            try:
                fd = opened(name, os.O_RDONLY, dir_fd=dir_fd)
                try:
                    block = header_block(fd)
                finally:
                    close(fd)
            except OSError as exc:
                sys.stderr.write(f"atscan: {os.path.join(folder, name)}: {exc.strerror}\n")
                failed = True
                continue
            if block is None or holds(block):
                out.write(prefix + os.fsencode(name) + b"\0")
                found = True
    finally:
        os.close(dir_fd)
    return found, failed


def _in_part(name: str, part: tuple[int, int] | None) -> bool:
    """Whether the file `name` is in part I of N (see the module's notes); always without parts."""
    return part is None or zlib.crc32(os.fsencode(name).split(b":", 1)[0]) % part[1] == part[0]


def main(argv: list[str]) -> int:
    mode, needles, markers, paths = None, [], [], []
    headers, part, expressions = False, None, []
    args = iter(argv)
    for arg in args:
        if arg in ("--lines", "--files"):
            mode = arg
        elif arg == "--headers":
            headers = True
        elif arg == "--part":
            i, _, n = next(args).partition("/")
            part = (int(i), int(n))
        elif arg == "-e":
            needles.append(os.fsencode(next(args)).lower())
        elif arg == "-m":
            markers.append(os.fsencode(next(args)))
        elif arg == "-x":  # with --headers: an extended regular expression, as Needles.regex
            expressions.append(os.fsencode(next(args)))
        elif arg == "--":
            paths = list(args)
        else:
            sys.stderr.write(f"atscan: unknown argument {arg!r}\n")
            return 2
    if mode is None or not needles or not (headers or all(b"@" in n for n in needles)) or (expressions and not headers):
        sys.stderr.write("atscan: give --lines or --files, and -e NEEDLE (each holding @) for every needle\n")
        return 2
    if headers and mode != "--files":
        sys.stderr.write("atscan: --headers goes with --files\n")
        return 2
    if not all(map(plain_marker, markers)):
        sys.stderr.write("atscan: a marker (-m) must be bytes without letters or newlines\n")
        return 2
    markers = tuple(dict.fromkeys(markers))
    heads = HeaderNeedles(needles, markers, expressions) if headers else None
    index = None if headers else AtIndex(needles)
    out = sys.stdout.buffer
    found, failed = False, False
    for path in paths:
        if heads is not None:
            hit, error = header_files(path, heads, part, out)
            found, failed = found or hit, failed or error
            continue
        try:
            if mode == "--lines":
                fd = os.open(path, os.O_RDONLY)
                try:
                    for lineno, offset, line in lines(fd, index, CHUNK, markers):
                        out.write(b"%d:%d:%s\n" % (lineno, offset, line))
                        found = True
                finally:
                    os.close(fd)
                continue
            with os.scandir(path) as entries:
                names = [e.path for e in entries if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            sys.stderr.write(f"atscan: {path}: {exc.strerror}\n")
            failed = True
            continue
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY)
                try:
                    hit = file_holds(fd, index, CHUNK, markers)
                finally:
                    os.close(fd)
            except OSError as exc:
                sys.stderr.write(f"atscan: {name}: {exc.strerror}\n")
                failed = True
                continue
            if hit:
                out.write(os.fsencode(name) + b"\0")
                found = True
    out.flush()
    return 2 if failed else 0 if found else 1


def run(argv: list[str]) -> int:
    """main(), with any failure (an output that cannot be written, a bug) exit status 2, never 1: 1 says
    "none found", which the caller would take as a complete answer."""
    try:
        return main(argv)
    except BaseException as exc:  # noqa: BLE001 - whatever stops the scan makes its answer incomplete
        sys.stderr.write(f"atscan: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(2)  # not through the interpreter's exit: flushing a broken stdout again would exit 120


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
