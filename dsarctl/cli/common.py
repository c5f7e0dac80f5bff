"""What every command shares: the global state, option aliases, subject parsing."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer

if TYPE_CHECKING:
    from ..identity import Identifier
    from ..inventory import Inventory


@dataclass
class State:
    inventory_path: Optional[Path] = None
    _inventory: "Inventory | None" = None

    def inventory(self) -> "Inventory":
        if self._inventory is None:
            from ..inventory import load_inventory

            self._inventory = load_inventory(self.inventory_path)
        return self._inventory

    def settings(self) -> "Inventory":
        """The inventory's settings only (controller, audit): see `inventory.load_settings`."""
        if self._inventory is not None:
            return self._inventory
        from ..inventory.loader import load_settings

        return load_settings(self.inventory_path)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = State()
    return root.obj


@contextmanager
def request_book(ctx: typer.Context, *, settings_only: bool = False) -> Iterator:
    """The inventory's RequestBook, with the audit log closed afterwards. `settings_only` reads only the
    inventory's controller and audit settings (for commands that never touch a source)."""
    from ..audit import AuditLog
    from ..requests import RequestBook

    inventory = state(ctx).settings() if settings_only else state(ctx).inventory()
    with AuditLog.open(inventory.audit_path) as log:
        yield RequestBook(log, inventory)


def clock(book) -> tuple:
    """(now, today in the controller's zone): the only place the request commands read the clock."""
    from zoneinfo import ZoneInfo

    from ..runs import now

    at = now()  # the zone was checked when the inventory was loaded
    return at, at.astimezone(ZoneInfo(book.inventory.controller.timezone)).date()


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RequestOpt = Annotated[Optional[str], typer.Option("--request", "-r", help="Attach this run to request ID.")]
IdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--id", help="Another identifier of the subject, KIND:VALUE (repeatable)."),
]
SubjectArg = Annotated[str, typer.Argument(help="The subject: an e-mail, +phone, or KIND:VALUE (customer_id:1042).")]


def subject_identifiers(inventory: "Inventory", subject: str, ids: Optional[list[str]]) -> "list[Identifier]":
    from ..identity import parse_identifier

    found = [parse_identifier(subject, inventory.identities)]
    for extra in ids or []:
        found.append(parse_identifier(extra, inventory.identities))
    return list(dict.fromkeys(found))


NoExpandOpt = Annotated[bool, typer.Option("--no-expand", help="Search only the identifiers given, do not follow others.")]


def search_with_progress(out, inventory, identifiers, *, expand: bool = True, contents: bool = True):
    """find_subject, showing the collection being searched on stderr when it is a terminal."""
    from ..search import find_subject

    progress = None if out.json_mode else out.progress()
    try:
        return find_subject(inventory, identifiers, expand=expand, progress=progress, contents=contents)
    finally:
        if progress:
            progress(None)
