"""`dsarctl export SUBJECT`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ExitStatus
from .common import (Command, IdOpt, JsonOpt, NoExpandOpt, ReceivedOpt, RequestOpt, SubjectArg, examples, parse_received,
                     state, subject_identifiers, tell_request)
from .output import Column, Output, table


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("export", cls=Command, epilog=examples(
    ("The access package, filed under the subject's open access request (or a new one)",
     "dsarctl export alice@example.com"),
    ("The e-mail asking for it came on 20 November: the request this opens says so",
     "dsarctl export zoe@example.org --received 2026-11-20"),
    ("Under a given request, to a chosen file", "dsarctl export alice@example.com -r R-2026-0001 -o alice.zip"),
))
def export(
    ctx: typer.Context,
    subject: SubjectArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", show_default=False,
                     help="The zip to write (default: access-<request or subject>….zip here); "
                          "never overwritten."),
    ] = None,
    ids: IdOpt = None,
    no_expand: NoExpandOpt = False,
    request: RequestOpt = None,
    received: ReceivedOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The access package: a zip with every record found, index.html and manifest.json (Art. 15 and 20)."""
    from ..export import default_filename
    from ..requests import default_operator
    from ..runs import now as clock
    from ..workflows import export as export_package

    out = Output(json_)
    inventory = state(ctx).inventory()
    identifiers = subject_identifiers(inventory, subject, ids)
    now = clock()
    received_at = parse_received(inventory, received, request)
    target = output if output is not None else Path(default_filename(subject, request, now))
    run = export_package(inventory, identifiers, output=target, request_id=request, received=received_at,
                         expand=not no_expand, now=now,
                         operator=default_operator(), progress=None if json_ else out.progress())
    tell_request(out, run.request, inventory, received_at, now)
    if run.package is None:
        for line in run.failure_lines():
            out.message(f"failed: {line}", style="red")
        out.emit(run.to_dict(), lambda console, d: None)
        out.message("nothing found: no package written")
        raise typer.Exit(ExitStatus.SOURCE_FAILED if run.failures else ExitStatus.NO)
    data = run.to_dict()
    out.emit(data, render_export)
    for line in package_warnings(data):  # one line each off a terminal; on one, wrapped between words
        out.warn(line)
    for line in run.failure_lines():
        out.message(f"failed: {line}", style="red")
    if run.failures:
        out.message("the package was written without the sources that failed; "
                    "index.html and manifest.json say so", style="red")
        raise typer.Exit(ExitStatus.SOURCE_FAILED)


def package_warnings(data: dict) -> list[str]:
    """What the operator must know before sending the package: one line each."""
    lines = []
    rid = data.get("request_id")
    if not data.get("verified"):
        how = (f"dsarctl request verify {rid} --match FIELD=VALUE, or --method TEXT" if rid
               else "dsarctl request new, then request verify ID --match FIELD=VALUE")
        lines.append(f"{'request ' + rid if rid else 'no request'} is not verified: the package is marked "
                     f"unverified and must not be sent until it is (verify with: {how})")
    if data.get("incomplete"):
        lines.append("Art. 15 information missing from the inventory, shown as 'not recorded' in the package: "
                     + ", ".join(data["incomplete"]) + " (see: dsarctl inventory check)")
    return lines


_COLUMNS = (Column("system", whole=True), Column("collection", whole=True), Column("records", whole=True),
            Column("status"))


def render_export(console, data) -> None:
    rows, styles = [], []
    for system in data["systems"]:
        if system["status"] == "manual":
            rows.append((system["system"], "", "", "manual task (not in the package)"))
            styles.append("yellow")
            continue
        for coll in system["collections"]:
            failed = coll["status"] == "failed"
            rows.append((system["system"], coll["collection"], str(coll["count"]),
                         f"FAILED: {coll.get('error', '')}" if failed else "ok"))
            styles.append("red" if failed else (None if coll["count"] else "dim"))
    table(console, _COLUMNS, rows, title=f"Records exported: {data['total']}", styles=styles)
    console.print(f"Wrote {data['file']} ({data['bytes']} bytes, {data['files']} files)", markup=False)
    console.print(f"SHA-256 {data['sha256']}", markup=False)
