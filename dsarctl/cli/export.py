"""`dsarctl export SUBJECT`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitStatus
from .common import IdOpt, JsonOpt, NoExpandOpt, RequestOpt, SubjectArg, search_with_progress, state, subject_identifiers
from .output import Output


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("export")
def export(
    ctx: typer.Context,
    subject: SubjectArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", show_default=False,
                     help="The zip to write (default: access-<request or subject>….zip here); "
                          "never overwritten."),
    ] = None,
    ids: IdOpt = None,
    no_expand: NoExpandOpt = False,
    request: RequestOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The access package: a zip with every record found, index.html and manifest.json (Art. 15 and 20)."""
    import os

    from ..boundary import refuse_ambiguous
    from ..export import check_target, default_filename, write_package
    from ..runs import now as clock
    from ..runs import record_run, resolve_request

    out = Output(json_)
    inventory = state(ctx).inventory()
    from ..audit_marker import open_audit

    open_audit(inventory, create=True).close()  # a log used before and now missing: refused before searching
    identifiers = subject_identifiers(inventory, subject, ids)
    now = clock()
    target = output if output is not None else Path(default_filename(subject, request, now))
    check_target(target.absolute())  # before searching: a taken name is known at once
    result = search_with_progress(out, inventory, identifiers, expand=not no_expand)
    refuse_ambiguous([result], "exporting")  # before a request is opened or anything is written
    attached = resolve_request(inventory, "export", result.given + result.identifiers, request)
    request = attached["id"] if attached else request
    if result.total == 0:
        record_run(inventory, "export", result, request_id=request, extra={"zip_sha256": None, "file": None})
        for system, collection, error in result.failures:
            out.message(f"failed: {system}.{collection}: {error}", style="red")
        out.emit({"file": None, "total": 0, "subject": [str(i) for i in result.given],
                  "failures": [{"system": s, "collection": c, "error": e} for s, c, e in result.failures]},
                 lambda console, d: None)
        out.message("nothing found: no package written")
        raise typer.Exit(ExitStatus.SOURCE_FAILED if result.failures else ExitStatus.NO)
    package = write_package(inventory, result, target, now=now, request_id=request)
    try:
        run = record_run(inventory, "export", result, request_id=request,
                         extra={"zip_sha256": package.sha256, "file": str(package.path)})
    except BaseException:
        os.unlink(package.path)  # a package the audit log does not know about must not be sent
        raise
    data = package.to_dict()
    if run:
        data["request"] = {**run, "created": bool(attached and attached["created"])}
    out.emit(data, render_export)
    for system, collection, error in package.failures:
        out.message(f"failed: {system}.{collection}: {error}", style="red")
    if package.failures:
        out.message("the package was written without the sources that failed; "
                    "index.html and manifest.json say so", style="red")
        raise typer.Exit(ExitStatus.SOURCE_FAILED)


def render_export(console, data) -> None:
    from rich.table import Table

    table = Table(title=f"Records exported: {data['total']}", title_justify="left")
    for col in ("system", "collection", "records", "status"):
        table.add_column(col, overflow="fold")
    for system in data["systems"]:
        if system["status"] == "manual":
            table.add_row(system["system"], "", "", "manual task (not in the package)", style="yellow")
            continue
        for coll in system["collections"]:
            failed = coll["status"] == "failed"
            table.add_row(system["system"], coll["collection"], str(coll["count"]),
                          f"FAILED: {coll.get('error', '')}" if failed else "ok",
                          style="red" if failed else (None if coll["count"] else "dim"))
    console.print(table)
    console.print(f"Wrote {data['file']} ({data['bytes']} bytes, {data['files']} files)", markup=False)
    console.print(f"SHA-256 {data['sha256']}", markup=False)
