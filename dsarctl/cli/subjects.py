"""The subject of find, export and erase: its identifiers from the command line, and the search with
progress on a terminal. Without typer: `dsarctl find` runs without it (see `lookup`)."""

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


def search_with_progress(out, inventory, identifiers, *, expand: bool = True, contents: bool = True):
    """find_subject, showing the collection being searched on stderr when it is a terminal."""
    from ..search import find_subject

    progress = None if out.json_mode else out.progress()
    try:
        return find_subject(inventory, identifiers, expand=expand, progress=progress, contents=contents)
    finally:
        if progress:
            progress(None)
