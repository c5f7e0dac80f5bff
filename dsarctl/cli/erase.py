"""`dsarctl erase SUBJECT` (and `--batch FILE`, `--replay`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitStatus, RefusedError, UsageError
from ..wording import no_instruction, plural
from .common import (Command, IdOpt, JsonOpt, ReceivedOpt, RequestOpt, YesOpt, examples, parse_received, state,
                     subject_identifiers, tell_request)
from .output import Column, Output, table


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("erase", cls=Command, epilog=examples(
    ("The plan only: what would be deleted, anonymised, kept and why", "dsarctl erase bob@example.net --dry-run"),
    ("Plan, confirm, erase, search again (the e-mail asking for it came on 20 November)",
     "dsarctl erase bob@example.net --received 2026-11-20"),
    ("From a script (no terminal to confirm on)", "dsarctl erase bob@example.net --yes --json"),
    ("Many subjects, one per line, each file rewritten once", "dsarctl erase --batch leavers.txt --yes"),
    ("The same, also keeping a suppression entry for lines that match nobody",
     "dsarctl erase --batch leavers.txt --suppress-unmatched --yes"),
))
def erase(
    ctx: typer.Context,
    subject: Annotated[Optional[str], typer.Argument(
        metavar="SUBJECT", help="The subject: an e-mail, +phone, or KIND:VALUE (customer_id:1042).",
        show_default=False)] = None,
    ids: IdOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only; change nothing.")] = False,
    yes: YesOpt = False,
    request: RequestOpt = None,
    received: ReceivedOpt = None,
    batch: Annotated[Optional[Path], typer.Option(
        "--batch", metavar="FILE", show_default=False, help="Erase every subject in FILE (one per line), rewriting each file source once.")] = None,
    suppress_unmatched: Annotated[bool, typer.Option(
        "--suppress-unmatched",
        help="With --batch: also keep a suppression entry for lines that match nobody (default: none).")] = False,
    replay: Annotated[bool, typer.Option(
        "--replay", help="Re-apply past erasures to sources restored from a backup: to the erased "
                         "people's records only, never a new person's with a recycled id.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Plan, confirm, erase, then search again and report what remains and why (GDPR Art. 17)."""
    from .. import workflows
    from ..requests import default_operator
    from ..runs import now as clock

    out = Output(json_)
    inventory = state(ctx).inventory()
    now = clock()
    operator = default_operator()
    if replay:
        if subject or batch or request or received:
            # a replay acts for every past erasure: no one subject a request could belong to
            raise UsageError("--replay takes no subject, no --batch, no --request and no --received")
        if dry_run:
            raise UsageError("--replay has no --dry-run; it acts only on records of past erasures")
        try:
            run = workflows.replay(inventory, now=now, operator=operator, on_wait=_waiting(out),
                                   confirm=lambda: _confirm(out, yes, "Re-apply every recorded erasure to the sources now?"))
        except workflows.NotConfirmed:
            out.message("Nothing erased.")
            raise typer.Exit(ExitStatus.BAD_INPUT) from None
        out.emit(run.to_dict(), render_result)
        _fail_exit(out, run)
        return
    if suppress_unmatched and batch is None:
        raise UsageError("--suppress-unmatched goes with --batch FILE")
    subjects, lines = _subjects(inventory, subject, ids, batch)
    if received is not None and (batch is not None or dry_run):
        raise UsageError("--received is the date of the request an erase opens: not with --batch or --dry-run")
    received_at = parse_received(inventory, received, request)
    options = dict(request_id=request, dry_run=dry_run, now=now, operator=operator,
                   confirm=_plan_confirmation(out, yes, json_, lines), progress=None if json_ else out.progress(),
                   on_wait=_waiting(out), on_resumed=_resumed(out))
    try:
        run = (workflows.erase_batch(inventory, subjects, suppress_unmatched=suppress_unmatched, **options)
               if batch is not None else workflows.erase(inventory, subjects[0], received=received_at, **options))
    except workflows.NotConfirmed:
        out.message("Nothing erased.")
        raise typer.Exit(ExitStatus.BAD_INPUT) from None
    data = _with_lines(run.to_dict(), lines)
    if run.dry_run:
        out.emit(data, lambda console, data: render_plan(console, data["plan"]))
        return
    tell_request(out, run.request, inventory, received_at, now)
    out.emit(data, render_result)
    _fail_exit(out, run)


def _with_lines(data: dict, lines: list[int] | None) -> dict:
    """A batch's per-subject entries (plan and report) with the line of the batch file each comes from."""
    if lines is not None:
        for entries in (data.get("plan", {}).get("subjects"), data.get("subjects")):
            for entry, line in zip(entries or (), lines):
                entry["line"] = line
    return data


def _waiting(out: Output):
    """What an erase waiting for another one's lock says (erase/runlock.py)."""
    def waiting(text: str) -> None:  # one line, whatever the terminal's width: scripts and logs grep it
        out.err.print(text, style="yellow", markup=False, highlight=False, soft_wrap=True)

    return waiting


def _resumed(out: Output):
    """What an erase says of each interrupted run it finished first."""
    def resumed(run) -> None:
        out.message(f"finished the interrupted erase run {run.run_id}"
                    + (f" ({plural(len(run.failures), 'source')} still failing)" if run.failures else ""))

    return resumed


def _plan_confirmation(out: Output, yes: bool, json_: bool, lines: list[int] | None = None):
    """The erase's `confirm`: show the plan (on stdout; with --json on stderr, and only to a person who is
    asked), then ask, unless --yes."""
    def confirm(plan) -> bool:
        shown = _with_lines({"plan": plan.to_dict()}, lines)["plan"]
        if not json_:
            render_plan(out.out, shown)
        elif not yes and sys.stdin.isatty():
            render_plan(out.err, shown)
        return _confirm(out, yes, "Carry out this erasure?")

    return confirm


def _subjects(inventory, subject, ids, batch) -> tuple[list, list[int] | None]:
    """The subjects to erase, and for a batch the line of the file each comes from."""
    if batch is not None:
        if subject:
            raise UsageError("give either SUBJECT or --batch FILE, not both")
        try:
            lines = batch.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"{batch}: cannot read the batch file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{batch}: the batch file is not UTF-8 text (byte {exc.start})") from None
        subjects, numbers = [], []
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            first, *more = text.split()
            try:
                subjects.append(subject_identifiers(inventory, first, more + list(ids or [])))
            except UsageError as exc:
                raise UsageError(f"{batch}:{lineno}: {exc}") from None
            numbers.append(lineno)
        if not subjects:
            raise UsageError(f"{batch}: no subjects in the batch file")
        return subjects, numbers
    if not subject:
        raise UsageError("give the SUBJECT to erase (or --batch FILE, or --replay)")
    return [subject_identifiers(inventory, subject, ids)], None


def _confirm(out: Output, yes: bool, question: str) -> bool:
    """True with --yes or when the person says yes (a "no" is False: the workflow then changes nothing);
    no terminal is refused (exit 2)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise RefusedError("erase needs confirmation: no terminal to ask on; run it again with --yes "
                           "(see the plan with --dry-run first)")
    return out.confirm(question)


def _fail_exit(out: Output, run) -> None:
    """Exit 3 when a source failed: one of this erase's, or one of an interrupted run it finished first
    (that run stays pending; the subject's own work was done and reported all the same)."""
    problems = run.problems + getattr(run, "resumed_problems", [])
    for problem in problems:
        out.message(f"failed: {problem}", style="red")
    if problems:
        raise typer.Exit(ExitStatus.SOURCE_FAILED)


_PLAN_COLUMNS = (Column("system", whole=True), Column("collection", whole=True), Column("records", whole=True),
                 Column("action"))



def render_plan(console, plan: dict) -> None:
    if plan.get("subjects") is not None:
        _render_batch_plan(console, plan)
        return
    if plan["identifiers"]:
        console.print(f"Erasure plan for: {', '.join(plan['identifiers'])}", style="bold", markup=False)
    rows, styles = [], []
    for coll in plan["collections"]:
        if coll["status"] == "failed":
            rows.append((coll["system"], coll["collection"], "FAILED", coll.get("error") or ""))
            styles.append("red")
            continue
        action = _describe(coll)
        shared = coll.get("shared") or []
        kept = [k for k in coll.get("kept") or () if k["record"] not in {s["record"] for s in shared}]
        if kept:
            reasons = "; ".join(f"{k['record']}: {k['reason']}" for k in kept)
            action += f" — but {len(kept)} left as they are, {reasons}"
        if shared:
            action += " — except: " + "; ".join(_shared(s) for s in shared)
        rows.append((coll["system"], coll["collection"], str(coll["count"]), action))
        styles.append(None)
    if plan["collections"]:
        table(console, _PLAN_COLUMNS, rows, styles=styles)
    else:
        console.print("Nothing found to erase.", markup=False)
    _render_plan_extras(console, plan)


def _render_plan_extras(console, plan: dict) -> None:
    """The plan's manual tasks and suppression entries."""
    for task in plan["tasks"]:
        console.print(f"Manual task — {task['system']}: {task['processor'] or ''}", markup=False)
        console.print(f"  {task.get('instructions') or no_instruction('erasure')}", markup=False)
    for system, n in plan["suppress"].items():
        console.print(f"Suppression — {system}: {plural(n, 'identifier')} kept as "
                      f"{'a keyed hash' if n == 1 else 'keyed hashes'}", markup=False)


def _render_batch_plan(console, plan: dict) -> None:
    """A batch's plan subject by subject (its line, what was found of it, its table), then the lines that
    match nobody, then the tasks and suppression entries of the whole batch."""
    def line(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    subjects = plan["subjects"]
    matched = [s for s in subjects if s["matched"]]
    unmatched = [s for s in subjects if not s["matched"]]
    line(f"Erasure plan for a batch of {plural(len(subjects), 'subject')}: {len(matched)} found, "
         f"{len(unmatched)} matching nobody", "bold")
    for s in matched:
        line("")
        line(f"{_who(s)}: {plural(s['total'], 'record')} (identifiers: {', '.join(s['identifiers'])})", "bold")
        render_plan(console, {"identifiers": [], "collections": s["collections"], "tasks": [], "suppress": {}})
    if unmatched:
        line("")
        line(_nobody(plan, "nothing to erase"), "bold")
        for s in unmatched:
            line(f"  {_who(s)}")
    failed = [c for c in plan["collections"] if c["status"] == "failed"]
    if failed:
        line("")
        for c in failed:
            line(f"FAILED — {c['system']}.{c['collection']}: {c.get('error') or ''} "
                 "(what it holds of these subjects is not known)", "red")
    if plan["tasks"] or plan["suppress"]:
        line("")
    _render_plan_extras(console, plan)


def _nobody(plan: dict, done: str) -> str:
    """The heading of a batch's lines that match nobody: what happened to them, and whether a source that
    failed may hold them after all."""
    suppressed = "a suppression entry all the same, --suppress-unmatched" if plan.get("suppress_unmatched") \
        else "no suppression entry"
    failed = any(c["status"] == "failed" for c in plan["collections"])
    where = " in the sources that could be searched" if failed else ""
    return f"Matching nobody{where} ({done}; {suppressed}):"


def _who(subject: dict) -> str:
    """`line 3: alice@example.com` (with the line of the batch file when known)."""
    name = " ".join(subject["subject"])
    return f"line {subject['line']}: {name}" if "line" in subject else name


def _describe(coll: dict) -> str:
    fields = ", ".join(f"{k}: {v}" for k, v in (coll.get("fields") or {}).items())
    if coll["action"] == "delete":
        return "delete"
    if coll["action"] == "anonymize":
        return f"anonymize ({fields})"
    if coll["action"] == "retain":
        text = f"retain until {coll['until'] or 'no date'}: {coll['reason']}"
        return text + (f"; mask {fields}" if fields else "")
    return coll.get("note", "none")


_SHARED = {
    "redact": "the subject's addresses are taken out of its headers, the message stays",
    "keep": "left as it is",
    "delete": "deleted all the same (shared: delete)",
    "anonymize": "anonymized all the same (shared: delete)",
}


def _shared(entry: dict) -> str:
    """One shared message of the plan: where, how many others it names, what happens to it."""
    others = entry["others"]
    what = _SHARED.get(entry["action"], entry["action"])
    return f"{entry['record']} is shared with {others} other{'s' if others != 1 else ''}: {what}"


def render_result(console, data: dict) -> None:
    if data.get("subjects") is not None:
        _render_batch_result(console, data)
        return
    run = data.get("run")
    if run:
        for unit in run["units"]:
            if unit["status"] == "failed":
                console.print(f"{unit['system']}: FAILED — {unit['error']}", style="red", markup=False)
                continue
            for coll, o in unit["collections"].items():
                console.print(f"{unit['system']}.{coll}: {o['deleted']} deleted, {o['masked']} masked"
                              + (f", {plural(o['redacted'], 'shared message')} redacted" if o.get("redacted") else "")
                              + (f", {o['unchanged']} already masked" if o['unchanged'] else "")
                              # a record not found as the plan knew it: gone, or changed (see What remains)
                              + (f", {o['missing']} not found as planned (gone, or changed since the search)"
                                 if o['missing'] else ""),
                              markup=False)
        if run.get("suppressed"):
            console.print(f"suppression list: {plural(run['suppressed'], 'new keyed hash', 'new keyed hashes')}",
                          markup=False)
    else:
        console.print("Nothing to erase: no records of the subject need changing.", markup=False)
    remaining = data.get("remaining") or []
    if remaining:
        console.print("What remains:", style="bold", markup=False)
        for r in remaining:
            where = f"{r['system']}.{r['collection']}" if r.get("collection") else r["system"]
            count = f"{plural(r['count'], 'record')} " if r.get("count") else ""
            until = f" until {r['until']}" if r.get("until") else ""
            console.print(f"  {where}: {count}{r['status']}{until} — {r['reason']}", markup=False)
    else:
        console.print("Nothing of the subject remains.", markup=False)


def _render_batch_result(console, data: dict) -> None:
    """A batch's report subject by subject: what was done to its records, what remains of them and why;
    then the lines that matched nobody, and what remains of the batch as a whole (tasks, failures)."""
    def line(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False, highlight=False)

    subjects = data["subjects"]
    unmatched = [s for s in subjects if not s["matched"]]
    for s in subjects:
        if not s["matched"]:
            continue
        line(f"{_who(s)}: {plural(s['total'], 'record')}", "bold")
        for c in s["collections"]:
            done = ", ".join(f"{n} {what}" for what, n in c["outcomes"].items())
            if c["status"] == "failed":
                line(f"  {c['system']}.{c['collection']}: FAILED — {c.get('error') or ''}", "red")
                continue
            kept = f" (until {c['until'] or 'no date'}: {c['reason']})" if "reason" in c else ""
            line(f"  {c['system']}.{c['collection']}: {done}{kept}")
        for r in s["remaining"]:
            until = f" until {r['until']}" if r.get("until") else ""
            line(f"  remains: {r['system']}.{r['collection']}: {plural(r['count'], 'record')} "
                 f"{r['status']}{until} — {r['reason']}")
    if unmatched:
        line(_nobody(data["plan"], "nothing erased"), "bold")
        for s in unmatched:
            line(f"  {_who(s)}")
    run = data.get("run") or {}
    if run.get("suppressed"):
        line(f"suppression list: {plural(run['suppressed'], 'new keyed hash', 'new keyed hashes')}")
    batch_wide = [r for r in data.get("remaining") or [] if not r.get("records")]
    if batch_wide:
        line("What remains for the whole batch:", "bold")
        for r in batch_wide:
            where = f"{r['system']}.{r['collection']}" if r.get("collection") else r["system"]
            line(f"  {where}: {r['status']} — {r['reason']}")
