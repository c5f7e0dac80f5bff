"""`dsarctl overdue`: the morning check. Exit 1 when any request is past due, so cron or a chat alert can
act on the exit code alone. Its body is `morning.run`, which `dsarctl.cli.main` also calls without typer
for the simple argument lines cron uses; this is the command for every other line (help, usage errors)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import morning
from .common import Command, JsonOpt, examples, state

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("overdue", cls=Command, epilog=examples(
    ("What needs attention today (exit 1 when anything is overdue)", "dsarctl overdue"),
    ("Also what is due within the next 14 days", "dsarctl overdue --within 14"),
    ("Cron: mail the list only when something is late", "dsarctl overdue > /tmp/dsar.txt || mail -s 'DSAR overdue' privacy@example.com < /tmp/dsar.txt"),
))
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
