"""The subject of find, export and erase: its identifiers from the command line. Without typer: `dsarctl find`
runs without it (see `lookup`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..identity import Identifier
    from ..inventory import Inventory


def subject_identifiers(inventory: "Inventory", subject: str, ids: Optional[list[str]]) -> "list[Identifier]":
    from ..identity import parse_identifier

    found = [parse_identifier(subject, inventory.identities)]
    for extra in ids or []:
        found.append(parse_identifier(extra, inventory.identities))
    return list(dict.fromkeys(found))

