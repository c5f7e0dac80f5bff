"""The one registry of connectors.

Built-in connectors and third-party ones register the same way: an entry in the `dsarctl.connectors`
entry-point group naming `module:Class`. Built-ins are also listed here so that a source checkout works
without being installed; each module is imported only when an inventory uses it, so that SQLAlchemy
loads only for SQL sources. A plugin that fails to load is reported as a warning, not a crash.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Connector

ENTRY_POINT_GROUP = "dsarctl.connectors"

BUILTIN = {
    "sql": "dsarctl.connectors.sql:SqlConnector",
    "csv": "dsarctl.connectors.csvfile:CsvConnector",
    "jsonl": "dsarctl.connectors.jsonl:JsonlConnector",
    "mbox": "dsarctl.connectors.mail:MboxConnector",
    "maildir": "dsarctl.connectors.mail:MaildirConnector",
    "manual": "dsarctl.connectors.manual:ManualConnector",
    "imap": "dsarctl.connectors.imap:ImapConnector",
}

_registered: dict[str, type[Connector]] = {}
_plugins: dict[str, str] | None = None


def register(cls: type[Connector]) -> type[Connector]:
    """Register a connector class under its `name` (usable as a decorator, e.g. in tests)."""
    _registered[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _plugin_targets() -> dict[str, str]:
    global _plugins
    if _plugins is None:
        from importlib.metadata import entry_points

        _plugins = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return _plugins


def names() -> list[str]:
    """Every connector name available now."""
    return sorted(set(_registered) | set(BUILTIN) | set(_plugin_targets()))


def get(name: str) -> type[Connector] | None:
    """The connector class called `name`, or None."""
    if name in _registered:
        return _registered[name]
    target = BUILTIN.get(name) or _plugin_targets().get(name)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # a broken plugin must not take the tool down
        warnings.warn(f"connector plugin '{name}' ({target}) failed to load: {exc}", stacklevel=2)
        return None
    _registered[name] = cls
    return cls
