"""`dsarctl demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import Command, JsonOpt, examples, state
from .output import Output


app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command("demo", cls=Command, epilog=examples(
    ("Create the demo sources next to the inventory, then try a search", "dsarctl demo && dsarctl find alice@example.com"),
    ("Start again from fresh demo data", "dsarctl demo --force"),
))
def demo(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Recreate the demo sources even if they exist.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Create the demo company's data sources that the inventory points at (in demo/)."""
    import os

    from ..demo import create_demo

    out = Output(json_)
    inventory = state(ctx).inventory()
    written = create_demo(inventory, force=force)
    paths = [os.path.relpath(p, inventory.base_dir) for p in written]
    out.emit({"created": paths, "inventory": str(inventory.path)},
             lambda console, d: console.print(
                 "\n".join(f"created {p}" for p in d["created"])
                 or "demo sources already exist (use --force to recreate them)", markup=False))
