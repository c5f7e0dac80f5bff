"""One erase at a time per audit log: a second `erase` waits for the first, visibly, up to a time limit.

An erase holds `<audit dir>/erase.lock` (flock) from before it finishes interrupted runs until it has
recorded its own run: the plan a person confirms is then the one carried out, with no other erase
rewriting the same files in between. A second erase (another terminal, a cron job) finds the lock held,
says on stderr whom it waits for, and goes on as soon as the first ends; after `DSARCTL_ERASE_WAIT`
seconds (default 600) it gives up with one line, exit 2, having changed nothing. The lock is the
operating system's: a killed erase (kill -9, a power cut) holds nothing, and its interrupted run is
finished by the next erase from its journal. The file itself only says who holds the lock, for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping

from ..errors import RefusedError, UsageError

LOCK_NAME = "erase.lock"
WAIT_ENV = "DSARCTL_ERASE_WAIT"
DEFAULT_WAIT_S = 600.0
_POLL_S = 0.1


class EraseBusy(RefusedError):
    """Another erase held the lock for longer than this one would wait (exit 2)."""


def wait_limit(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds to wait for another erase: $DSARCTL_ERASE_WAIT, else 600 (0: do not wait)."""
    text = environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):  # also NaN
        raise UsageError(f"{WAIT_ENV}: '{text}' is not a number of seconds (0 or more; default {DEFAULT_WAIT_S:g})")
    return seconds


def hold(folder: Path, *, operator: str, now: datetime, wait: float,
         on_wait: Callable[[str], None] | None = None) -> Callable[[], None]:
    """Take the erase lock in `folder`, waiting up to `wait` seconds for another erase (telling `on_wait`
    once, when it starts waiting); returns the function that releases it. EraseBusy when the wait ends."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if not _try_lock(fd):
            _wait(fd, path, wait, on_wait)
        held = {"pid": os.getpid(), "host": socket.gethostname(), "operator": operator,
                "since": now.isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(held) + "\n").encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    released = []

    def release() -> None:
        if not released:
            released.append(True)
            os.close(fd)  # closing the descriptor releases the lock

    return release


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait(fd: int, path: Path, wait: float, on_wait: Callable[[str], None] | None) -> None:
    holder, since = _holder(path)
    if on_wait is not None:
        on_wait(f"waiting for {holder} to finish (another erase holds the lock since {since}: {path}); "
                f"waiting up to {wait:g} s ({WAIT_ENV})")
    deadline = time.monotonic() + wait
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            raise EraseBusy(f"another erase ({holder}, since {since}) still holds the erase lock {path} after "
                            f"{wait:g} s; nothing was changed: run erase again when it has finished, or wait "
                            f"longer with {WAIT_ENV}=SECONDS") from None
        time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))


def _holder(path: Path) -> tuple[str, str]:
    """(who holds the lock, since when) as its holder wrote them: ("the erase by ann, pid 4242 on host1",
    "2026-03-10T09:00:00+00:00")."""
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
        where = f"pid {held['pid']}" + (f" on {held['host']}" if held.get("host") else "")
        return f"the erase by {held.get('operator') or 'someone'}, {where}", str(held["since"])
    except (OSError, ValueError, TypeError, KeyError):
        return "the other erase", "a moment ago"  # it has not written its name yet
