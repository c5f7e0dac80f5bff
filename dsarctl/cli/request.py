"""`dsarctl request …`: open a data subject request and walk it through its lifecycle.

`request new` calls `workflows.open_request`; each other command opens the requests (`requests.request_book`),
calls one `RequestBook` method and hands the request (a plain dict) to the output layer. The clock is read
here only (`dsarctl.runs.now`, which honours DSARCTL_NOW).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..deadlines import US_STATES
from .common import IdOpt, JsonOpt, SubjectArg, clock, request_book, state
from .output import Output

app = typer.Typer(
    help="Open data subject requests and record each step: verify, pause, resume, extend, close, deny.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

IdArg = Annotated[str, typer.Argument(help="The request id (R-2026-0001; case-insensitive).",
                                      show_default=False)]
NoteOpt = Annotated[Optional[str], typer.Option("--note", show_default=False, help="A note for the record.")]
OperatorOpt = Annotated[
    Optional[str],
    typer.Option("--operator", help="Who is acting, recorded in the audit log "
                                    "(default $DSARCTL_OPERATOR, else the login user).", show_default=False),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log: keep it factual).",
                                        show_default=False)]


def operator_name(operator: Optional[str]) -> str:
    from ..errors import UsageError
    from ..requests import default_operator

    if operator is None:
        return default_operator()
    if not operator.strip():
        raise UsageError("--operator must not be empty")
    return operator.strip()


# --- commands -------------------------------------------------------------------------------------------


@app.command("new")
def new(
    ctx: typer.Context,
    subject: SubjectArg,
    type_: Annotated[str, typer.Option(
        "--type", "-t", show_default=False,
        help="access, erasure, rectification, restriction, objection, portability, or appeal "
             "(of a refused request: with --appeal-of).")],
    received: Annotated[Optional[str], typer.Option(
        "--received", show_default=False,
        help="When it arrived: an ISO date (the start of that day in the controller's zone) or datetime "
             "with offset. Default: now.")] = None,
    regime: Annotated[Optional[str], typer.Option(
        "--regime", show_default=False,
        help="The law that applies: eu-gdpr, uk-gdpr, us-ca, us-XX for a US state by postal code "
             f"(XX: {', '.join(r[3:] for r in US_STATES)}), br-lgpd, ca-pipeda, ca-qc, ch-fadp or custom "
             "(default: controller.regime; an appeal takes the regime of the request it appeals).")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", show_default=False, help="How it arrived (email, web form, letter…).")] = None,
    note: NoteOpt = None,
    appeal_of: Annotated[Optional[str], typer.Option(
        "--appeal-of", show_default=False,
        help="For --type appeal: the id of the refused (denied) request of the same subject it appeals; "
             "due within the regime's appeal period.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", show_default=False,
        help="For a us-ca access request: the date (ISO) the subject asks the answer to reach back to, "
             "not before 2022-01-01 (Cal. Civ. Code §1798.130(a)(2)(B)).")] = None,
    allow_duplicate: Annotated[bool, typer.Option(
        "--allow-duplicate",
        help="Open it even when the subject has an open request of the same type (without a terminal to "
             "ask on, such a likely duplicate is refused otherwise).")] = False,
    ids: IdOpt = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Open a request; prints its id and due date. A likely duplicate (an open request of the same type
    for one of the subject's identifiers) is asked about on a terminal, refused without one."""
    from ..requests import parse_date, parse_when
    from ..runs import now
    from ..workflows import open_request
    from .common import subject_identifiers

    inventory = state(ctx).inventory()
    at = now()
    received_at = at if received is None else parse_when(received, inventory.controller.timezone)
    r = open_request(inventory, subject_identifiers(inventory, subject, ids), type_, received=received_at,
                     regime=regime, channel=channel, note=note, appeal_of=appeal_of,
                     since=parse_date(since, "--since") if since else None,
                     operator=operator_name(operator), now=at, allow_duplicate=allow_duplicate,
                     confirm_duplicate=_ask_duplicate)
    Output(json_).emit(r, lambda console, d: _line(
        console, f"Opened {d['id']} ({d['type']}{' of ' + d['appeal_of'] if d.get('appeal_of') else ''}, "
                 f"{d['regime']}) for {d['subject']}: due {d['due_date']}" + _extras(d)))


def _ask_duplicate(other: dict) -> bool:
    """On a terminal, ask whether to open a request although `other` is open (no: exit 1, nothing opened);
    without one, say no (the workflow refuses, exit 2)."""
    import sys

    if not sys.stdin.isatty():
        return False
    question = (f"{other['subject']} already has an open {other['type']} request: {other['id']} (received "
                f"{other['received_at'][:10]}, due {other['due_date']}). Open another anyway?")
    if not typer.confirm(question, default=False, err=True):
        typer.echo(f"Not opened: {other['id']} stays the open request.", err=True)
        raise typer.Exit(1)
    return True


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(
        "--status", show_default=False,
        help="Only this status: open, verified, paused, closed, denied, or active "
             "(the first three).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Every request (or those with --status), oldest id first."""
    with request_book(ctx) as book:
        _, today = clock(book)
        rows = book.list(status, today=today)
    Output(json_).emit({"requests": rows}, _render_list)


@app.command("show")
def show(
    ctx: typer.Context,
    id: IdArg,
    explain: Annotated[bool, typer.Option("--explain",
                                          help="Show each step of the deadline computation.")] = False,
    json_: JsonOpt = False,
) -> None:
    """One request, with its runs, manual tasks and letters; with --explain, how its due date was computed."""
    with request_book(ctx) as book:
        _, today = clock(book)
        r = book.get(id, today=today)
        if explain:
            r["explain"] = book.explain(id, today)
        r.update(book.history(id))
        zone = book.inventory.controller.timezone
    Output(json_).emit(r, lambda console, d: _render_show_and_history(console, d, zone))


@app.command("verify")
def verify(
    ctx: typer.Context,
    id: IdArg,
    match: Annotated[Optional[list[str]], typer.Option(
        "--match", show_default=False,
        help="A data point the requester gave, KEY=VALUE (repeatable): an identity kind (phone=…, "
             "order_id=…), postcode=…, or a record field (FIELD, COLLECTION.FIELD). Compared with the records "
             "found for the subject; only keyed hashes of the values are kept.")] = None,
    minimum: Annotated[Optional[int], typer.Option(
        "--min", show_default=False,
        help="With --match: how many data points must match, not counting e-mail addresses and the request's "
             "own identifiers (any mismatch fails). Default 1; under us-ca 3 for access and portability, 2 "
             "for other requests (11 CCR §7062).")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", show_default=False,
        help="How the identity was checked (e.g. 'reply from account email'); without --match, "
             "the identity was verified by these other means.")] = None,
    received: Annotated[Optional[str], typer.Option(
        "--received", show_default=False,
        help="When the information that confirms the identity arrived (ISO date or datetime; default now): "
             "under uk-gdpr the clock starts again that day.")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record that the subject's identity is verified, or check it with --match against the records held
    (exit 1 when they do not verify it; 3 when not verified and a source could not be read). Under uk-gdpr
    the clock starts again on the day the confirming information arrived."""
    from ..requests import parse_when

    when = parse_when(received, state(ctx).settings().controller.timezone) if received else None
    if not match:
        _change(ctx, json_, "verified",
                lambda book, at, who: book.verify(id, method, received=when, operator=who, now=at), operator)
        return
    from ..runs import now
    from ..verification import parse_points
    from ..workflows import verify_identity

    out = Output(json_)
    points = parse_points(match)
    result = verify_identity(state(ctx).inventory(), id, points, now=now(), operator=operator_name(operator),
                             minimum=minimum, method=method, received=when,
                             progress=None if json_ else out.progress())
    out.emit(result.to_dict(), _render_verification)
    for system, collection, error in result.failures:
        out.message(f"failed: {system}.{collection}: {error} (not compared)", style="red")
    if not result.verified:  # a source that could not be read may hold what did not match: exit 3 then
        raise typer.Exit(3 if result.failures else 1)


@app.command("pause")
def pause(ctx: typer.Context, id: IdArg, reason: ReasonOpt,
          ground: Annotated[Optional[str], typer.Option(
              "--ground", show_default=False,
              help="Why the clock stops (UK GDPR Art. 12A): identity, clarification or fee; "
                   "named in --explain.")] = None,
          operator: OperatorOpt = None, json_: JsonOpt = False) -> None:
    """Stop the clock while waiting for the subject (ID, clarification), where the regime allows it."""
    _change(ctx, json_, "paused",
            lambda book, at, who: book.pause(id, reason, operator=who, now=at, ground=ground), operator)


@app.command("resume")
def resume(
    ctx: typer.Context,
    id: IdArg,
    note: NoteOpt = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Restart the clock of a paused request; the paused days (both ends) move the due date."""
    _change(ctx, json_, "resumed",
            lambda book, at, who: book.resume(id, operator=who, now=at, note=note), operator)


@app.command("extend")
def extend(
    ctx: typer.Context,
    id: IdArg,
    reason: ReasonOpt,
    late: Annotated[bool, typer.Option(
        "--late",
        help="Record an extension the subject was told of in time but that is entered only now.")] = False,
    notified_on: Annotated[Optional[str], typer.Option(
        "--notified-on", show_default=False,
        help="The date (ISO) the subject was told of the extension another way than `dsarctl letter --kind "
             "extend` (phone, a letter from another system); where the law demands that notice, one or the "
             "other is required.")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Extend the deadline where the regime allows it (once; tell the subject first, with the reasons)."""
    from ..requests import parse_date

    told = parse_date(notified_on, "--notified-on") if notified_on is not None else None
    _change(ctx, json_, "extended",
            lambda book, at, who: book.extend(id, reason, operator=who, now=at, allow_late=late,
                                              notified_on=told), operator)


@app.command("close")
def close(
    ctx: typer.Context,
    id: IdArg,
    note: Annotated[Optional[str], typer.Option("--note", show_default=False,
                                                help="How it was answered.")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Close an answered request."""
    _change(ctx, json_, "closed", lambda book, at, who: book.close(id, note, operator=who, now=at), operator)


@app.command("deny")
def deny(ctx: typer.Context, id: IdArg, reason: ReasonOpt, operator: OperatorOpt = None,
         json_: JsonOpt = False) -> None:
    """Refuse a request, with the reason (e.g. identity not proven, manifestly unfounded)."""
    _change(ctx, json_, "denied", lambda book, at, who: book.deny(id, reason, operator=who, now=at), operator)


def _change(ctx, json_: bool, verb: str, action, operator: Optional[str]) -> None:
    with request_book(ctx) as book:
        at, _ = clock(book)
        r = action(book, at, operator_name(operator))
    Output(json_).emit(r, lambda console, d: _line(
        console, f"{d['id']} {verb}: {d['status']}, due {d['due_date']}" + _extras(d)))


# --- rendering ------------------------------------------------------------------------------------------


_OUTCOMES = {"matched": "matched", "mismatched": "DID NOT MATCH", "absent": "not in the records found"}


def _render_verification(console, d: dict) -> None:
    r = d["request"]
    for c in d["checks"]:
        where = f" ({', '.join(c['where'])})" if c["where"] else ""
        note = "" if c["counts"] or c["outcome"] != "matched" else " (does not count: known from the request itself)"
        _line(console, f"  {c['key']}: {_OUTCOMES[c['outcome']]}{where}{note}")
    if d["verified"]:
        _line(console, f"{r['id']} verified ({d['why']}): {r['status']}, due {r['due_date']}" + _extras(r))
    else:
        _line(console, f"{r['id']} NOT verified: {d['why']}; the request stays {r['status']}, due {r['due_date']}")


def _line(console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _extras(d: dict) -> str:
    parts = []
    if d["status"] in ("closed", "denied"):
        return ""
    if d.get("extended"):
        parts.append("extended")
    elif d.get("extension_notice_due"):
        parts.append(f"any extension to be notified by {d['extension_notice_due']}")
    if d.get("confirm_receipt_due"):
        parts.append(f"confirm receipt by {d['confirm_receipt_due']}")
    return f" ({'; '.join(parts)})" if parts else ""


_FIELDS = (
    ("subject", "Subject"), ("identifiers", "Identifiers"), ("type", "Type"), ("status", "Status"),
    ("regime", "Regime"), ("received_at", "Received"), ("due_date", "Due"), ("extended", "Extended"),
    ("extension_notice_due", "Extension notice by"), ("confirm_receipt_due", "Confirm receipt by"),
    ("verified_at", "Verified"), ("verify_method", "Verified how"), ("pauses", "Pauses"),
    ("channel", "Channel"), ("note", "Note"), ("extension_reason", "Extension reason"),
    ("closed_at", "Closed"), ("outcome", "Outcome"), ("appeal_of", "Appeal of"), ("since", "Since"),
    ("created_at", "Entered"), ("created_by", "Entered by"),
)


def _render_show(console, d: dict) -> None:
    _line(console, d["id"])
    for key, label in _FIELDS:
        value = d.get(key)
        if value is None or value == [] or (key == "extended" and not value):
            continue
        if key == "identifiers":
            value = ", ".join(value)
        elif key == "pauses":
            value = "; ".join(f"{p['start']} to {p['end'] or '(ongoing)'}"
                              + (f" ({p['ground']})" if p.get("ground") else "") for p in value)
        elif key == "extended":
            value = "yes"
        _line(console, f"  {label + ':':<21} {value}")
    if "explain" in d:
        _line(console, "")
        _line(console, "How the due date was computed:")
        for step in d["explain"]:
            _line(console, f"  {step}")


def _render_show_and_history(console, d: dict, zone: str) -> None:
    _render_show(console, d)
    _render_history(console, d, zone)


def _render_history(console, d: dict, zone: str) -> None:
    """The request's runs, tasks and letters, one line each (never wrapped)."""
    from .events import describe, describe_run, local_time

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    line("")
    line("Runs:" if d["runs"] else "Runs: none")
    for run in d["runs"]:
        line(f"  {local_time(run['at'], zone)}  {run['kind']:<6}  by {run['operator']}  "
             f"{describe_run(run['kind'], run['summary'])}")
    line("Manual tasks:" if d["tasks"] else "Manual tasks: none")
    for t in d["tasks"]:
        who = f"{t['system']}" + (f" ({t['processor']})" if t["processor"] else "")
        if t["status"] == "done":
            state = f"done: confirmed by {t['confirmed_by']} at {local_time(t['confirmed_at'], zone)}"
        else:
            state = f"open since {local_time(t['created_at'], zone)}; confirm with: dsarctl task done {t['id']}"
        line(f"  task {t['id']}  {who}  {state}")
    line("Letters:" if d["letters"] else "Letters: none")
    for e in d["letters"]:
        line(f"  {local_time(e['at'], zone)}  {e['kind']}  by {e['operator']}  {describe(e, zone)}".rstrip())


_NO_WRAP = ("id", "seq", "request", "kind", "received", "due", "status")


def _render_list(console, data: dict) -> None:
    from rich.table import Table

    rows = data["requests"]
    if not rows:
        _line(console, "No requests.")
        return
    table = Table(show_edge=False, title_justify="left")
    for col in ("id", "subject", "type", "status", "regime", "received", "due"):
        table.add_column(col, overflow="fold", no_wrap=col in _NO_WRAP)
    for r in rows:
        table.add_row(r["id"], r["subject"], r["type"], r["status"], r["regime"], r["received_at"][:10],
                      r["due_date"] + (" (extended)" if r["extended"] else ""),
                      style="dim" if r["status"] in ("closed", "denied") else None)
    console.print(table)
