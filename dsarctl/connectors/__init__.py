"""Connectors: one small class per kind of data source, behind one interface and one registry."""

from .base import Connector, ExportFile, Finding, KeySpec, Record, Wanted
from .registry import ENTRY_POINT_GROUP, get, names, register, unregister

__all__ = [
    "Connector", "ExportFile", "Finding", "KeySpec", "Record", "Wanted",
    "ENTRY_POINT_GROUP", "get", "names", "register", "unregister",
]


def open_connector(system, inventory) -> Connector:
    """An instance of the connector a system names."""
    cls = get(system.connector)
    if cls is None:  # the loader already checked; a plugin may have vanished since
        from ..errors import InventoryError

        raise InventoryError(f"unknown connector '{system.connector}'", key=f"systems.{system.name}.connector")
    return cls(system, inventory)
