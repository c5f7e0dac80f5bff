"""`dsarctl audit log` and `dsarctl audit verify`: the event trail and its hash chain."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import ExitStatus
from .common import Command, Group, JsonOpt, examples, state
from .output import Output

app = typer.Typer(cls=Group, help="The audit log: every request, step, run and task, hash-chained.",
                  epilog=examples(("What happened to one request", "dsarctl audit log --request R-2026-0001"),
                                  ("Has anyone edited or deleted an event?", "dsarctl audit verify")),
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("log", cls=Command, epilog=examples(
    ("Every event", "dsarctl audit log"),
    ("One request's trail, for a regulator", "dsarctl audit log --request R-2026-0001 --json"),
))
def log(
    ctx: typer.Context,
    request: Annotated[Optional[str], typer.Option("--request", "-r", metavar="REQUEST_ID", show_default=False,
                                                   help="Only the events of request REQUEST_ID.")] = None,
    json_: JsonOpt = False,
) -> None:
    """The events, oldest first: who did what, when (never the personal data itself)."""
    from ..audit_marker import open_audit
    from ..requests import RequestBook

    inventory = state(ctx).inventory()
    with open_audit(inventory) as audit:
        rid = RequestBook(audit, inventory).get(request)["id"] if request else None
        events = list(audit.events(rid))
    Output(json_).emit({"request": rid, "events": events}, _render_log)


@app.command("verify", cls=Command, epilog=examples(
    ("Check the chain (exit 1 naming each problem when it is broken)", "dsarctl audit verify"),
))
def verify(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Check the hash chain and the tables against it; exit 1 naming each problem when it is broken."""
    from ..audit_marker import open_audit

    inventory = state(ctx).inventory()
    with open_audit(inventory) as audit:
        result = audit.verify()
    data = {"path": str(inventory.audit_path), **result.to_dict()}
    Output(json_).emit(data, _render_verify)
    if not result.ok:
        raise typer.Exit(ExitStatus.NO)


_NO_WRAP = ("id", "seq", "request", "kind", "received", "due", "status")


def _render_log(console, data: dict) -> None:
    from rich.table import Table

    if not data["events"]:
        console.print("No events" + (f" for {data['request']}." if data["request"] else "."), markup=False)
        return
    table = Table(show_edge=False)
    for col in ("seq", "at", "kind", "request", "operator", "details"):
        table.add_column(col, overflow="fold", no_wrap=col in _NO_WRAP)
    for e in data["events"]:
        table.add_row(str(e["seq"]), e["at"], e["kind"], e["request_id"] or "", e["operator"],
                      _details(e["data"]))
    console.print(table)


def _details(data: dict) -> str:
    """The event's data in one line, without the row hash (that is for verify)."""
    parts = []
    for key, value in data.items():
        if key == "row" or value is None:
            continue
        if key == "summary" and isinstance(value, dict):
            systems = value.get("systems") or {}
            shown = ", ".join(f"{name} {s.get('status')} {s.get('count')}" for name, s in systems.items())
            parts.append(f"total {value.get('total')}: {shown}" if systems else "summary recorded")
            continue
        parts.append(f"{key}={value}")
    return "; ".join(parts)


def _render_verify(console, data: dict) -> None:
    def line(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    if data["ok"]:
        line(f"{data['path']}: OK, {data['checked']} events checked, the chain is intact.")
    else:
        line(f"{data['path']}: BROKEN, {len(data['problems'])} problem(s) in {data['checked']} events:",
             "bold red")
        for problem in data["problems"]:
            line(f"  {problem}", "red")
    line(f"head: event {data['head_seq']} {data['head_hash']} "
         "(keep a copy elsewhere to detect a rewrite of the whole file)")
