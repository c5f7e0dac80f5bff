"""The erase journal: the plan written down (and fsynced) before anything is touched.

One JSON-lines file per run under `<audit dir>/journal/`: the first line is the plan (record keys as
keyed hashes, file records by content hash, identifiers as keyed hashes — never the values), every
further line marks a step done. A run killed at any moment leaves a journal without its `complete`
line; the next `erase` finds it and finishes it. The file is locked while a run works on it, so two
operators cannot finish the same run twice.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ..errors import RefusedError
from ..filelock import fsync_dir


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
