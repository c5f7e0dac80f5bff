"""Rewriting a data file safely: an exclusive lock against a second dsarctl, and an atomic replace.

The lock is taken on the data file itself (flock). Because a rewrite renames a new file over the old
one, a process that waited on the old inode re-checks after acquiring the lock that the path still
names the file it locked, and tries again when it does not. The new content is written to a temporary
file in the same folder, fsynced, given the old file's permissions (and owner, where allowed), renamed
over the old one, and the folder is fsynced: at every moment the path holds either the old file or the
complete new one. A temporary file left by a killed run is removed the next time the file is locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import RefusedError

TMP_MARK = ".dsarctl-tmp"


@contextmanager
def locked(path: Path, *, timeout: float = 30.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` (waiting up to `timeout` seconds for another dsarctl)."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDONLY)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RefusedError(f"{path}: another dsarctl is rewriting this file; try again later") from None
                    time.sleep(0.05)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                _remove_stale(path)
                yield
                return
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _remove_stale(path: Path) -> None:
    """Remove temporary files of runs killed before their rename (we hold the lock: none is live)."""
    prefix = f".{path.name}{TMP_MARK}"
    try:
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix):
                os.unlink(entry.path)
    except OSError:
        pass


def atomic_replace(path: Path, chunks: Iterable[bytes], checkpoint: Callable[[str], None] | None = None) -> str:
    """Replace `path` with the bytes of `chunks`, atomically, keeping its permissions; returns the SHA-256.

    Call with the lock held (`locked(path)`).
    """
    from concurrent.futures import ThreadPoolExecutor

    path = Path(path)
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    tmp = path.parent / f".{path.name}{TMP_MARK}-{os.getpid()}"
    digest = hashlib.sha256()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    renamed = False
    try:
        with os.fdopen(fd, "wb") as out, ThreadPoolExecutor(1) as hasher:
            # SHA-256 runs at ~300 MB/s without CPU support: it hashes each block on another thread
            # (hashlib lets go of the GIL) while this one writes it and reads the next
            hashed = None
            for block in _blocks(chunks):
                if hashed is not None:
                    hashed.result()
                hashed = hasher.submit(digest.update, block)
                out.write(block)
            if hashed is not None:
                hashed.result()
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except (PermissionError, AttributeError):
            pass  # not root: the new file belongs to us, with the old permissions
        if checkpoint:
            checkpoint("file.before-rename")
        os.replace(tmp, path)
        renamed = True
        if checkpoint:
            checkpoint("file.renamed")
        fsync_dir(path.parent)
    finally:
        if not renamed:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return digest.hexdigest()


def _blocks(chunks: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The chunks (lines, ranges) joined into blocks of about `size` bytes, in order."""
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def rewrite_lines(path: Path, edits: dict[int, tuple[int, bytes]], checkpoint: Callable[[str], None] | None = None) -> str:
    """Atomically rewrite a line-based file: `edits` maps a 1-based line number to (how many lines the
    record spans, replacement bytes — b"" to drop it). Every other line is copied byte for byte."""

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            skip = 0
            for lineno, line in enumerate(handle, 1):
                if skip:
                    skip -= 1
                    continue
                edit = edits.get(lineno)
                if edit is None:
                    yield line
                    continue
                span, replacement = edit
                if replacement:
                    yield replacement
                skip = span - 1

    return atomic_replace(path, chunks(), checkpoint)


def rewrite_without(path: Path, ranges: list[tuple[int, int]], checkpoint: Callable[[str], None] | None = None) -> str:
    """Atomically rewrite `path` without the byte ranges [start, end); every other byte is copied as is."""
    return rewrite_ranges(path, {tuple(r): b"" for r in ranges}, checkpoint)


def rewrite_ranges(path: Path, replacements: dict[tuple[int, int], bytes],
                   checkpoint: Callable[[str], None] | None = None) -> str:
    """Atomically rewrite `path` with each byte range [start, end) replaced by its bytes (b"" drops it);
    every other byte is copied as is."""

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            position = 0
            for (start, end), replacement in sorted(replacements.items()) + [((None, None), b"")]:
                while start is None or position < start:
                    want = 1 << 20 if start is None else min(1 << 20, start - position)
                    chunk = handle.read(want)
                    if not chunk:
                        break
                    position += len(chunk)
                    yield chunk
                if start is None:
                    break
                if replacement:
                    yield replacement
                handle.seek(end)
                position = end

    return atomic_replace(path, chunks(), checkpoint)


def line_span(raw: str) -> int:
    """How many physical lines a record's raw text spans (a final line may lack its newline)."""
    return raw.count("\n") + (0 if raw.endswith("\n") else 1)


def line_ending(raw: str) -> str:
    if raw.endswith("\r\n"):
        return "\r\n"
    return "\n" if raw.endswith("\n") else ""


def text_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
