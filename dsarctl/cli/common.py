"""What every command shares: the global state (kept in `state`, which has no typer), option aliases, subject
parsing."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .state import State, clock  # noqa: F401  (the commands import both from here)
from .subjects import subject_identifiers  # noqa: F401  (likewise)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = State()
    return root.obj


def request_book(ctx: typer.Context, *, settings_only: bool = False, create: bool = False):
    """The RequestBook of the command's inventory (see `State.request_book`)."""
    return state(ctx).request_book(settings_only=settings_only, create=create)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RequestOpt = Annotated[Optional[str], typer.Option(
    "--request", "-r", help="Attach this run to request ID (it must name one of the subject's identifiers).")]
IdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--id", help="Another identifier of the subject, KIND:VALUE (repeatable)."),
]
SubjectArg = Annotated[str, typer.Argument(help="The subject: an e-mail, +phone, or KIND:VALUE (customer_id:1042).")]
NoExpandOpt = Annotated[bool, typer.Option("--no-expand", help="Search only the identifiers given, do not follow others.")]
