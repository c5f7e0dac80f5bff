"""`dsarctl suppress check VALUE` and `dsarctl suppress filter FILE.csv --column C`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitStatus, UsageError
from ..wording import plural
from .common import Command, Group, JsonOpt, examples, state
from .output import Output

app = typer.Typer(cls=Group, help="The suppression list: erased subjects who must not be re-imported.",
                  epilog=examples(("Was this address erased (exit 0) or not (exit 1)?",
                                   "dsarctl suppress check alice@example.com"),
                                  ("Drop erased people from a list before importing it",
                                   "dsarctl suppress filter import.csv --column email -o clean.csv")),
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)


@app.command("check", cls=Command, epilog=examples(
    ("An e-mail address", "dsarctl suppress check alice@example.com"),
    ("Another kind of identifier, in a script", "dsarctl suppress check customer_id:1042 --json"),
))
def check(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(metavar="IDENTIFIER", show_default=False,
                                         help="An identifier: an e-mail, +phone, or KIND:VALUE.")],
    json_: JsonOpt = False,
) -> None:
    """Whether IDENTIFIER is on a suppression list (exit 0 yes, 1 no)."""
    from ..suppress import check as check_value

    out = Output(json_)
    data = check_value(state(ctx).inventory(), value)
    out.emit(data, lambda console, d: console.print(
        f"{d['identifier']}: suppressed in {', '.join(d['systems'])}" if d["suppressed"]
        else f"{d['identifier']}: not suppressed", markup=False))
    if not data["suppressed"]:
        raise typer.Exit(ExitStatus.NO)


@app.command("filter", cls=Command, epilog=examples(
    ("A newsletter import without the people who asked to be erased",
     "dsarctl suppress filter import.csv --column email -o clean.csv"),
    ("Phone numbers, checked against one system's list only",
     "dsarctl suppress filter calls.csv -c number --kind phone --system crm > clean.csv"),
))
def filter_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", show_default=False,
                                         help="The import file (CSV with a header row).")],
    column: Annotated[str, typer.Option("--column", "-c", metavar="COLUMN", show_default=False,
                                        help="The column holding the identifier.")],
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND", show_default=False,
                                                help="Identifier kind of the column (default: the e-mail kind).")] = None,
    system: Annotated[Optional[str], typer.Option("--system", metavar="SYSTEM", show_default=False,
                                                  help="Only this system's suppression list (default: any).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                   help="Write here instead of stdout (never overwritten).")] = None,
) -> None:
    """Copy FILE without the rows whose COLUMN holds a suppressed identifier (counts on stderr)."""
    from ..suppress import filter_csv

    out = Output(False)
    inventory = state(ctx).inventory()
    try:
        source = open(file, newline="", encoding="utf-8-sig", errors="surrogateescape")  # bad bytes: file:line
    except OSError as exc:
        raise UsageError(f"{file}: cannot read ({exc.strerror})") from None
    with source:
        if output is not None:
            if output.exists():
                raise UsageError(f"{output}: already exists; not overwriting it")
            # written aside and linked into place whole: a bad row never leaves half a file behind
            import secrets  # here: it loads hashlib (OpenSSL), which no command module may at import

            aside = output.with_name(f".{output.name}.{secrets.token_hex(6)}.part")
            try:
                with open(aside, "x", newline="", encoding="utf-8") as target:
                    result = filter_csv(inventory, source, target, column, kind=kind, system=system)
                try:
                    os.link(aside, output)
                except FileExistsError:
                    raise UsageError(f"{output}: already exists; not overwriting it") from None
            finally:
                aside.unlink(missing_ok=True)
        else:
            result = filter_csv(inventory, source, sys.stdout, column, kind=kind, system=system)
    out.message(f"kept {plural(result.kept, 'row')}, dropped {result.dropped} suppressed"
                + (f"; {result.unreadable} without a valid identifier kept" if result.unreadable else ""))
