"""Computing a pure function in a forked child process, to use a second core.

An erase of several file sources runs one thread per source (erase/apply.py), but parsing and hashing
every line of a CSV or JSON-lines file is Python work that holds the GIL: two such files would take
turns on one core. `call(fn, *args)` runs `fn(*args)` in a child forked for the purpose and returns
its value (or raises its error) through a pipe, while the calling thread waits without the GIL.

Only functions without side effects are handed over: the child reads (a file the parent holds the
lock of) and computes; the parent writes. So a child that dies, or is left behind by a parent killed
with SIGKILL, changes nothing (it is also asked to die with its parent). The child never returns into
the caller's code: it leaves with `os._exit`, running no `atexit` hook and flushing no inherited
buffer. Everything the function needs must already be imported in the parent (an import lock held
by another thread at the fork would never be released in the child).

The child is used on Linux with more than one usable core; elsewhere, and when `DSARCTL_NO_FORK` is
set, the function runs in the calling thread, with the same result.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Any, Callable

from .errors import DsarError

ENV = "DSARCTL_NO_FORK"


def available() -> bool:
    """Whether `call` runs its function in a child: Linux, several usable cores, not turned off."""
    if not sys.platform.startswith("linux") or os.environ.get(ENV):
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return (os.cpu_count() or 1) > 1


def call(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, computed in a forked child when `available()`. Its value and a `DsarError`,
    `OSError` or `KeyboardInterrupt` it raises come back as they are; any other error comes back as a
    RuntimeError with the child's traceback (a bug, shown as one)."""
    if not available():
        return fn(*args)
    parent = os.getpid()
    prctl = _prctl()  # resolved here: the child takes no lock another thread may have held at the fork
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return fn(*args)  # no process to spare: do it here
    if pid == 0:  # the child: compute, write, leave
        status = 0
        try:
            os.close(read_end)
            _die_with(parent, prctl)
            try:
                payload = pickle.dumps((True, fn(*args)), pickle.HIGHEST_PROTOCOL)
            except (DsarError, OSError) as exc:
                payload = _pickled_error(exc)
            except KeyboardInterrupt:  # Ctrl-C reached the whole process group: the parent stops too
                payload = pickle.dumps((False, KeyboardInterrupt()))
            except BaseException:  # noqa: BLE001 - a bug: its traceback goes to the parent
                payload = pickle.dumps((False, RuntimeError(traceback.format_exc())))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001 - the parent reads nothing and says so
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"the worker process ended without an answer (wait status {status})")
    ok, value = pickle.loads(data)
    if ok:
        return value
    raise value


def _pickled_error(exc: BaseException) -> bytes:
    try:
        payload = pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)  # an error class that does not unpickle comes back as its words
        return payload
    except Exception:  # noqa: BLE001
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


_PRCTL: list = []


def _prctl():
    """libc's prctl, or None."""
    if not _PRCTL:
        try:
            import ctypes

            _PRCTL.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError, ImportError):
            _PRCTL.append(None)
    return _PRCTL[0]


def _die_with(parent: int, prctl) -> None:
    """Ask Linux to kill this child when the thread that forked it ends (PR_SET_PDEATHSIG; the thread
    waits for the child's answer, so it ends before the child only when the process is killed)."""
    if prctl is not None:
        prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
