"""How the bytes of a line file (CSV, JSON lines) make lines of text, in its encoding and within a size.

A line file is read line by line as bytes, and each line is decoded on its own (so that a bad byte is
reported with its line number). That needs the encoding's newline: in an encoding that writes ASCII as
ASCII (UTF-8, Latin-1, cp1252 …) the byte 0x0a; in UTF-16 and UTF-32 the code unit of U+000A
(b"\\n\\x00" in UTF-16-LE) at an offset that is a multiple of the unit — a 0x0a byte anywhere else is
part of another character. A byte order mark is read as Python's codec reads it: `utf-16` and
`utf-32` take it from the start of the file (it says the byte order; without one, the machine's order
is used, as Python does) and it is not part of the first line's text; `utf-8-sig` drops one at the
start of any line (each line is decoded on its own, as before). An erase keeps the file's mark. Other
encodings (EBCDIC, UTF-7) are refused with a clear error.

A line of more than `max_line_bytes()` (64 MiB; `DSARCTL_MAX_LINE_BYTES`) is never read whole: its
bytes come in pieces (`LongLine`), so a stray 2 GB line costs no more memory than a short one. Whoever
reads the lines decides what to do with one (an erase hashes it as it streams; every other reader
reports it as a line too long to read, naming file and line).
"""

from __future__ import annotations

import codecs
import hashlib
import os
import sys
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, Callable, Iterator

LIMIT_ENV = "DSARCTL_MAX_LINE_BYTES"
DEFAULT_LIMIT = 64 << 20
_PIECE = 1 << 20  # the size of the pieces a long line is read in


def max_line_bytes() -> int:
    """The longest line (in bytes, its newline included) read whole: `DSARCTL_MAX_LINE_BYTES`, else 64 MiB."""
    try:
        return max(16, int(os.environ[LIMIT_ENV]))
    except (KeyError, ValueError):
        return DEFAULT_LIMIT


def too_long(where: str, lineno: int, limit: int) -> str:
    """The words for a line longer than the limit."""
    return (f"{where}:{lineno}: a line longer than {_size(limit)}, more than dsarctl reads as one record "
            f"(set {LIMIT_ENV} to a larger number of bytes to read it)")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.4g} {unit}"
        n /= 1024
    return str(n)


@dataclass(frozen=True)
class LineFormat:
    """How one file's bytes make lines: `codec` decodes (and encodes) one line, byte order fixed and no
    byte order mark; `newline` is U+000A in it; `bom` is the mark the file starts with that the
    configured encoding takes away from the first line (kept by a rewrite)."""

    encoding: str
    codec: str
    newline: bytes = b"\n"
    bom: bytes = b""
    sig: bool = False  # utf-8-sig: a mark at the start of any line is dropped (each line is decoded on its own)

    def text(self, raw: bytes, first: bool) -> str:
        """One line's text (`first`: the file's first line). A UnicodeDecodeError's `start` counts from
        the line's first byte."""
        if self.sig:
            skip = 3 if raw.startswith(codecs.BOM_UTF8) else 0
        else:
            skip = len(self.bom) if first and self.bom and raw.startswith(self.bom) else 0
        try:
            return raw[skip:].decode(self.codec) if skip else raw.decode(self.codec)
        except UnicodeDecodeError as exc:
            exc.start += skip
            raise

    def encode(self, text: str, first: bool = False) -> bytes:
        """A replacement line in the file's encoding (with the file's byte order mark, for its first line)."""
        return (self.bom if first else b"") + text.encode(self.codec)

    def raw_lines(self, handle: BinaryIO, limit: int) -> Iterator[bytes | "LongLine"]:
        """The lines from the handle's position of a file whose newline is a code unit of several bytes
        (UTF-16, UTF-32): bytes, newline included; a line of more than `limit` bytes as a `LongLine`
        (what its reader leaves of it is skipped). Lines that end at 0x0a are read by
        `files.iter_lines` itself, in a C loop."""
        pieces = _wide_pieces(handle, self.newline)
        held: list[bytes] = []
        size = 0
        for piece, ends in pieces:
            held.append(piece)
            size += len(piece)
            if size > limit:
                line = LongLine(self, chain(held, () if ends else _until_line_end(pieces)))
                yield line
                line.drain()
                held, size = [], 0
            elif ends:
                yield b"".join(held) if len(held) > 1 else piece
                held, size = [], 0
        if held:
            yield b"".join(held)

    def long_line(self, first: bytes, handle: BinaryIO) -> "LongLine":
        """The long line whose first `first` bytes were read from `handle` (a file of 0x0a newlines)."""
        return LongLine(self, chain((first,), () if first.endswith(b"\n") else _rest_of_line(handle)))


class LongLine:
    """A line longer than the limit, as an iterator over its bytes in pieces (read once)."""

    def __init__(self, fmt: LineFormat, pieces: Iterator[bytes]):
        self.fmt = fmt
        self.pieces = pieces

    def drain(self) -> None:
        """Read past what is left of the line."""
        for _ in self.pieces:
            pass

    def digest(self, first: bool, where: str, lineno: int, fail: Callable[[str], Exception]) -> str:
        """`filelock.text_digest` of the line's text, computed piece by piece (its bytes checked as
        the encoding on the way)."""
        decoder = codecs.getincrementaldecoder(self.fmt.codec)()
        digest = hashlib.sha256()
        seen = 0
        bom = codecs.BOM_UTF8 if self.fmt.sig else self.fmt.bom if first else b""
        for piece in _small(self.pieces):
            if bom and not seen and piece.startswith(bom):
                piece, seen = piece[len(bom):], len(bom)
            try:
                text = decoder.decode(piece)
            except UnicodeDecodeError as exc:
                column = seen - (len(exc.object) - len(piece)) + exc.start + 1  # the decoder held a few bytes
                raise fail(f"{where}:{lineno}: not valid {self.fmt.encoding} (byte 0x{exc.object[exc.start]:02x} "
                           f"at column {column})") from None
            if "\x00" in text:
                raise fail(f"{where}:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
            digest.update(text.encode("utf-8", "surrogatepass"))
            seen += len(piece)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise fail(f"{where}:{lineno}: not valid {self.fmt.encoding} (a character cut short at the end)") from None
        return digest.hexdigest()


def _small(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces cut to at most `_PIECE` bytes each (decoded one at a time: a few MB at most)."""
    for piece in pieces:
        if len(piece) <= _PIECE:
            yield piece
            continue
        view = memoryview(piece)
        for at in range(0, len(piece), _PIECE):
            yield bytes(view[at:at + _PIECE])


def _rest_of_line(handle: BinaryIO) -> Iterator[bytes]:
    while piece := handle.readline(_PIECE):
        yield piece
        if piece.endswith(b"\n"):
            return


def _until_line_end(pieces: Iterator[tuple[bytes, bool]]) -> Iterator[bytes]:
    for piece, ends in pieces:
        yield piece
        if ends:
            return


def _wide_pieces(handle: BinaryIO, newline: bytes) -> Iterator[tuple[bytes, bool]]:
    """(bytes, whether they end a line) for a file whose newline is a code unit of several bytes: blocks
    of the file cut after each newline found at an offset that is a multiple of the unit."""
    unit = len(newline)
    while block := handle.read(1 << 16):  # a multiple of the unit: the blocks stay aligned
        pos = 0
        i = block.find(newline)
        while i != -1:
            if i % unit:
                i = block.find(newline, i + 1)
                continue
            yield block[pos:i + unit], True
            pos = i + unit
            i = block.find(newline, pos)
        if pos < len(block):
            yield block[pos:], False


_WIDE = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}
_FIXED = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def line_format(encoding: str, head: bytes = b"") -> LineFormat:
    """How a file that starts with the bytes `head` (its first four are enough) makes lines in
    `encoding`. LookupError: no such encoding; ValueError: one whose lines dsarctl cannot find."""
    name = codecs.lookup(encoding).name
    if name == "utf-8-sig":
        return LineFormat(encoding, "utf-8", b"\n", codecs.BOM_UTF8 if head.startswith(codecs.BOM_UTF8) else b"",
                          sig=True)
    if name in _WIDE:
        little, big = _WIDE[name]
        if head.startswith(big):
            order, bom = "be", big
        elif head.startswith(little):
            order, bom = "le", little
        else:
            order, bom = ("le" if sys.byteorder == "little" else "be"), b""
        codec = f"{name}-{order}"
        return LineFormat(encoding, codec, "\n".encode(codec), bom)
    if name in _FIXED:
        return LineFormat(encoding, name, "\n".encode(name))
    from .bytescan import ascii_compatible

    if ascii_compatible(name) is None:
        raise ValueError(f"encoding '{encoding}' does not write line ends as a line file needs: use one that "
                         "writes ASCII as ASCII (utf-8, latin-1, cp1252 …), utf-16 or utf-32")
    return LineFormat(encoding, name)


def check_encoding(encoding: str) -> str | None:
    """What is wrong with `encoding` for a line file, or None (for the inventory's loader)."""
    try:
        line_format(encoding)
    except LookupError:
        return f"unknown encoding '{encoding}' (e.g. utf-8, utf-8-sig, latin-1, cp1252, utf-16)"
    except ValueError as exc:
        return str(exc)
    return None
