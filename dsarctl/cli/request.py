"""`dsarctl request …`: open a data subject request and walk it through its lifecycle.

`request new` calls `workflows.open_request`; each other command opens the requests (`requests.request_book`),
calls one `RequestBook` method and hands the request (a plain dict) to the output layer. The clock is read
here only (`dsarctl.runs.now`, which honours DSARCTL_NOW).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..deadlines import PAUSE_GROUNDS, REGIME_IDS, REQUEST_TYPES, US_STATES
from ..errors import ExitStatus
from .common import (Command, Group, IdOpt, JsonOpt, SubjectArg, choice, clock, completer, examples, request_book,
                     state)
from .output import Column, Output, local_date, local_time, table

app = typer.Typer(
    cls=Group,
    help="Open data subject requests and record each step: verify, pause, resume, extend, close, deny.",
    epilog=examples(
        ("Open a request that arrived by e-mail on 1 October",
         "dsarctl request new carol@example.com --type access --received 2026-10-01"),
        ("Every request still open, then how one's due date was computed",
         "dsarctl request list --status active"),
        ("", "dsarctl request show R-2026-0001 --explain"),
        ("Close it once answered", "dsarctl request close R-2026-0001 --note 'package sent'"),
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

IdArg = Annotated[str, typer.Argument(metavar="REQUEST_ID", help="The request id (R-2026-0001; case-insensitive).",
                                      show_default=False)]
NoteOpt = Annotated[Optional[str], typer.Option("--note", metavar="NOTE", show_default=False,
                                                help="A note for the record.")]
OperatorOpt = Annotated[
    Optional[str],
    typer.Option("--operator", metavar="NAME", help="Who is acting, recorded in the audit log "
                                    "(default $DSARCTL_OPERATOR, else the login user).", show_default=False),
]
ReasonOpt = Annotated[str, typer.Option("--reason", metavar="REASON", help="Why (kept in the audit log: keep it factual).",
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


@app.command("new", cls=Command, epilog=examples(
    ("An access request that arrived by e-mail on 1 October",
     "dsarctl request new carol@example.com --type access --received 2026-10-01 --channel email"),
    ("An erasure request received now, under another law", "dsarctl request new +447700900123 --type erasure --regime eu-gdpr"),
    ("By customer id, with the e-mail as a second identifier",
     "dsarctl request new customer_id:1042 --id email:alice@example.com --type access"),
    ("She wrote again: open a second access request although the first is still open",
     "dsarctl request new alice@example.com --type access --allow-duplicate"),
))
def new(
    ctx: typer.Context,
    subject: SubjectArg,
    type_: Annotated[str, typer.Option(
        "--type", "-t", metavar="TYPE", show_default=False, autocompletion=completer(REQUEST_TYPES),
        help="access, erasure, rectification, restriction, objection, portability, or appeal "
             "(of a refused request: with --appeal-of).")],
    received: Annotated[Optional[str], typer.Option(
        "--received", metavar="DATE", show_default=False,
        help="When it arrived: an ISO date (the start of that day in the controller's zone) or datetime "
             "with offset. Default: now.")] = None,
    regime: Annotated[Optional[str], typer.Option(
        "--regime", metavar="REGIME", show_default=False, autocompletion=completer(REGIME_IDS),
        help="The law that applies: eu-gdpr, uk-gdpr, us-ca, us-XX for a US state by postal code "
             f"(XX: {', '.join(r[3:] for r in US_STATES)}), br-lgpd, ca-pipeda, ca-qc, ch-fadp or custom "
             "(default: controller.regime; an appeal takes the regime of the request it appeals).")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", metavar="CHANNEL", show_default=False, help="How it arrived (email, web form, letter…).")] = None,
    note: NoteOpt = None,
    appeal_of: Annotated[Optional[str], typer.Option(
        "--appeal-of", metavar="REQUEST_ID", show_default=False,
        help="For --type appeal: the id of the refused (denied) request of the same subject it appeals; "
             "due within the regime's appeal period.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="DATE", show_default=False,
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

    choice(type_, REQUEST_TYPES, "--type", "request type")
    choice(regime, REGIME_IDS, "--regime", "regime")
    inventory = state(ctx).inventory()
    at = now()
    received_at = at if received is None else parse_when(received, inventory.controller.timezone)
    r = open_request(inventory, subject_identifiers(inventory, subject, ids), type_, received=received_at,
                     regime=regime, channel=channel, note=note, appeal_of=appeal_of,
                     since=parse_date(since, "--since") if since else None,
                     operator=operator_name(operator), now=at, allow_duplicate=allow_duplicate,
                     confirm_duplicate=_ask_duplicate(inventory.controller.timezone))
    Output(json_).emit(r, lambda console, d: _line(
        console, f"Opened {d['id']} ({d['type']}{' of ' + d['appeal_of'] if d.get('appeal_of') else ''}, "
                 f"{d['regime']}) for {d['subject']}: due {d['due_date']}" + _extras(d)))


def _ask_duplicate(tz: str):
    """The duplicate check's `confirm`: on a terminal, ask whether to open a request although `other` is
    open (no, Enter or Ctrl-D: "Not opened: R-… stays the open request.", exit 1; Ctrl-C: exit 130); without
    one, say no (the workflow refuses, exit 2)."""
    import sys

    def ask(other: dict) -> bool:
        if not sys.stdin.isatty():
            return False
        question = (f"{other['subject']} already has an open {other['type']} request: {other['id']} (received "
                    f"{local_date(other['received_at'], tz)}, due {other['due_date']}). Open another anyway?")
        if not Output().confirm(question):
            Output().message(f"Not opened: {other['id']} stays the open request.")
            raise typer.Exit(ExitStatus.NO)
        return True

    return ask


@app.command("list", cls=Command, epilog=examples(
    ("Every request, oldest first", "dsarctl request list"),
    ("Only those still being worked on, as JSON for a script", "dsarctl request list --status active --json"),
    ("Piped, one tab-separated line per request", "dsarctl request list | grep alice@example.com"),
))
def list_(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(
        "--status", metavar="STATUS", show_default=False,
        autocompletion=completer(("active", "open", "verified", "paused", "closed", "denied")),
        help="Only this status: open, verified, paused, closed, denied, or active "
             "(the first three).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Every request (or those with --status), oldest id first."""
    choice(status, ("active", "open", "verified", "paused", "closed", "denied"), "--status", "status")
    with request_book(ctx) as book:
        _, today = clock(book)
        rows = book.list(status, today=today)
        tz = book.inventory.controller.timezone
    Output(json_).emit({"requests": rows}, lambda console, data: _render_list(console, data, tz))


@app.command("show", cls=Command, epilog=examples(
    ("One request", "dsarctl request show R-2026-0001"),
    ("With each step of its deadline computation", "dsarctl request show R-2026-0001 --explain"),
))
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
        tz = book.inventory.controller.timezone
    Output(json_).emit(r, lambda console, data: _render_show_and_history(console, data, tz))


@app.command("verify", cls=Command, epilog=examples(
    ("The subject replied from the account's e-mail address",
     "dsarctl request verify R-2026-0001 --method 'reply from account email'"),
    ("Check what the requester gave against the records held (two must match, none may differ)",
     "dsarctl request verify R-2026-0001 --match postcode='BS1 1AA' --match order_id=88231 --min 2"),
    ("The postcode came on 5 November: under uk-gdpr the clock starts that day",
     "dsarctl request verify R-2026-0001 --match postcode='BS1 1AA' --received 2026-11-05"),
))
def verify(
    ctx: typer.Context,
    id: IdArg,
    match: Annotated[Optional[list[str]], typer.Option(
        "--match", metavar="KEY=VALUE", show_default=False,
        help="A data point the requester gave, KEY=VALUE (repeatable): an identity kind (phone=…, "
             "order_id=…), postcode=…, or a record field (FIELD, COLLECTION.FIELD). Compared with the records "
             "found for the subject; only keyed hashes of the values are kept.")] = None,
    minimum: Annotated[Optional[int], typer.Option(
        "--min", metavar="N", show_default=False,
        help="With --match: how many data points must match, not counting e-mail addresses and the request's "
             "own identifiers (any mismatch fails). Default 1; under us-ca 3 for access and portability, 2 "
             "for other requests (11 CCR §7062).")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", metavar="METHOD", show_default=False,
        help="How the identity was checked (e.g. 'reply from account email'); without --match, "
             "the identity was verified by these other means.")] = None,
    received: Annotated[Optional[str], typer.Option(
        "--received", metavar="DATE", show_default=False,
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


@app.command("pause", cls=Command, epilog=examples(
    ("Waiting for a copy of an ID document", "dsarctl request pause R-2026-0001 --reason 'asked for ID on 2026-10-02'"),
    ("Waiting for the subject to say which account (UK GDPR Art. 12A, shown in --explain)",
     "dsarctl request pause R-2026-0001 --ground clarification --reason 'which of two accounts?'"),
))
def pause(ctx: typer.Context, id: IdArg, reason: ReasonOpt,
          ground: Annotated[Optional[str], typer.Option(
              "--ground", metavar="GROUND", show_default=False, autocompletion=completer(PAUSE_GROUNDS),
              help="Why the clock stops (UK GDPR Art. 12A): identity, clarification or fee; "
                   "named in --explain.")] = None,
          operator: OperatorOpt = None, json_: JsonOpt = False) -> None:
    """Stop the clock while waiting for the subject (ID, clarification), where the regime allows it."""
    choice(ground, PAUSE_GROUNDS, "--ground", "ground")
    _change(ctx, json_, "paused",
            lambda book, at, who: book.pause(id, reason, operator=who, now=at, ground=ground), operator)


@app.command("resume", cls=Command, epilog=examples(
    ("The ID arrived", "dsarctl request resume R-2026-0001 --note 'passport copy received'"),
))
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


@app.command("extend", cls=Command, epilog=examples(
    ("A complex request (tell the subject, with the reasons, before the first deadline)",
     "dsarctl request extend R-2026-0001 --reason 'complex: 12 systems, 4 processors'"),
    ("The subject was told by phone on 3 November, not by dsarctl letter --kind extend",
     "dsarctl request extend R-2026-0001 --reason 'complex' --notified-on 2026-11-03"),
))
def extend(
    ctx: typer.Context,
    id: IdArg,
    reason: ReasonOpt,
    late: Annotated[bool, typer.Option(
        "--late",
        help="Record an extension the subject was told of in time but that is entered only now.")] = False,
    notified_on: Annotated[Optional[str], typer.Option(
        "--notified-on", metavar="DATE", show_default=False,
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


@app.command("close", cls=Command, epilog=examples(
    ("Answered: the access package was sent", "dsarctl request close R-2026-0001 --note 'package sent by e-mail'"),
))
def close(
    ctx: typer.Context,
    id: IdArg,
    note: Annotated[Optional[str], typer.Option("--note", metavar="NOTE", show_default=False,
                                                help="How it was answered.")] = None,
    operator: OperatorOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Close an answered request."""
    _change(ctx, json_, "closed", lambda book, at, who: book.close(id, note, operator=who, now=at), operator)


@app.command("deny", cls=Command, epilog=examples(
    ("Identity not proven", "dsarctl request deny R-2026-0001 --reason 'identity not proven after two reminders'"),
))
def deny(ctx: typer.Context, id: IdArg, reason: ReasonOpt, operator: OperatorOpt = None,
         json_: JsonOpt = False) -> None:
    """Refuse a request, with the reason (e.g. identity not proven, manifestly unfounded)."""
    _change(ctx, json_, "denied", lambda book, at, who: book.deny(id, reason, operator=who, now=at), operator)


def _change(ctx, json_: bool, verb: str, action, operator: Optional[str]) -> None:
    with request_book(ctx) as book:
        at, _ = clock(book)
        r = action(book, at, operator_name(operator))
    Output(json_).emit(r, lambda console, d: _line(
        console, f"{d['id']} {verb}: {d['status']}, due {d['due_date']}" + _extras(d) + _clock(d)))


# --- rendering ------------------------------------------------------------------------------------------


_OUTCOMES = {"matched": "matched", "mismatched": "DID NOT MATCH", "absent": "not in the records found"}


def _render_verification(console, d: dict) -> None:
    r = d["request"]
    for c in d["checks"]:
        where = f" ({', '.join(c['where'])})" if c["where"] else ""
        note = "" if c["counts"] or c["outcome"] != "matched" else " (does not count: known from the request itself)"
        _line(console, f"  {c['key']}: {_OUTCOMES[c['outcome']]}{where}{note}")
    if d["verified"]:
        _line(console, f"{r['id']} verified ({d['why']}): {r['status']}, due {r['due_date']}" + _extras(r) + _clock(r))
    else:
        _line(console, f"{r['id']} NOT verified: {d['why']}; the request stays {r['status']}, due {r['due_date']}")


def _clock(d: dict) -> str:
    """The line saying why verifying did not restart the clock (uk-gdpr), when it did not."""
    return f"\n  {d['clock']}" if d.get("clock") else ""


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


def _render_show(console, d: dict, tz: str) -> None:
    _line(console, d["id"])
    for key, label in _FIELDS:
        value = d.get(key)
        if value is None or value == [] or (key == "extended" and not value):
            continue
        if key == "identifiers":
            value = ", ".join(value)
        elif key == "pauses":
            # local dates, as --explain counts them (both days included)
            value = "; ".join(f"{local_date(p['start'], tz)} to {local_date(p['end'], tz) or '(ongoing)'}"
                              + (f" ({p['ground']})" if p.get("ground") else "") for p in value)
        elif key == "extended":
            value = "yes"
        elif key in _TIMES:
            value = local_time(value, tz)
        _line(console, f"  {label + ':':<21} {value}")
    if "explain" in d:
        _line(console, "")
        _line(console, "How the due date was computed:")
        for step in d["explain"]:
            _line(console, f"  {step}")


_TIMES = ("received_at", "verified_at", "closed_at", "created_at")  # shown in the controller's zone
# on a narrow terminal, the regime goes first, then the received date, the status, the type
_LIST_COLUMNS = (Column("id", whole=True), Column("subject", whole=True), Column("type", drop=4),
                 Column("status", drop=3), Column("regime", drop=1), Column("received", whole=True, drop=2),
                 Column("due", whole=False))


def _render_show_and_history(console, d: dict, zone: str) -> None:
    _render_show(console, d, zone)
    _render_history(console, d, zone)


def _render_history(console, d: dict, zone: str) -> None:
    """The request's runs, tasks and letters, one line each (never wrapped off a terminal)."""
    from .events import describe, describe_run

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False)

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


def _render_list(console, data: dict, tz: str) -> None:
    rows = data["requests"]
    if not rows:
        _line(console, "No requests.")
        return
    table(console, _LIST_COLUMNS,
          [(r["id"], r["subject"], r["type"], r["status"], r["regime"], local_date(r["received_at"], tz),
            r["due_date"] + (" (extended)" if r["extended"] else "")) for r in rows],
          styles=["dim" if r["status"] in ("closed", "denied") else None for r in rows])
