"""What every command shares: the global state (kept in `state`, which has no typer), option aliases, subject
parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .state import State, clock  # noqa: F401  (the commands import both from here)

if TYPE_CHECKING:
    from ..identity import Identifier
    from ..inventory import Inventory


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = State()
    return root.obj


def request_book(ctx: typer.Context, *, settings_only: bool = False):
    """The RequestBook of the command's inventory (see `State.request_book`)."""
    return state(ctx).request_book(settings_only=settings_only)


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
