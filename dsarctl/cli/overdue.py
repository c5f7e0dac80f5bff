"""`dsarctl overdue`: the morning check. Exit 1 when any request is past due, so cron or a chat alert can
act on the exit code alone. Kept light (no connector or database-driver imports): it runs often."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import ExitStatus
from .common import JsonOpt
from .output import Output


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("overdue")
def overdue(
    ctx: typer.Context,
    within: Annotated[int, typer.Option("--within", metavar="DAYS",
                                        help="Also list requests due within DAYS days.")] = 7,
    json_: JsonOpt = False,
) -> None:
    """What is late or due soon: overdue requests, due soon, extension notices to send, open manual tasks."""
    from .common import clock, request_book

    with request_book(ctx, settings_only=True) as book:
        _, today = clock(book)
        report = book.overdue(today, within=within)
    Output(json_).emit(report, render_overdue)
    if report["overdue"]:
        raise typer.Exit(ExitStatus.NO)


def render_overdue(console, data: dict) -> None:
    def line(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    quiet = True
    if data["overdue"]:
        quiet = False
        line(f"Overdue ({len(data['overdue'])}):", "bold red")
        for r in data["overdue"]:
            days = r["days_overdue"]
            line(f"  {r['id']}  {r['type']:<13} {r['subject']}  due {r['due_date']}, "
                 f"{days} day{'s' if days != 1 else ''} overdue ({r['status']}, {r['regime']})", "red")
    if data["due_soon"]:
        quiet = False
        line(f"Due within {data['within']} days ({len(data['due_soon'])}):", "bold")
        for r in data["due_soon"]:
            left = -r["days_overdue"]
            when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
            line(f"  {r['id']}  {r['type']:<13} {r['subject']}  due {r['due_date']} ({when}; "
                 f"{r['status']}, {r['regime']})")
    if data["extension_notices"]:
        quiet = False
        line(f"Extension notices ({len(data['extension_notices'])}): "
             "to extend, tell the subject, with reasons, by", "bold")
        for r in data["extension_notices"]:
            left = r["days_left"]
            when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
            line(f"  {r['id']}  {r['extension_notice_due']} ({when}); due {r['due_date']} unless extended")
    if data["open_tasks"]:
        quiet = False
        line(f"Open manual tasks ({len(data['open_tasks'])}):", "bold")
        for t in data["open_tasks"]:
            due = f", request due {t['request_due_date']}" if t.get("request_due_date") else ""
            line(f"  task {t['id']}  {t['system']} ({t['processor'] or 'no processor named'}) "
                 f"for {t['request_id'] or 'no request'}{due}  — confirm with: dsarctl task done {t['id']}")
    if quiet:
        line(f"Nothing overdue or due within {data['within']} days; no open tasks.")
