"""Which file collections the verification search after an erase need not read again.

The search after an erase must report exactly what a full search with the plan's identifiers would. A
file collection holds nothing of them when the code can show both:

- the prepare search read the whole collection for every identifier of the plan, without failure,
  without leaving out records (a named unique value), and the file did not change while it read it,
  nor since: its state (`file_state`) was the same before the search began and after it ended, and
  when the erase was about to replace it (the erase reads the file under its lock, then renames the
  new one in: the source says when, `EraseContext.replacing`);
- and either the search found nothing there and the file is still as it was, or the erase deleted
  every record found (delete rule, none missing) and the file now is what the erase wrote (its state is
  the one noted right after the erase renamed it in; a Maildir holds exactly its earlier files minus
  the deleted ones).

Only collections of sources that declare `local_files` are considered: their records are the bytes
of the file at `path:`. A file's state is its inode, size, modification and change times (a folder's:
those of every file in it). The change time cannot be set by a program and moves on every write, so an unchanged state means
an unchanged file, unless a write fell in the same clock tick as the state was read: a state whose
change time is less than `RACY_SECONDS` old never counts (the trick git uses for its index; 0.1 s where
the filesystem keeps sub-millisecond timestamps, see `racy`). The one
exception is the state noted right after the erase's own rename, always that recent: a write landing in
the same tick right after the rename would go unseen, but a write after the rename is concurrent with
the verification, which no search can promise to see (a re-read misses what is written after it);
earlier writes are seen. Where no such state was noted, the file's SHA-256 is compared with the one
the rewrite computed. Anything
else — a record that survived, an SQL table, a collection with retained or anonymized records, a file
a concurrent writer touched — is searched again.
"""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable

from ..filelock import sha256_file
from ..inventory.model import Collection, Inventory

RACY_SECONDS = 2.0  # a state changed this recently may hide a write in the same timestamp tick
RACY_FINE_SECONDS = 0.1  # the same where timestamps show sub-millisecond digits (the tick is the kernel's, <= 10 ms)


def racy(newest_ctime_ns: int, taken_ns: int) -> bool:
    """Whether a state whose newest change time is `newest_ctime_ns`, read at `taken_ns`, may hide a
    write in the same timestamp tick. A change time with digits below the millisecond comes from a
    filesystem keeping nanoseconds (ext4, XFS, Btrfs, tmpfs), stamped from the kernel's coarse clock,
    whose tick is at most 10 ms: 0.1 s is then enough. Any other (whole seconds, FAT's 2 s, and one in a
    thousand fine ones that falls on a whole millisecond) waits the full 2 s."""
    fine = newest_ctime_ns % 1_000_000 != 0
    return newest_ctime_ns > taken_ns - int((RACY_FINE_SECONDS if fine else RACY_SECONDS) * 1e9)


@dataclass(frozen=True)
class FileState:
    """A file's (or a folder's files') identity and timestamps at one moment, kept small: a Maildir of
    100,000 messages is 1.6 MB here (two 64-bit hashes a file), not 35 MB of tuples. Each file is the
    hash of its relative name and the hash of (name, device, inode, size, mtime_ns, ctime_ns), in name
    hash order; states are only compared within one process (Python's hashes are salted per process),
    and two different states compare equal only through a 64-bit collision."""

    names: array  # hash(relative name), ascending ("" for a file)
    files: array  # hash((name, device, inode, size, mtime_ns, ctime_ns)), in the same order
    folder: bool
    newest_ctime_ns: int

    def without(self, names: set[str]) -> array:
        """`files` without the entries of these relative names."""
        gone = {hash(name) for name in names}
        return array("q", (f for n, f in zip(self.names, self.files) if n not in gone))


def file_state(collection: Collection, *, recent: bool = False) -> FileState | None:
    """The state of a collection's file or folder, or None when it cannot be read or changed too recently
    to tell (see RACY_SECONDS; `recent`: a recent change is fine, for the state of a file the erase has
    just renamed in)."""
    path = collection.path
    if path is None:
        return None
    taken = time.time_ns()
    entries: list[int] = []  # name hash << 64 | entry hash, as unsigned: one int a file while walking
    newest = [0]
    try:
        if os.path.isdir(path):
            _walk(os.fspath(path), "", entries, newest)
            folder = True
        else:
            st = os.stat(path)
            _add(entries, newest, "", st)
            folder = False
    except OSError:
        return None
    if racy(newest[0], taken) and not recent:
        return None
    entries.sort()
    names = array("q", ((e >> 64) - (1 << 63) for e in entries))
    files = array("q", ((e & _MASK) - (1 << 63) for e in entries))
    return FileState(names, files, folder, newest[0])


_MASK = (1 << 64) - 1


def _add(entries: list[int], newest: list[int], rel: str, st) -> None:
    entry = hash((rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    entries.append(((hash(rel) + (1 << 63)) << 64) | (entry + (1 << 63)))
    newest[0] = max(newest[0], st.st_ctime_ns)


def _walk(root: str, prefix: str, entries: list[int], newest: list[int]) -> None:
    with os.scandir(os.path.join(root, prefix) if prefix else root) as it:
        for entry in it:
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir(follow_symlinks=False):
                entries.append(((hash(rel + "/") + (1 << 63)) << 64) | (1 << 63))  # a new folder is a change too
                _walk(root, rel, entries, newest)
            else:
                _add(entries, newest, rel, entry.stat(follow_symlinks=False))


@dataclass
class SearchWatch:
    """How the erase's search read the files: the state of each file collection when it was the same
    before and after the whole search (None: it changed, or could not be told), and whether the
    expansion ran to its end."""

    states: dict[tuple[str, str], FileState | None] = field(default_factory=dict)
    complete: bool = False  # every identifier found was searched for (no MAX_ROUNDS cut)
    clean: set[tuple[str, str]] = field(default_factory=set)  # see `searched_cleanly`


def watched_search(inventory: Inventory, search: Callable[[], list]) -> tuple[list, SearchWatch]:
    """Run the erase's search (`search()` gives its FindResults) between two looks at the state of every
    collection of a `local_files` source: one whose state did not change from before the search began
    to after it ended was read unchanged by every round that read it. (A Maildir's state costs a stat of
    every message, twice.)"""
    from ..connectors import get

    files = [c for c in inventory.collections() if getattr(get(c.system.connector), "local_files", False)]
    before = {_key(c): file_state(c) for c in files}
    results = search()
    watch = SearchWatch(complete=all(r.complete for r in results), clean=searched_cleanly(results))
    kinds = {i.kind for result in results for i in result.identifiers}
    for coll in files:
        if set(coll.searched) & kinds:  # read by the search (for an identifier of a kind it holds)
            state = before[_key(coll)]
            watch.states[_key(coll)] = state if state is not None and file_state(coll) == state else None
    return results, watch


def _key(collection: Collection) -> tuple[str, str]:
    return (collection.system.name, collection.name)


def searched_cleanly(results: list) -> set[tuple[str, str]]:
    """Collections every subject's search read without failure and without leaving a record out."""
    clean: set[tuple[str, str]] | None = None
    for result in results:
        ok = {(s.system.name, c.collection.name) for s in result.systems.values() for c in s.collections.values()
              if c.status == "ok" and not c.excluded}
        clean = ok if clean is None else clean & ok
    return clean or set()


def settled(inventory: Inventory, plan: Any, run: Any) -> set[tuple[str, str]]:
    """The file collections that hold none of the plan's identifiers now (see the module docstring)."""
    known = plan.search
    if known is None or not known.complete:
        return set()
    out = set()
    for cplan in plan.collections:
        key = (cplan.system, cplan.collection)
        before = known.states.get(key)
        if before is None or key not in known.clean or cplan.status != "ok":
            continue
        collection = inventory.systems[cplan.system].collections[cplan.collection]
        if not cplan.steps:
            if file_state(collection) == before:
                out.add(key)  # nothing was there, and the file has not changed since
            continue
        if any(step.action != "delete" for step in cplan.steps) or run is None:
            continue
        unit = next((u for u in run.units if u.system == cplan.system and u.status == "done"), None)
        outcome = unit.outcomes.get(cplan.collection) if unit else None
        if outcome is None or outcome.deleted != len(cplan.steps) or outcome.missing or outcome.masked:
            continue
        if before.folder:
            now = file_state(collection)
            if now is not None and now.files == before.without({str(step.key) for step in cplan.steps}):
                out.add(key)
        elif unit.replaced.get(cplan.collection) == before and _unchanged_since_written(collection, unit, outcome):
            out.add(key)
    return out


def _unchanged_since_written(collection: Collection, unit: Any, outcome: Any) -> bool:
    """Whether the file is still the one the erase renamed in: its state is the one noted right after
    the rename (no re-read: a hash of a 1.2 GB mailbox costs 4 s), else its SHA-256 is the rewrite's."""
    written = unit.written.get(collection.name)
    if written is not None:
        return file_state(collection, recent=True) == written
    return bool(outcome.sha256) and _sha256(collection) == outcome.sha256


def _sha256(collection: Collection) -> str | None:
    try:
        return sha256_file(collection.path)
    except OSError:
        return None
