"""`dsarctl find` without typer: the lookup support staff run all day, read by hand when its argument line
is the simple form, so that it does not pay for importing typer and building the command line (~50 ms of
a 0.8 s search at 300k records, before any grep can start).

`parse` accepts only `[-i PATH | --inventory PATH | --inventory=PATH] find SUBJECT` followed by at most one
`--json`, with a SUBJECT that does not begin with `-`. Anything else is None and goes through the typer
app, which gives the help, the usage errors and the same results. `run` is the command's body, called by
both paths (see `morning` for the same arrangement for `overdue`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional

from ..errors import ExitStatus
from ..wording import no_instruction, plural
from .morning import guarded, inventory_option
from .output import Column

if TYPE_CHECKING:
    from .state import State


class Options(NamedTuple):
    inventory_path: Optional[Path]
    subject: str
    json: bool


def parse(args: list[str]) -> Optional[Options]:
    """The options of a simple `dsarctl find` line, or None for any other line."""
    taken = inventory_option(args, "find")
    if taken is None:
        return None
    inventory, rest = taken
    subjects = [a for a in rest if a != "--json"]
    if len(subjects) != 1 or len(rest) - len(subjects) > 1:
        return None
    subject = subjects[0]
    if not subject or subject.startswith("-"):
        return None  # an option, or what click would read as one
    return Options(inventory, subject, len(rest) == 2)


def invoke(options: Options) -> int:
    from .state import State

    return guarded(lambda: run(State(inventory_path=options.inventory_path), options.subject, None, False, None,
                               options.json))


def run(state: "State", subject: str, ids: Optional[list[str]], no_expand: bool, request: Optional[str],
        json_: bool) -> int:
    """The command: the records found on stdout; exit 3 when a source failed, 1 when nothing was found."""
    from ..requests import default_operator
    from ..runs import now
    from ..search import failure_lines
    from ..workflows import find
    from .output import Output
    from .subjects import subject_identifiers

    out = Output(json_)
    inventory = state.inventory()
    identifiers = subject_identifiers(inventory, subject, ids)
    run = find(inventory, identifiers, request_id=request, expand=not no_expand, now=now(),
               operator=default_operator(), progress=None if json_ else out.progress())
    result = run.result
    out.emit(run.to_dict(), render_find)
    for kind, values in result.ambiguous.items():
        out.warn(f"ambiguous: {len(values)} values of unique identity '{kind}' ({', '.join(values)}); "
                 f"export and erase refuse until you name the right one with --id {kind}:VALUE")
    for line in failure_lines(result.failures):  # one line per system and message
        out.message(f"failed: {line}", style="red")
    if result.failures:
        return int(ExitStatus.SOURCE_FAILED)
    if result.total == 0:
        return int(ExitStatus.NO)
    return int(ExitStatus.OK)


_IDENTIFIER_COLUMNS = (Column("identifier", whole=True), Column("how it was found"))
# on a narrow terminal "found via" goes first, then "on erase"
_RECORD_COLUMNS = (Column("system", whole=True), Column("collection", whole=True), Column("records", whole=True),
                   Column("found via", drop=1), Column("on erase", drop=2))


def render_find(console, data) -> None:
    from .output import table

    console.print(f"Subject: {', '.join(data['subject'])}", style="bold", markup=False)
    idents = []
    for ident in data["identifiers"]:
        if ident["source"] == "given":
            how = "given"
        else:
            link = f"{ident['found_in']}.{ident['field']}" if ident.get("field") else ident["found_in"]
            how = f"found in {link} ({ident['location']}) via {ident['via']}"
            if ident.get("followed") is False:
                how += " — not followed (not among the values you named)"
        idents.append((f"{ident['kind']}:{ident['value']}", how))
    table(console, _IDENTIFIER_COLUMNS, idents, title=f"Identifiers ({plural(data['rounds'], 'search round')})")
    rows, styles = [], []
    tasks = []
    for system in data["systems"]:
        if system["status"] == "manual":
            tasks.append(system)
            continue
        for coll in system["collections"]:
            if coll["status"] == "failed":
                rows.append((system["system"], coll["collection"], "FAILED", coll.get("error", ""), ""))
                styles.append("red")
                continue
            erase = coll["erase"]
            if erase is None:
                erase_text = "no erase rule"
            elif erase["action"] == "retain":
                erase_text = f"retain: {erase['reason']}" + (f" (until {erase['until']})" if erase.get("until") else "")
            elif erase["action"] == "anonymize":
                erase_text = "anonymize " + ", ".join(f"{k}: {v}" for k, v in erase["fields"].items())
            else:
                erase_text = erase["action"]
            rows.append((system["system"], coll["collection"], str(coll["count"]),
                         ", ".join(coll["matched_by"]) or "-", erase_text if coll["count"] else ""))
            styles.append(None if coll["count"] else "dim")
    table(console, _RECORD_COLUMNS, rows, title=f"Records found: {data['total']}", styles=styles)
    for task in tasks:
        t = task["task"]
        if t.get("needed") is False:  # nothing of the subject found: no processor to ask (unless always_ask)
            continue
        console.print(f"Manual task — {task['system']}: {t['processor'] or ''}", style="bold", markup=False)
        console.print(f"  {t.get('instructions') or no_instruction('access')}", markup=False)
        console.print(f"  identifiers to give: {', '.join(t['identifiers']) or '-'}", markup=False)
