"""The erase journal: the plan written down (and fsynced) before anything is touched.

One JSON-lines file per run under `<audit dir>/journal/`: the first line is the plan (record keys as
keyed hashes, file records by content hash, identifiers as keyed hashes — never the values; the keys of
records of sources other than `local_files` also sealed, encrypted and authenticated with a key derived
from the install key, so that a resumed run finds them without listing the source), every further line
marks a step done. A run killed at any moment leaves a journal without its `complete`
line; the next `erase` finds it and finishes it. The file is locked while a run works on it, so two
operators cannot finish the same run twice.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import RefusedError
from ..filelock import fsync_dir
from ..keys import SealError, open_sealed, seal


class Journal:
    def __init__(self, path: Path, header: dict[str, Any], entries: list[dict[str, Any]], fd: int):
        self.path = path
        self.header = header
        self.entries = entries
        self._fd = fd

    @property
    def run_id(self) -> str:
        return self.header["run_id"]

    def done(self, kind: str, system: str | None = None) -> bool:
        return any(e["type"] == kind and e.get("system") == system for e in self.entries)

    @property
    def complete(self) -> bool:
        return any(e["type"] == "complete" for e in self.entries)

    def mark(self, kind: str, **data: Any) -> None:
        """Append a line and make it durable before the caller moves on."""
        entry = {"type": kind, **data}
        os.write(self._fd, (json.dumps(entry, sort_keys=True, default=str) + "\n").encode())
        os.fsync(self._fd)
        self.entries.append(entry)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @classmethod
    def create(cls, folder: Path, header: dict[str, Any]) -> "Journal":
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{header['run_id']}.jsonl"
        tmp = folder / f".{path.name}.tmp"
        # exclusive and not through a symlink (see filelock): a file planted under the name is refused
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            raise RefusedError(f"{tmp}: a file is in the way of the erase's journal (not dsarctl's: it names "
                               "a run not started yet); nothing was changed") from None
        with open(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o600)
            handle.write(json.dumps({"type": "plan", **header}, sort_keys=True, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # the journal exists whole or not at all
        fsync_dir(folder)
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(path, header, [], fd)

    @classmethod
    def unfinished(cls, folder: Path) -> list["Journal"]:
        """Every journal whose run did not complete, oldest first, locked for this process."""
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.jsonl")):
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                for journal in out:
                    journal.close()
                raise RefusedError(f"another dsarctl erase is running ({path.name}); wait for it to finish") from None
            with open(path, encoding="utf-8") as handle:
                lines = [json.loads(line) for line in handle if line.endswith("\n")]  # a torn last line is ignored
            if not lines or any(e["type"] == "complete" for e in lines):
                os.close(fd)
                continue
            header = {k: v for k, v in lines[0].items() if k != "type"}
            out.append(cls(path, header, lines[1:], fd))
        return out


# -- record keys, sealed ---------------------------------------------------------------------------------
# A record's key (a primary key's values, an API's id, a whole row's values for a table without a primary
# key) is sealed with its type: a resumed run hands the source the very key the search found (an int
# stays an int, a date a date). A key of another type is not sealed; the resumed run then scans the
# source for it, as runs of journals written before keys were sealed do.

class _Unsealable(Exception):
    pass


def _typed(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [_typed(v) for v in value]}
    if isinstance(value, list):
        return {"t": "list", "v": [_typed(v) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[_typed(k), _typed(v)] for k, v in value.items()]}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"t": "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"t": "decimal", "v": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"t": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"t": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"t": "time", "v": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"t": "uuid", "v": str(value)}
    raise _Unsealable(type(value).__name__)


_UNTYPED = {
    "tuple": lambda v: tuple(_untyped(x) for x in v),
    "list": lambda v: [_untyped(x) for x in v],
    "dict": lambda v: {_untyped(k): _untyped(x) for k, x in v},
    "bytes": lambda v: base64.b64decode(v),
    "decimal": Decimal,
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "uuid": uuid.UUID,
}


def _untyped(value: Any) -> Any:
    if isinstance(value, dict):
        return _UNTYPED[value["t"]](value["v"])
    return value


def _context(system: str, collection: str, key_id: str) -> str:
    # authenticated with the sealed key: an entry copied to another record's place does not open there
    return f"erase journal record key\0{system}\0{collection}\0{key_id}"


_KEY_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder for a plan's many keys


def seal_record_key(key: bytes, system: str, collection: str, key_id: str, record_key: Any) -> str | None:
    """The record's key sealed for the journal entry `key_id`; None for a key of a type not kept so."""
    try:
        plain = _KEY_JSON.encode(_typed(record_key))
    except _Unsealable:
        return None
    return seal(key, plain.encode("utf-8"), _context(system, collection, key_id))


def open_record_key(key: bytes, system: str, collection: str, key_id: str, sealed: str) -> Any:
    """The record key `seal_record_key` sealed. SealError when it does not open (another install key)."""
    plain = open_sealed(key, sealed, _context(system, collection, key_id))
    try:
        return _untyped(json.loads(plain))
    except (ValueError, KeyError, TypeError):  # pragma: no cover - authenticated: only a bug of ours
        raise SealError("a sealed record key is not one dsarctl wrote") from None
