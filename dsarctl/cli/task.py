"""`dsarctl task list` and `dsarctl task done ID`: manual steps at processors dsarctl cannot reach."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import Command, Group, JsonOpt, choice, completer, examples, state
from ..wording import no_instruction
from .output import Column, Output, local_time, table
from .request import OperatorOpt, operator_name

app = typer.Typer(cls=Group, help="Manual tasks: processors dsarctl cannot reach, confirmed by a person.",
                  epilog=examples(("What is still to do at processors", "dsarctl task list --status open"),
                                  ("Confirm one, with the processor's ticket", "dsarctl task done 3 --note 'GA ticket 81723'")),
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("list", cls=Command, epilog=examples(
    ("Every task, oldest first", "dsarctl task list"),
    ("The open tasks of one request", "dsarctl task list --status open --request R-2026-0001"),
))
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option("--status", metavar="STATUS", show_default=False,
                                                  autocompletion=completer(("open", "done")),
                                                  help="open or done (default: both).")] = None,
    request: Annotated[Optional[str], typer.Option("--request", "-r", metavar="REQUEST_ID", show_default=False,
                                                   help="Only the tasks of request REQUEST_ID.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Manual tasks, oldest first, with who confirmed each one and when."""
    from ..workflows import tasks

    choice(status, ("open", "done"), "--status", "task status")
    inventory = state(ctx).inventory()
    found = tasks(inventory, status=status, request=request)
    tz = inventory.controller.timezone
    Output(json_).emit({"tasks": found}, lambda console, data: _render_list(console, data, tz))


@app.command("done", cls=Command, epilog=examples(
    ("The processor confirmed the deletion", "dsarctl task done 3 --note 'Google Analytics ticket 81723'"),
))
def done(
    ctx: typer.Context,
    id: Annotated[int, typer.Argument(metavar="TASK_ID", help="The task id (see: dsarctl task list).",
                                      show_default=False)],
    note: Annotated[Optional[str], typer.Option(
        "--note", metavar="NOTE", show_default=False, help="What was done (e.g. the processor's ticket number).")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Confirm a manual task was carried out; the log records who confirmed it and when."""
    from ..runs import now
    from ..workflows import confirm_task

    inventory = state(ctx).inventory()
    task = confirm_task(inventory, id, now=now(), operator=operator_name(operator), note=note)
    tz = inventory.controller.timezone
    Output(json_).emit(task, lambda console, t: console.print(
        f"task {t['id']} ({t['system']}, {t['request_id'] or 'no request'}) done: confirmed by "
        f"{t['confirmed_by']} at {local_time(t['confirmed_at'], tz)}", markup=False, highlight=False))


# on a narrow terminal the confirmation goes first, then the processor
_COLUMNS = (Column("id", whole=True), Column("request", whole=True), Column("system", whole=True),
            Column("processor", drop=2), Column("status", whole=True), Column("opened"), Column("confirmed", drop=1))


def _render_list(console, data: dict, tz: str) -> None:
    if not data["tasks"]:
        console.print("No tasks.", markup=False)
        return
    rows = [(str(t["id"]), t["request_id"] or "", t["system"], t["processor"] or "", t["status"],
             local_time(t["created_at"], tz),
             f"{t['confirmed_by']} at {local_time(t['confirmed_at'], tz)}" if t["status"] == "done" else "")
            for t in data["tasks"]]
    table(console, _COLUMNS, rows, styles=["dim" if t["status"] == "done" else None for t in data["tasks"]])
    for t in data["tasks"]:
        if t["status"] == "open":
            what = t.get("instructions") or no_instruction(t.get("request_type"))
            console.print(f"task {t['id']} ({t['system']}): {what}", markup=False, highlight=False)
