"""`dsarctl erase SUBJECT` (and `--batch FILE`, `--replay`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitStatus, RefusedError, UsageError
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
    subjects = _subjects(inventory, subject, ids, batch)
    if received is not None and (batch is not None or dry_run):
        raise UsageError("--received is the date of the request an erase opens: not with --batch or --dry-run")
    received_at = parse_received(inventory, received, request)
    options = dict(request_id=request, dry_run=dry_run, now=now, operator=operator,
                   confirm=_plan_confirmation(out, yes, json_), progress=None if json_ else out.progress(),
                   on_wait=_waiting(out), on_resumed=_resumed(out))
    try:
        run = (workflows.erase_batch(inventory, subjects, **options) if batch is not None
               else workflows.erase(inventory, subjects[0], received=received_at, **options))
    except workflows.NotConfirmed:
        out.message("Nothing erased.")
        raise typer.Exit(ExitStatus.BAD_INPUT) from None
    if run.dry_run:
        out.emit(run.to_dict(), lambda console, data: render_plan(console, data["plan"]))
        return
    tell_request(out, run.request, inventory, received_at, now)
    out.emit(run.to_dict(), render_result)
    _fail_exit(out, run)


def _waiting(out: Output):
    """What an erase waiting for another one's lock says (erase/runlock.py)."""
    def waiting(text: str) -> None:  # one line, whatever the terminal's width: scripts and logs grep it
        out.err.print(text, style="yellow", markup=False, highlight=False, soft_wrap=True)

    return waiting


def _resumed(out: Output):
    """What an erase says of each interrupted run it finished first."""
    def resumed(run) -> None:
        out.message(f"finished the interrupted erase run {run.run_id}"
                    + (f" ({len(run.failures)} source(s) still failing)" if run.failures else ""))

    return resumed


def _plan_confirmation(out: Output, yes: bool, json_: bool):
    """The erase's `confirm`: show the plan (on stdout; with --json on stderr, and only to a person who is
    asked), then ask, unless --yes."""
    def confirm(plan) -> bool:
        if not json_:
            render_plan(out.out, plan.to_dict())
        elif not yes and sys.stdin.isatty():
            render_plan(out.err, plan.to_dict())
        return _confirm(out, yes, "Carry out this erasure?")

    return confirm


def _subjects(inventory, subject, ids, batch):
    if batch is not None:
        if subject:
            raise UsageError("give either SUBJECT or --batch FILE, not both")
        try:
            lines = batch.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"{batch}: cannot read the batch file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{batch}: the batch file is not UTF-8 text (byte {exc.start})") from None
        subjects = []
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            first, *more = text.split()
            try:
                subjects.append(subject_identifiers(inventory, first, more + list(ids or [])))
            except UsageError as exc:
                raise UsageError(f"{batch}:{lineno}: {exc}") from None
        if not subjects:
            raise UsageError(f"{batch}: no subjects in the batch file")
        return subjects
    if not subject:
        raise UsageError("give the SUBJECT to erase (or --batch FILE, or --replay)")
    return [subject_identifiers(inventory, subject, ids)]


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
    for problem in run.problems:
        out.message(f"failed: {problem}", style="red")
    if run.problems:
        raise typer.Exit(ExitStatus.SOURCE_FAILED)


_PLAN_COLUMNS = (Column("system", whole=True), Column("collection", whole=True), Column("records", whole=True),
                 Column("action"))


def render_plan(console, plan: dict) -> None:
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
    for task in plan["tasks"]:
        console.print(f"Manual task — {task['system']}: {task['processor'] or ''}", markup=False)
        if task.get("instructions"):
            console.print(f"  {task['instructions']}", markup=False)
    for system, n in plan["suppress"].items():
        console.print(f"Suppression — {system}: {n} identifier(s) kept as keyed hashes", markup=False)


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
    "keep": "left as it is (shared: keep)",
    "delete": "deleted all the same (shared: delete)",
    "anonymize": "anonymized all the same (shared: delete)",
}


def _shared(entry: dict) -> str:
    """One shared message of the plan: where, how many others it names, what happens to it."""
    others = entry["others"]
    what = _SHARED.get(entry["action"], entry["action"])
    return f"{entry['record']} is shared with {others} other{'s' if others != 1 else ''}: {what}"


def render_result(console, data: dict) -> None:
    run = data.get("run")
    if run:
        for unit in run["units"]:
            if unit["status"] == "failed":
                console.print(f"{unit['system']}: FAILED — {unit['error']}", style="red", markup=False)
                continue
            for coll, o in unit["collections"].items():
                console.print(f"{unit['system']}.{coll}: {o['deleted']} deleted, {o['masked']} masked"
                              + (f", {o['redacted']} shared message(s) redacted" if o.get("redacted") else "")
                              + (f", {o['unchanged']} already masked" if o['unchanged'] else "")
                              # a record not found as the plan knew it: gone, or changed (see What remains)
                              + (f", {o['missing']} not found as planned (gone, or changed since the search)"
                                 if o['missing'] else ""),
                              markup=False)
        if run.get("suppressed"):
            console.print(f"suppression list: {run['suppressed']} new keyed hash(es)", markup=False)
    else:
        console.print("Nothing to erase: no records of the subject need changing.", markup=False)
    remaining = data.get("remaining") or []
    if remaining:
        console.print("What remains:", style="bold", markup=False)
        for r in remaining:
            where = f"{r['system']}.{r['collection']}" if r.get("collection") else r["system"]
            count = f"{r['count']} record(s) " if r.get("count") else ""
            until = f" until {r['until']}" if r.get("until") else ""
            console.print(f"  {where}: {count}{r['status']}{until} — {r['reason']}", markup=False)
    else:
        console.print("Nothing of the subject remains.", markup=False)
