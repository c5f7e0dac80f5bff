"""`dsarctl task list` and `dsarctl task done ID`: manual steps at processors dsarctl cannot reach."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .common import JsonOpt, state
from .output import Output
from .request import OperatorOpt, operator_name

app = typer.Typer(help="Manual tasks: processors dsarctl cannot reach, confirmed by a person.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option("--status", show_default=False,
                                                  help="open or done (default: both).")] = None,
    request: Annotated[Optional[str], typer.Option("--request", "-r", show_default=False,
                                                   help="Only the tasks of request ID.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Manual tasks, oldest first, with who confirmed each one and when."""
    from ..workflows import tasks

    if status is not None and status not in ("open", "done"):
        raise UsageError(f"unknown task status '{status}' (one of: open, done)")
    found = tasks(state(ctx).inventory(), status=status, request=request)
    Output(json_).emit({"tasks": found}, _render_list)


@app.command("done")
def done(
    ctx: typer.Context,
    id: Annotated[int, typer.Argument(help="The task id (see: dsarctl task list).", show_default=False)],
    note: Annotated[Optional[str], typer.Option(
        "--note", show_default=False, help="What was done (e.g. the processor's ticket number).")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Confirm a manual task was carried out; the log records who confirmed it and when."""
    from ..runs import now
    from ..workflows import confirm_task

    task = confirm_task(state(ctx).inventory(), id, now=now(), operator=operator_name(operator), note=note)
    Output(json_).emit(task, lambda console, t: console.print(
        f"task {t['id']} ({t['system']}, {t['request_id'] or 'no request'}) done: confirmed by "
        f"{t['confirmed_by']} at {t['confirmed_at']}", markup=False, highlight=False))


_NO_WRAP = ("id", "seq", "request", "kind", "received", "due", "status")


def _render_list(console, data: dict) -> None:
    from rich.table import Table

    if not data["tasks"]:
        console.print("No tasks.", markup=False)
        return
    table = Table(show_edge=False)
    for col in ("id", "request", "system", "processor", "status", "opened", "confirmed"):
        table.add_column(col, overflow="fold", no_wrap=col in _NO_WRAP)
    for t in data["tasks"]:
        confirmed = f"{t['confirmed_by']} at {t['confirmed_at']}" if t["status"] == "done" else ""
        table.add_row(str(t["id"]), t["request_id"] or "", t["system"], t["processor"] or "", t["status"],
                      t["created_at"], confirmed, style="dim" if t["status"] == "done" else None)
    console.print(table)
    for t in data["tasks"]:
        if t["status"] == "open" and t.get("instructions"):
            console.print(f"task {t['id']} ({t['system']}): {t['instructions']}",
                          markup=False, highlight=False)
