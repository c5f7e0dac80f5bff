"""The record of processing (`inventory show`): one row per system and collection."""

from __future__ import annotations

import csv
import io
from typing import Any

from .model import Inventory

COLUMNS = ["system", "collection", "connector", "description", "categories", "purposes", "lawful_basis",
           "retention", "recipients", "source", "automated_decisions", "transfers", "erase", "owner"]


def record_of_processing(inventory: Inventory) -> dict[str, Any]:
    """The data map as plain data: controller and one row per collection (or manual system)."""
    rows = []
    for system in inventory.systems.values():
        base = {
            "system": system.name,
            "connector": system.connector,
            "description": system.description,
            "purposes": system.purposes,
            "lawful_basis": system.lawful_basis,
            "retention": system.retention,
            "recipients": system.recipients + ([system.processor] if system.processor else []),
            "source": system.source,
            "automated_decisions": _declared(system, "automated_decisions", [
                (f"{d['name']}: " if d.get("name") else "") + f"{d['logic']} (significance: {d['significance']}; "
                f"consequences: {d['consequences']})" for d in system.automated_decisions]),
            "transfers": _declared(system, "transfers", [
                f"{t['country']} ({t['safeguard']}" + (f"; to {t['recipient']})" if t.get("recipient") else ")")
                for t in system.transfers]),
            "owner": system.owner,
        }
        if system.is_manual:
            rows.append({**base, "collection": None, "categories": [], "erase": "manual task",
                         "identities": system.identity_kinds})
            continue
        for coll in system.collections.values():
            rows.append({
                **base,
                "collection": coll.name,
                "description": coll.description or system.description,
                "categories": sorted(set(coll.categories.values())),
                "identities": {k: [_link(coll, k, f) for f in v] for k, v in coll.identities.items()},
                "erase": coll.erase.describe() if coll.erase else "no erase rule (left for review)",
            })
    c = inventory.controller
    return {
        "controller": {"name": c.name, "contact": c.contact, "address": c.address, "dpo": c.dpo,
                       "timezone": c.timezone, "regime": c.regime},
        "inventory": str(inventory.path),
        "systems": rows,
    }


def _declared(system, key: str, entries: list[str]) -> list[str] | None:
    """The entries; ["none"] when the inventory says there are none; None when it does not say."""
    if key not in system.declared:
        return None
    return entries or ["none"]


def _link(coll, kind: str, field: str) -> str:
    """A field as the record of processing shows it, with its direction when it works one way only."""
    if (kind, field) in coll.unsearched:
        return f"{field} (search: false)"
    if (kind, field) in coll.unfollowed:
        return f"{field} (follow: false)"
    return field


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in value.items())
    return str(value)


def to_markdown(data: dict[str, Any]) -> str:
    c = data["controller"]
    out = [f"# Record of processing — {c['name']}", "", f"Contact: {c['contact']}", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for row in data["systems"]:
        out.append("| " + " | ".join(_cell(row.get(col)).replace("|", "\\|").replace("\n", " ") for col in COLUMNS) + " |")
    return "\n".join(out) + "\n"


def to_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in data["systems"]:
        writer.writerow([_cell(row.get(col)) for col in COLUMNS])
    return buffer.getvalue()
