"""Which audit log an inventory has used, remembered beside the inventory, so that a missing log is refused
instead of silently replaced by an empty one.

An audit log kept on another disk (a mounted volume, a network share) can vanish: the disk is not mounted
this morning. SQLite would create a new, empty file at the same path, `overdue` would find nothing overdue
and the morning alarm would go silent. So the first time an inventory's log is created, or an existing log
is first opened, the log's random id (`AuditLog.log_id`, kept in the log) and its path are written to
`.dsarctl-audit-id` in the inventory's folder: the one place that is there whenever the command can run at
all (it reads the inventory from it), and that is not on the disk that holds the log when the log is kept
elsewhere. From then on every command that reads or writes the log (`open_audit`):

- refuses (RefusedError, exit 2, one line naming the path) when the log is missing;
- refuses the same way when the file at the path is another log (another id: a fresh file created there);
- creates a log only with `create=True` (the commands that record new work: `request new`, `find`,
  `export`, `erase`), and only when the marker does not know a log at that path. The commands that only
  read (`overdue`, `request list/show`, `audit log/verify`, `task list`, `suppress check/filter`) answer from
  an empty log in memory when none was ever used, and write nothing.

To start a new log on purpose (the old one is lost for good), delete its line from the marker, or the
marker. A folder where the marker cannot be written gets a warning when the log is created, and no check.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .audit import AuditLog
from .errors import DsarError, RefusedError

if TYPE_CHECKING:
    from .inventory.model import Inventory

MARKER = ".dsarctl-audit-id"
_HEADER = ("# dsarctl: the audit logs this folder's inventories have used (log id, TAB, path), so that a\n"
           "# missing log is refused; delete a line only to start that log anew (docs/reliability.md)\n")


def marker_path(inventory: "Inventory") -> Path:
    """The marker: `.dsarctl-audit-id` in the inventory's folder."""
    return Path(inventory.path).parent / MARKER


def open_audit(inventory: "Inventory", *, create: bool = False) -> AuditLog:
    """The inventory's audit log, refused (exit 2) when a log it used before is missing or replaced; see the
    module's text for `create`. Costs a stat and a read of a small file on top of opening the log."""
    path = Path(inventory.audit_path)
    marker = marker_path(inventory)
    key = _key(path, marker.parent)
    try:
        os.stat(path)
    except FileNotFoundError:
        known = recorded(marker).get(key)
        if known is not None:
            raise RefusedError(f"{path}: the audit log is missing: this inventory has used log {known} there "
                               f"(is its disk mounted?); nothing was read or written. Restore the file, or "
                               f"to start a new log on purpose delete its line from {marker}") from None
        if not create:
            return AuditLog.empty(path)
        log = AuditLog.open(path)
        _remember(marker, key, log, warn=True)
        return log
    except OSError:
        pass  # a file where a folder should be, no permission: the open below says which
    log = AuditLog.open(path, create=False)
    try:
        known = recorded(marker).get(key)
        if known is None:
            _remember(marker, key, log, warn=False)
        elif known != log.log_id():
            raise RefusedError(f"{path}: not the audit log this inventory has used (log {known}; this file "
                               f"is log {log.log_id()}): restore the right file, or to adopt this one delete "
                               f"the line of {key} from {marker}")
    except BaseException:
        log.close()
        raise
    return log


def recorded(marker: Path) -> dict[str, str]:
    """{path as the marker writes it: log id} of the marker's lines (the last line of a path wins)."""
    try:
        text = marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DsarError(f"{marker}: cannot read the audit log marker ({getattr(exc, 'strerror', None) or exc})") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        log_id, tab, key = line.partition("\t")
        if tab and log_id and not log_id.startswith("#"):
            out[key] = log_id
    return out


def _key(path: Path, folder: Path) -> str:
    """The log's path relative to the inventory's folder when it lies inside it (the folder may move), else
    absolute."""
    path_text = os.path.normpath(str(path))
    try:
        relative = os.path.relpath(path_text, str(folder))
    except ValueError:  # another drive (Windows)
        return path_text
    return path_text if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def _remember(marker: Path, key: str, log: AuditLog, *, warn: bool) -> None:
    """Append `log id TAB key` to the marker (an append of one short line: two processes at once at worst
    write the same line twice)."""
    log_id = log.log_id()
    problem = None
    if log_id is None or "\n" in key or "\t" in key:
        problem = "its path cannot be written in the marker"
    else:
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            try:
                head = _HEADER if os.fstat(fd).st_size == 0 else ""
                os.write(fd, f"{head}{log_id}\t{key}\n".encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            problem = f"{marker}: {exc.strerror}"
    if problem and warn:
        sys.stderr.write(f"dsarctl: warning: created the audit log {log.path}, but cannot remember it beside the "
                         f"inventory ({problem}): if it goes missing, dsarctl cannot tell\n")
