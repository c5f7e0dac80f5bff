"""`dsarctl inventory check|show|schema`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import ExitStatus
from ..wording import plural
from .common import Command, Group, JsonOpt, choice, completer, examples, state
from .output import Column, Output, dumps, table

app = typer.Typer(cls=Group, help="Validate and show the inventory (the data map).",
                  epilog=examples(("Check the file, then reach every source", "dsarctl inventory check --connect"),
                                  ("The record of processing for the DPO, as Markdown",
                                   "dsarctl inventory show --format markdown > ropa.md")),
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)

FORMATS = ("table", "json", "markdown", "csv")


@app.command("check", cls=Command, epilog=examples(
    ("Is the file valid (keys, identities, erase rules)?", "dsarctl inventory check"),
    ("Also reach every source: tables, columns, files, folders, indexes", "dsarctl -i inventory.yaml inventory check --connect"),
))
def check(
    ctx: typer.Context,
    connect: Annotated[bool, typer.Option("--connect", help="Also reach every source and compare it with the inventory.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Validate the inventory and warn about missing Art. 15 information; with --connect also reach every
    source and advise."""
    from ..checks import check_sources
    from ..inventory.art15 import findings as art15_findings

    out = Output(json_)
    inventory = state(ctx).inventory()
    findings = art15_findings(inventory) + (check_sources(inventory) if connect else [])
    errors = [f for f in findings if f.level == "error"]
    data = {
        "inventory": str(inventory.path),
        "valid": not errors,
        "systems": len(inventory.systems),
        "collections": sum(len(s.collections) for s in inventory.systems.values()),
        "connected": connect,
        "findings": [f.to_dict() for f in findings],
    }

    def render(console, data):
        for f in findings:
            style = {"error": "red", "warning": "yellow"}.get(f.level, "")
            where = f" ({f.where})" if f.where and f.level != "error" else ""
            # one line each off a terminal (output.console_for); on one, wrapped between words
            console.print(f"{f.level}: {f.system}: {f.message}{where}", style=style or None, markup=False, hang=2)
        verdict = "has errors" if errors else "is valid"
        console.print(f"{inventory.path.name} {verdict}: {plural(data['systems'], 'system')}, "
                      f"{plural(data['collections'], 'collection')}"
                      + (" (sources reached)" if connect and not errors else ""), markup=False)

    out.emit(data, render)
    if errors:
        # the inventory naming what a source lacks is bad input (2); a source that cannot be reached is 3
        bad_input = any(f.exit_status == ExitStatus.BAD_INPUT for f in errors)
        raise typer.Exit(ExitStatus.BAD_INPUT if bad_input else ExitStatus.SOURCE_FAILED)


@app.command("show", cls=Command, epilog=examples(
    ("The data map on screen", "dsarctl inventory show"),
    ("For a spreadsheet or a document", "dsarctl inventory show --format csv > ropa.csv"),
    ("", "dsarctl inventory show --format markdown > ropa.md"),
))
def show(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", autocompletion=completer(FORMATS),
                                        help="table, json, markdown or csv.")] = "table",
    json_: JsonOpt = False,
) -> None:
    """The record of processing: systems, categories, purposes, lawful basis, retention, recipients."""
    from ..inventory.record import record_of_processing, to_csv, to_markdown

    choice(format, FORMATS, "--format", "format")
    data = record_of_processing(state(ctx).inventory())
    if json_ or format == "json":
        Output(True).emit(data)
    elif format == "markdown":
        sys.stdout.write(to_markdown(data))
    elif format == "csv":
        sys.stdout.write(to_csv(data))
    else:
        from ..inventory.record import _cell

        table(Output().out, _SHOW_COLUMNS, [[_cell(row.get(key)) for key in _SHOWN] for row in data["systems"]],
              title=f"Record of processing — {data['controller']['name']}", lines=True)


_SHOWN = ("system", "collection", "categories", "purposes", "lawful_basis", "retention", "recipients", "source",
          "automated_decisions", "transfers", "erase")
# on a narrow terminal: the source goes first, then transfers, automated decisions, recipients, retention,
# lawful basis, purposes, the erase rule
_SHOW_COLUMNS = (Column("system", whole=True), Column("collection", whole=True), Column("categories"),
                 Column("purposes", drop=7), Column("lawful basis", drop=6), Column("retention", drop=5),
                 Column("recipients", drop=4), Column("source", drop=1), Column("automated decisions", drop=3),
                 Column("transfers", drop=2), Column("erase", drop=8))


@app.command("schema", cls=Command, epilog=examples(
    ("For editors that validate YAML as you type (yaml-language-server)",
     "dsarctl inventory schema > inventory.schema.json"),
))
def schema() -> None:
    """Print the JSON Schema of inventory.yaml (for editors: yaml-language-server)."""
    from ..inventory.schema import inventory_json_schema

    sys.stdout.write(dumps(inventory_json_schema()) + "\n")
