"""`inventory check --connect`: reach every source and compare it with the inventory."""

from __future__ import annotations

from .connectors import Finding, open_connector
from .errors import DsarError
from .inventory.model import Inventory


def check_sources(inventory: Inventory) -> list[Finding]:
    """Findings for every system: errors (unreachable, missing table/column/file), warnings (no index)."""
    findings: list[Finding] = []
    for system in inventory.systems.values():
        if system.is_manual:
            findings.append(Finding("info", system.name, f"manual: {system.processor or 'handled by hand'}"))
            continue
        try:
            with open_connector(system, inventory) as connector:
                findings.extend(connector.check())
        except DsarError as exc:
            findings.append(Finding("error", system.name, getattr(exc, "reason", str(exc)),
                                    inventory.where(system.key_path), int(exc.exit_status)))
    return findings
