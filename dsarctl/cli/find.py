"""`dsarctl find SUBJECT` (the body, shared with the path without typer, is `lookup.run`)."""

from __future__ import annotations


import typer

from .common import Command, IdOpt, JsonOpt, NoExpandOpt, RequestOpt, SubjectArg, examples, state
from .lookup import run


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("find", cls=Command, epilog=examples(
    ("Where a person's data is, following the identifiers found (e-mail -> customer id -> orders)",
     "dsarctl find alice@example.com"),
    ("Only the identifiers given, no expansion", "dsarctl find customer_id:1042 --no-expand"),
    ("As JSON, recorded under a request", "dsarctl find alice@example.com --request R-2026-0001 --json"),
))
def find(
    ctx: typer.Context,
    subject: SubjectArg,
    ids: IdOpt = None,
    no_expand: NoExpandOpt = False,
    request: RequestOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Where the subject's data is: per system and collection, the records and how they were reached."""
    code = run(state(ctx), subject, ids, no_expand, request, json_)
    if code:
        raise typer.Exit(code)
