"""The one output object: commands build plain dicts, this decides between rich and JSON.

Data goes to stdout, messages to stderr. With --json stdout holds exactly one JSON document. Rich
honours NO_COLOR by itself; consoles are made per call so tests capturing sys.stdout see the output.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable


def jsonable(value: Any) -> Any:
    """json.dumps default: dates as ISO, decimals as numbers or text, bytes as hex, sets as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    decimal = sys.modules.get("decimal")  # not imported: no value can be a Decimal (and none is paid for)
    if decimal is not None and isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(data: Any, *, pretty: bool | None = None) -> str:
    """One JSON document: indented for a person when stdout is a terminal, else on one line.

    One line is what scripts and `jq` read, and it is written by the json module's C encoder: indenting
    goes through its pure-Python encoder, ~5 ms for the 80 requests of a morning `overdue --json`, which
    would be a third of that command's own cost."""
    if pretty is None:
        pretty = sys.stdout.isatty()
    return json.dumps(data, indent=2 if pretty else None, ensure_ascii=False, default=jsonable)


class Output:
    def __init__(self, json_mode: bool = False):
        self.json_mode = json_mode

    @property
    def out(self):
        from rich.console import Console

        return Console(file=sys.stdout, highlight=False, soft_wrap=False)

    @property
    def err(self):
        from rich.console import Console

        return Console(file=sys.stderr, highlight=False)

    def emit(self, data: Any, render: Callable[[Any, Any], None] | None = None) -> None:
        """Print a result: JSON with --json, else through `render(console, data)`."""
        if self.json_mode or render is None:
            sys.stdout.write(dumps(data) + "\n")
            sys.stdout.flush()
        else:
            render(self.out, data)

    def message(self, text: str, style: str | None = None) -> None:
        """A message for the person at the terminal (stderr, so --json stdout stays clean)."""
        self.err.print(text, style=style, markup=False, highlight=False)

    def warn(self, text: str) -> None:
        self.message(f"warning: {text}", style="yellow")

    def progress(self):
        """A status callback showing the collection being searched, on stderr when it is a terminal;
        `None` ends it. It starts with the first collection: a workflow may print (an erase waiting for
        another) before its search begins."""
        if not sys.stderr.isatty():
            return None
        console = self.err
        shown = []

        def update(what: str | None) -> None:
            if what is None:
                while shown:
                    shown.pop().stop()
                return
            if not shown:
                shown.append(console.status("searching…"))
                shown[0].start()
            shown[0].update(f"searching {what}…")

        return update
