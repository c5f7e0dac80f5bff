"""`dsarctl overdue`: the morning check. Exit 1 when any request is past due, so cron or a chat alert can
act on the exit code alone. Its body is `morning.run`, which `dsarctl.cli.main` also calls without typer
for the simple argument lines cron uses; this is the command for every other line (help, usage errors)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import morning
from .common import JsonOpt, state

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("overdue")
def overdue(
    ctx: typer.Context,
    within: Annotated[int, typer.Option("--within", metavar="DAYS",
                                        help="Also list requests due within DAYS days.")] = morning.DEFAULT_WITHIN,
    json_: JsonOpt = False,
) -> None:
    """What is late or due soon: overdue requests, due soon, extension notices to send, open manual tasks."""
    code = morning.run(state(ctx), within, json_)
    if code:
        raise typer.Exit(code)
