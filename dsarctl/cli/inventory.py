"""`dsarctl inventory check|show|schema`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import ExitStatus
from ..wording import plural
from .common import JsonOpt, state
from .output import Output, dumps

app = typer.Typer(help="Validate and show the inventory (the data map).",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)

FORMATS = ("table", "json", "markdown", "csv")


@app.command("check")
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
            console.print(f"{f.level}: {f.system}: {f.message}{where}", style=style or None, markup=False,
                          soft_wrap=True)
        verdict = "has errors" if errors else "is valid"
        console.print(f"{inventory.path.name} {verdict}: {plural(data['systems'], 'system')}, "
                      f"{plural(data['collections'], 'collection')}"
                      + (" (sources reached)" if connect and not errors else ""), markup=False)

    out.emit(data, render)
    if errors:
        # the inventory naming what a source lacks is bad input (2); a source that cannot be reached is 3
        bad_input = any(f.exit_status == ExitStatus.BAD_INPUT for f in errors)
        raise typer.Exit(ExitStatus.BAD_INPUT if bad_input else ExitStatus.SOURCE_FAILED)


@app.command("show")
def show(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", "-f", help="table, json, markdown or csv.")] = "table",
    json_: JsonOpt = False,
) -> None:
    """The record of processing: systems, categories, purposes, lawful basis, retention, recipients."""
    from ..errors import UsageError
    from ..inventory.record import record_of_processing, to_csv, to_markdown

    if format not in FORMATS:
        raise UsageError(f"--format: unknown format '{format}' (one of: {', '.join(FORMATS)})")
    data = record_of_processing(state(ctx).inventory())
    if json_ or format == "json":
        Output(True).emit(data)
    elif format == "markdown":
        sys.stdout.write(to_markdown(data))
    elif format == "csv":
        sys.stdout.write(to_csv(data))
    else:
        from rich.table import Table

        from ..inventory.record import _cell

        table = Table(title=f"Record of processing — {data['controller']['name']}", show_lines=True)
        shown = ["system", "collection", "categories", "purposes", "lawful_basis", "retention", "recipients",
                 "source", "automated_decisions", "transfers", "erase"]
        for col in shown:
            table.add_column(col.replace("_", " "), overflow="fold")
        for row in data["systems"]:
            table.add_row(*[_cell(row.get(col)) for col in shown])
        Output().out.print(table)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of inventory.yaml (for editors: yaml-language-server)."""
    from ..inventory.schema import inventory_json_schema

    sys.stdout.write(dumps(inventory_json_schema()) + "\n")
