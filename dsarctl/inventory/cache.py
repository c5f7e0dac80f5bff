"""A cache of parsed inventories, so that a command does not pay for the YAML parser on every run.

Parsing inventory.yaml with ruamel.yaml (importing it and reading a typical inventory) costs about as much
as the whole start-up of `dsarctl overdue`, which runs every morning. The cache keeps the parsed tree
(plain dicts, lists and scalars, plus the line number of every key) with the file's bytes, and uses it
only when the file's bytes are the same, compared in full: an edited inventory is parsed afresh and an
unchanged one is read back with `marshal` in well under a millisecond. (The file name is the bytes'
CRC-32 and length, which only chooses where to look; no hash has to be computed, which keeps hashlib,
and OpenSSL, out of the morning check.) Validation still runs on every load; only the parse is skipped.

What is kept is the tree *before* `${VAR}` expansion: nothing read from the environment (database
passwords) is written to disk. The files live in `$DSARCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/dsarctl`,
else `~/.cache/dsarctl`; the folder is private (0700), each file is written whole and renamed into place,
and a file not owned by the current user, or writable by others, is ignored. `DSARCTL_CACHE_DIR=off`
turns the cache off. A cache that cannot be read or written is never an error: the inventory is parsed.
The file name also holds the format version and the loader's modification time, so a changed parser does
not read trees an older one wrote.
"""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path
from typing import Any

FORMAT = 1
KEEP = 32  # trees kept; the oldest go when more are written


def directory() -> Path | None:
    configured = os.environ.get("DSARCTL_CACHE_DIR")
    if configured is not None:
        if configured.strip().lower() in ("", "off", "0", "no", "false"):
            return None
        return Path(configured).expanduser() / "inventory"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dsarctl" / "inventory"


def _name(raw: bytes) -> str:
    try:
        stamp = os.stat(os.path.join(os.path.dirname(__file__), "loader.py")).st_mtime_ns
    except OSError:
        stamp = 0
    return f"{zlib.crc32(raw):08x}-{len(raw)}-{FORMAT}-{stamp}.marshal"


def load(raw: bytes) -> tuple[Any, dict] | None:
    """The (tree, lines) stored for an inventory file whose bytes are exactly `raw`, or None."""
    folder = directory()
    if folder is None:
        return None
    try:
        with open(folder / _name(raw), "rb") as fh:
            st = os.fstat(fh.fileno())
            if (hasattr(os, "getuid") and st.st_uid != os.getuid()) or st.st_mode & 0o022:
                return None
            kept, tree, lines = marshal.loads(fh.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if kept != raw or not isinstance(lines, dict):
        return None
    return tree, lines


def store(raw: bytes, tree: Any, lines: dict) -> None:
    """Keep the parsed tree of the inventory file `raw`; failures (read-only home, full disk) are ignored."""
    folder = directory()
    if folder is None:
        return
    try:
        blob = marshal.dumps((raw, tree, lines))
    except ValueError:  # a value marshal cannot hold: do without the cache
        return
    target = folder / _name(raw)
    tmp = target.with_name(f".{target.name}.{os.urandom(8).hex()}.tmp")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # a name nobody can guess, created exclusively, never through a symlink (see filelock)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, target)
        _prune(folder)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def _prune(folder: Path) -> None:
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".marshal"):
            try:
                entries.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                pass
    entries.sort()
    for _, path in entries[:-KEEP]:
        try:
            os.unlink(path)
        except OSError:
            pass
