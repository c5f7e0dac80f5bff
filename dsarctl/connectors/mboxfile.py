"""mbox framing, the way Python's `mailbox.mbox` reads a file.

A message starts at every line beginning with "From " at the start of the file or after a newline,
whether or not an empty line comes before it: the mboxo files of old clients (Netscape, early Mozilla)
write a message's From_ line right after the previous message's last line. A message's bytes run from
its From_ line to the next From_ line or the end of the file; as an .eml it is those bytes without the
From_ line and without the empty line that separates it from the next message (`eml_bounds`), what
`mailbox.mbox.get_bytes` gives. ">From " lines are bytes of the message like any other (an escape is
never undone, as `mailbox` does not undo it).

Two ways to frame: `frames` reads a whole file line by line (an erase, `inventory check`, a search
without a byte prefilter); `MboxFile` frames one message around a byte offset (the prefilter's
candidate lines) and checks that a range found earlier still holds the same message.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable, Iterator

_STEP = 1 << 16


def frames(handle, where: str, fail: Callable[[str], Exception]) -> Iterator[tuple[int, int, int, bytes]]:
    """(start offset, end offset, line number of the From_ line, header bytes) of every message of an
    open file, read from its current position (its start). Empty lines may come before the first
    message, nothing else; a file that ends inside a message's headers is refused as truncated."""
    offset = lineno = 0
    start = start_line = None
    headers: list[bytes] = []
    in_headers = False
    for line in handle:
        lineno += 1
        if line.startswith(b"From "):
            if start is not None:
                yield start, offset, start_line, b"".join(headers)
            start, start_line, headers, in_headers = offset, lineno, [], True
        elif start is None:
            if line.strip():
                raise fail(f"{where}:{lineno}: not an mbox file (expected a 'From ' line)")
        elif in_headers:
            if line in (b"\n", b"\r\n"):
                in_headers = False
            else:
                headers.append(line)
        offset += len(line)
    if start is not None:
        if in_headers:
            raise fail(f"{where}:{start_line}: message headers are not terminated (truncated message?)")
        yield start, offset, start_line, b"".join(headers)


def eml_bounds(first_line: int, size: int, tail: bytes) -> tuple[int, int]:
    """Where the .eml lies in a message's bytes (From_ line included; `first_line` its length, `size`
    the message's, `tail` its last two bytes or fewer): after the From_ line, and before a last line
    that is empty (LF only: `mailbox` counts a CRLF line as text)."""
    body = size - first_line
    if body > 0 and tail.endswith(b"\n") and (body == 1 or tail == b"\n\n"):
        return first_line, size - 1
    return first_line, size


def range_digest(fd: int, start: int, end: int) -> str:
    """SHA-256 of the bytes [start, end) of an open file (pread: the file position is left alone)."""
    digest = hashlib.sha256()
    pos = start
    while pos < end:
        chunk = os.pread(fd, min(1 << 20, end - pos), pos)
        if not chunk:
            break
        digest.update(chunk)
        pos += len(chunk)
    return digest.hexdigest()


class MboxFile:
    """Random access to an open mbox file for framing the message around a byte offset."""

    def __init__(self, handle):
        self.fd = handle.fileno()
        self.size = os.fstat(self.fd).st_size

    def read(self, lo: int, hi: int) -> bytes:
        return os.pread(self.fd, max(0, hi - lo), lo) if hi > lo else b""

    def starts_message(self, q: int) -> bool:
        """Whether a message starts at `q`: a line beginning with "From " at the file start or after a
        newline."""
        return (q == 0 or self.read(q - 1, q) == b"\n") and self.read(q, q + 5) == b"From "

    def message_start(self, pos: int) -> int | None:
        """The From_ line of the message holding the line at `pos` (None: before the first message)."""
        hi = min(self.size, pos + 5)
        while True:
            lo = max(0, hi - _STEP)
            buf = self.read(lo, hi)
            j = buf.rfind(b"\nFrom ")
            if j != -1:
                return lo + j + 1
            if lo == 0:
                return 0 if buf.startswith(b"From ") else None
            hi = lo + 6  # overlap so that "\nFrom " across the window edge is seen

    def next_message(self, pos: int) -> int:
        """The offset of the first From_ line after the line at `pos` (the file's size when none)."""
        while pos < self.size:
            buf = self.read(pos, pos + _STEP + 6)
            j = buf.find(b"\nFrom ")
            if j != -1:
                return pos + j + 1
            if len(buf) < _STEP + 6:
                break
            pos += _STEP
        return self.size

    def header_end(self, start: int, limit: int) -> int | None:
        """The offset of the empty line (LF or CRLF) ending the headers of the message at `start`, when
        it comes before `limit` (the next message); None when the headers run up to `limit`."""
        pos = start
        while pos < limit:
            buf = self.read(pos, min(limit, pos + _STEP + 2))
            hits = [i for i in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if i != -1]
            if hits:
                return pos + min(hits) + 1
            if pos + len(buf) >= limit:
                return None
            pos += _STEP
        return None

    def holds(self, start: int, end: int, digest: str | None) -> bool:
        """Whether [start, end) is still one whole message with the SHA-256 `digest`."""
        if digest is None or not 0 <= start < end <= self.size or not self.starts_message(start):
            return False
        if end < self.size and not self.starts_message(end):
            return False
        return range_digest(self.fd, start, end) == digest
