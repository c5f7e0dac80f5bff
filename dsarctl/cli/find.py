"""`dsarctl find SUBJECT`."""

from __future__ import annotations


import typer

from ..errors import ExitStatus
from .common import IdOpt, JsonOpt, NoExpandOpt, RequestOpt, SubjectArg, search_with_progress, state, subject_identifiers
from .output import Output


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("find")
def find(
    ctx: typer.Context,
    subject: SubjectArg,
    ids: IdOpt = None,
    no_expand: NoExpandOpt = False,
    request: RequestOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Where the subject's data is: per system and collection, the records and how they were reached."""
    out = Output(json_)
    inventory = state(ctx).inventory()
    identifiers = subject_identifiers(inventory, subject, ids)
    result = search_with_progress(out, inventory, identifiers, expand=not no_expand, contents=False)
    data = result.to_dict()
    from ..runs import record_run

    run = record_run(inventory, "find", result, request_id=request)
    if run:
        data["request"] = run
    out.emit(data, render_find)
    for kind, values in result.ambiguous.items():
        out.warn(f"ambiguous: {len(values)} values of unique identity '{kind}' ({', '.join(values)}); "
                 f"erase will refuse until you name the right one with --id {kind}:VALUE")
    for system, collection, error in result.failures:
        out.message(f"failed: {system}.{collection}: {error}", style="red")
    if result.failures:
        raise typer.Exit(ExitStatus.SOURCE_FAILED)
    if result.total == 0:
        raise typer.Exit(ExitStatus.NO)


def render_find(console, data) -> None:
    from rich.table import Table

    console.print(f"Subject: {', '.join(data['subject'])}", style="bold", markup=False)
    idents = Table(title=f"Identifiers ({data['rounds']} search rounds)", title_justify="left", show_edge=False)
    for col in ("identifier", "how it was found"):
        idents.add_column(col, overflow="fold")
    for ident in data["identifiers"]:
        if ident["source"] == "given":
            how = "given"
        else:
            how = f"found in {ident['found_in']} ({ident['location']}) via {ident['via']}"
            if ident.get("followed") is False:
                how += " — not followed (not among the values you named)"
        idents.add_row(f"{ident['kind']}:{ident['value']}", how)
    console.print(idents)
    table = Table(title=f"Records found: {data['total']}", title_justify="left", show_lines=False)
    for col in ("system", "collection", "records", "found via", "on erase"):
        table.add_column(col, overflow="fold")
    tasks = []
    for system in data["systems"]:
        if system["status"] == "manual":
            tasks.append(system)
            continue
        for coll in system["collections"]:
            if coll["status"] == "failed":
                table.add_row(system["system"], coll["collection"], "FAILED", coll.get("error", ""), "", style="red")
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
            table.add_row(system["system"], coll["collection"], str(coll["count"]),
                          ", ".join(coll["matched_by"]) or "-", erase_text if coll["count"] else "",
                          style=None if coll["count"] else "dim")
    console.print(table)
    for task in tasks:
        t = task["task"]
        console.print(f"Manual task — {task['system']}: {t['processor'] or ''}", style="bold", markup=False)
        if t.get("instructions"):
            console.print(f"  {t['instructions']}", markup=False)
        console.print(f"  identifiers to give: {', '.join(t['identifiers']) or '-'}", markup=False)
