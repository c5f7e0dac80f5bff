"""What every command shares: the global state (kept in `state`, which has no typer), option aliases with
named placeholders (SUBJECT, REQUEST_ID, KIND:VALUE, ...), subject parsing, and checking a value against
its choices with a "did you mean"."""

from __future__ import annotations

from typing import Annotated, Iterable, Optional

import typer

from .help import Command, Group, examples  # noqa: F401  (the commands import them from here)
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


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`; did you mean 'X'?` for the closest of `choices`, else ` (one of: A, B, ...)`."""
    import difflib

    choices = list(choices)
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f" (one of: {', '.join(choices)})"


def choice(value: Optional[str], choices: Iterable[str], option: str, what: str) -> Optional[str]:
    """`value` when it is one of `choices` (None passes), else a UsageError naming the option, the value and
    the closest choice (exit 2)."""
    choices = list(choices)
    if value is None or value in choices:
        return value
    from ..errors import UsageError

    raise UsageError(f"{option}: unknown {what} '{value}'{did_you_mean(value, choices)}")


def completer(choices: Iterable[str]):
    """Shell completion of an option's value from `choices`."""
    choices = list(choices)
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RequestOpt = Annotated[Optional[str], typer.Option(
    "--request", "-r", metavar="REQUEST_ID", show_default=False,
    help="Attach this run to request REQUEST_ID (it must name one of the subject's identifiers).")]
IdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--id", metavar="KIND:VALUE", show_default=False,
                 help="Another identifier of the subject, e.g. customer_id:1042 (repeatable)."),
]
SubjectArg = Annotated[str, typer.Argument(
    metavar="SUBJECT", show_default=False,
    help="The subject: an e-mail, +phone, or KIND:VALUE (customer_id:1042).")]
NoExpandOpt = Annotated[bool, typer.Option("--no-expand", help="Search only the identifiers given, do not follow others.")]
ReceivedOpt = Annotated[Optional[str], typer.Option(
    "--received", metavar="DATE", show_default=False,
    help="When no request is given or open: when the request arrived, for the one this run opens (an ISO "
         "date, the start of that day in the controller's zone, or a datetime with offset). Default: now.")]


def parse_received(inventory, received: Optional[str], request: Optional[str]):
    """--received of export/erase as an aware datetime (None when not given); refused with --request, which
    names a request that already has its date."""
    if received is None:
        return None
    if request:
        from ..errors import UsageError

        raise UsageError("--received is the date of the request the run opens; --request names one that "
                         "already has its own")
    from ..requests import parse_when

    return parse_when(received, inventory.controller.timezone)


def tell_request(out, attached: Optional[dict], inventory, received, now) -> None:
    """On stderr: the request a run opened, with its received and due dates (a request opened `today`
    when the e-mail came weeks ago would get the wrong deadline), or that --received was not used."""
    if not attached:
        return
    from .output import local_date

    tz = inventory.controller.timezone
    if attached.get("created"):
        day = local_date((received or now).isoformat(), tz)
        hint = "" if received else " (today; give --received DATE when the request arrived earlier)"
        out.message(f"opened request {attached['id']}, received {day}{hint}, due {attached['due_date']}")
    elif received is not None:
        out.warn(f"--received not used: the run was filed under the subject's open request {attached['id']} "
                 f"(due {attached['due_date']})")
