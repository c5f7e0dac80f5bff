"""Sources: one small class per kind of data source, behind one contract (`dsarctl.sources`) and one
registry. `Connector` is the version 1 name, kept for one version."""

import os
from typing import Callable, Iterable, Iterator

from ..sources import ExportFile, Finding, KeySpec, Record, Source, Wanted
from .base import Connector
from .registry import ENTRY_POINT_GROUP, get, names, register, unregister

__all__ = [
    "Connector", "ExportFile", "Finding", "KeySpec", "Record", "Source", "Wanted",
    "ENTRY_POINT_GROUP", "get", "names", "register", "unregister", "open_connector", "failure",
    "close_quietly", "guarded",
]


def open_connector(system, inventory) -> Source:
    """An instance of the source a system names; whatever its constructor raises is a SourceError of the
    system (see `failure`)."""
    from ..errors import DsarError

    cls = get(system.connector)
    if cls is None:  # the loader already checked; a plugin may have vanished since
        from ..errors import InventoryError

        raise InventoryError(f"unknown connector '{system.connector}'", key=f"systems.{system.name}.connector")
    try:
        return cls(system, inventory)
    except (DsarError, OSError):
        raise
    except Exception as exc:
        from ..errors import SourceError

        raise SourceError(failure(inventory, exc), system=system.name) from exc


def failure(inventory, exc: BaseException) -> str:
    """One line for what a source raised: a dsarctl error's reason; anything else (an OSError, a plugin's
    bug) as `ExceptionClass: message`. Secrets of the inventory are taken out. With DSARCTL_DEBUG set, the
    traceback of a bug (not of a dsarctl error or an OSError) goes to stderr too, for the plugin's author."""
    from ..errors import DsarError

    if isinstance(exc, DsarError):
        text = getattr(exc, "reason", None) or str(exc)
    else:
        text = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        if not isinstance(exc, OSError) and os.environ.get("DSARCTL_DEBUG"):
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
    return inventory.redact(str(text))


def close_quietly(source) -> None:
    """Close a source once its work is done and its outcome known: what `close()` raises then changes
    nothing of it (a connection already gone) and is not a failure."""
    try:
        source.close()
    except Exception:
        pass


def guarded(records: Callable[[], Iterable], system_name: str, inventory) -> Iterator:
    """What `records()` gives (records, export files, chunks); whatever the source raises meanwhile (a plugin's bug: KeyError,
    NotImplementedError, ...) comes out as a SourceError of its system, as the source's own errors do,
    and the caller's own code between two records is not covered."""
    from ..errors import DsarError, SourceError

    try:
        yield from records()
    except (DsarError, OSError):
        raise
    except Exception as exc:
        raise SourceError(failure(inventory, exc), system=system_name) from exc
