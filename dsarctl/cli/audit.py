"""`dsarctl audit log` and `dsarctl audit verify`: the event trail and its hash chain."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import ExitStatus
from ..wording import plural
from .common import Command, Group, JsonOpt, examples, state
from .output import Output

app = typer.Typer(cls=Group, help="The audit log: every request, step, run and task, hash-chained.",
                  epilog=examples(("What happened to one request", "dsarctl audit log --request R-2026-0001"),
                                  ("Has anyone edited or deleted an event?", "dsarctl audit verify")),
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("log", cls=Command, epilog=examples(
    ("Every event", "dsarctl audit log"),
    ("One request's trail, for a regulator", "dsarctl audit log --request R-2026-0001 --json"),
    ("The 20 most recent events, newest first", "dsarctl audit log --newest-first --limit 20"),
    ("What happened since Monday (the controller's local day)", "dsarctl audit log --since 2026-11-30"),
))
def log(
    ctx: typer.Context,
    request: Annotated[Optional[str], typer.Option("--request", "-r", metavar="REQUEST_ID", show_default=False,
                                                   help="Only the events of request REQUEST_ID.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="DATE", show_default=False,
        help="Only events from DATE on: an ISO date (the controller's local day) or datetime.")] = None,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", "-n", metavar="N", min=1, show_default=False,
        help="Only the N most recent events (of those the other options select).")] = None,
    newest_first: Annotated[bool, typer.Option(
        "--newest-first", help="The most recent event first (default: oldest first, as they were written).")] = False,
    json_: JsonOpt = False,
) -> None:
    """The events, oldest first: when, what, which request, who, and the counts (never the personal data)."""
    from ..audit import utc_iso
    from ..audit_marker import open_audit
    from ..requests import RequestBook, parse_when

    inventory = state(ctx).inventory()
    zone = inventory.controller.timezone
    start = utc_iso(_since(since, zone, parse_when)) if since else None
    with open_audit(inventory) as audit:
        rid = RequestBook(audit, inventory).get(request)["id"] if request else None
        events = list(audit.events(rid, since=start, limit=limit, newest_first=newest_first))
        subjects = {} if json_ else audit.request_subjects(e["request_id"] for e in events)
    Output(json_).emit({"request": rid, "events": events},
                       lambda console, data: _render_log(console, data, zone, subjects))


def _since(text: str, zone: str, parse_when):
    """--since as an aware datetime: a date is the start of that day in the controller's zone."""
    from ..errors import UsageError

    try:
        return parse_when(text, zone)
    except UsageError:
        raise UsageError(f"--since: '{text}' is not an ISO date (2026-11-20) or datetime "
                         "(2026-11-20T14:30+01:00)") from None


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


def _render_log(console, data: dict, zone: str, subjects: dict[str, str]) -> None:
    """One line per event, never wrapped off a terminal (grep and cron mail read it; on one, wrapped between
    words with the continuation indented):
    `2026-10-01 14:02 BST (UTC+01:00)  run.erase  R-2026-0012 alice@example.com  by ops  3 deleted, 1 kept`."""
    from .events import describe
    from .output import local_time

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, hang=4)

    events = data["events"]
    if not events:
        line("No events" + (f" for {data['request']}." if data["request"] else "."))
        return
    width = max(len(e["kind"]) for e in events)
    for e in events:
        rid = e["request_id"]
        about = f"{rid} {subjects[rid]}" if rid in subjects else (rid or "-")
        line(f"{local_time(e['at'], zone)}  {e['kind']:<{width}}  {about}  by {e['operator']}  {describe(e, zone)}".rstrip())


def _render_verify(console, data: dict) -> None:
    def line(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    if data["ok"]:
        line(f"{data['path']}: OK, {plural(data['checked'], 'event')} checked, the chain is intact.")
    else:
        line(f"{data['path']}: BROKEN, {plural(len(data['problems']), 'problem')} in "
             f"{plural(data['checked'], 'event')}:",
             "bold red")
        for problem in data["problems"]:
            line(f"  {problem}", "red")
    line(f"head: event {data['head_seq']} {data['head_hash']} "
         "(keep a copy elsewhere to detect a rewrite of the whole file)")
