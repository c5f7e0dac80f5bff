"""The one registry of sources.

Built-in sources and third-party ones register the same way: an entry in the `dsarctl.sources.v2`
entry-point group naming `module:Class` (a subclass of `dsarctl.sources.Source`). Built-ins are also
listed here so that a source checkout works without being installed; each module is imported only when
an inventory uses it, so that SQLAlchemy loads only for SQL sources. A plugin that fails to load is
not a crash: the inventory that names it is refused in one line naming the entry point and the error.

Plugins of version 1 (the `dsarctl.connectors` group) still load for one version, with a warning: they
search, export and check, but cannot erase (see `dsarctl.connectors.base.Connector`).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

from ..sources import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from ..sources import Source

V1_ENTRY_POINT_GROUP = "dsarctl.connectors"  # read for one version, with a warning

BUILTIN = {
    "sql": "dsarctl.connectors.sql:SqlConnector",
    "csv": "dsarctl.connectors.csvfile:CsvConnector",
    "jsonl": "dsarctl.connectors.jsonl:JsonlConnector",
    "mbox": "dsarctl.connectors.mail:MboxConnector",
    "maildir": "dsarctl.connectors.mail:MaildirConnector",
    "manual": "dsarctl.connectors.manual:ManualConnector",
    "imap": "dsarctl.connectors.imap:ImapConnector",
    "http": "dsarctl.connectors.http:HttpSource",
}

_registered: dict[str, type[Source]] = {}
_plugins: dict[str, str] | None = None  # name -> module:Class, of the version 2 group
_v1_plugins: dict[str, str] | None = None
_unloadable: dict[str, str] = {}  # name -> why its entry point gives no source (one line)


def register(cls: type[Source]) -> type[Source]:
    """Register a source class under its `name` (usable as a decorator, e.g. in tests)."""
    _registered[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _plugin_targets() -> dict[str, str]:
    global _plugins
    if _plugins is None:
        _plugins = _group(ENTRY_POINT_GROUP)
    return _plugins


def _v1_targets() -> dict[str, str]:
    global _v1_plugins
    if _v1_plugins is None:
        _v1_plugins = _group(V1_ENTRY_POINT_GROUP)
    return _v1_plugins


def _group(name: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=name)}


def unloadable(name: str) -> str | None:
    """Why the source `name`, which an entry point names, did not load (after `get(name)` gave None):
    one line naming the entry point and what importing it raised; None if it is not such a source."""
    return _unloadable.get(name)


def names() -> list[str]:
    """Every source name available now."""
    return sorted(set(_registered) | set(BUILTIN) | set(_plugin_targets()) | set(_v1_targets()))


def get(name: str) -> type[Source] | None:
    """The source class called `name`, or None."""
    if name in _registered:
        return _registered[name]
    target = BUILTIN.get(name) or _plugin_targets().get(name)
    v1 = target is None and name in _v1_targets()
    if v1:
        target = _v1_targets()[name]
    if target is None:
        return None
    from ..sources import Source

    module_name, _, attr = target.partition(":")
    group = V1_ENTRY_POINT_GROUP if v1 else ENTRY_POINT_GROUP
    origin = f"its module ({target})" if BUILTIN.get(name) == target else f"its entry point ({group}: {name} = {target})"
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # a broken plugin must not take the tool down: the inventory names it
        what = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
        _unloadable[name] = f"{origin} failed to load: {what}"
        return None
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        _unloadable[name] = f"{origin} is not a dsarctl.sources.Source"
        return None
    _unloadable.pop(name, None)
    if v1:
        warnings.warn(f"connector plugin '{name}' ({target}) is registered in the version 1 group "
                      f"'{V1_ENTRY_POINT_GROUP}': it searches and exports, but cannot erase until it moves to "
                      f"'{ENTRY_POINT_GROUP}' (dsarctl.sources)", FutureWarning, stacklevel=2)
    _registered[name] = cls
    return cls
