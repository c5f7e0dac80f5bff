"""The one output object: commands build plain dicts, this decides how they are shown.

Data goes to stdout, messages to stderr. With --json stdout holds exactly one JSON document. Rich
honours NO_COLOR by itself; consoles are made per call so tests capturing sys.stdout see the output.

Output fits where it goes (see `table`):

- on a terminal, a table keeps identifiers whole (an e-mail, a request id, a date is never broken);
  other columns wrap at spaces, and when even that does not fit, the columns of least value go first
  (each column says when: `Column.drop`); a screen too narrow for the identifiers alone gets each record
  as a block of `label: value` lines;
- piped or redirected, a table is one line per record, its fields separated by tabs, no header and no
  wrapping (as `gh` does): `dsarctl request list | grep alice@example.com` finds her whole line;
- a stream that is not a terminal is never wrapped: messages on stderr stay one line each.

Dates are shown as the controller's local dates, and times with their zone (`local_date`, `local_time`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence


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


def console_for(stream):
    """A rich console on `stream`: on a terminal, lines wrap between words at its width, and a word longer
    than a line (a SHA-256, a long path) is left whole for the terminal to show; elsewhere (a pipe, a file,
    cron's mail) nothing is wrapped: one line stays one line, whatever COLUMNS says. `print(text, hang=N)`
    indents a wrapped line's continuation N columns more than the line (an event, a request: one record)."""
    from rich.console import Console

    class WholeWords(Console):
        def print(self, *objects, hang: Optional[int] = None, **kwargs) -> None:
            if not self.soft_wrap and not kwargs.get("soft_wrap") and len(objects) == 1 and isinstance(objects[0], str):
                # rich would fold a word longer than the line across two: wrap between words only
                objects = (wrap_words(objects[0], self.width, hang),)
                kwargs["soft_wrap"] = True
            super().print(*objects, **kwargs)

    terminal = _isatty(stream)
    return WholeWords(file=stream, highlight=False, soft_wrap=not terminal)


def wrap_words(text: str, width: int, hang: Optional[int] = None) -> str:
    """`text` wrapped between words to `width`, each line's continuation indented as the line is (and `hang`
    columns more; by default 2 for an indented line, none for another); a word longer than a line (an
    e-mail, a SHA-256) stays whole on a line of its own."""
    import textwrap

    lines = []
    for line in text.split("\n"):
        indent = line[:len(line) - len(line.lstrip(" "))]
        more = " " * (hang if hang is not None else 2 if indent else 0)
        lines.extend(textwrap.wrap(line, width, subsequent_indent=indent + more,
                                   break_long_words=False, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    def __init__(self, json_mode: bool = False):
        self.json_mode = json_mode

    @property
    def out(self):
        return console_for(sys.stdout)

    @property
    def err(self):
        return console_for(sys.stderr)

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

    def confirm(self, question: str) -> bool:
        """Ask `question [y/N]` on stderr and read the answer from stdin: True for y/yes, False for n/no, an
        empty line or the end of input (Ctrl-D). Ctrl-C is not an answer: it interrupts (exit 130)."""
        while True:
            try:
                sys.stderr.write(f"{question} [y/N]: ")
                sys.stderr.flush()
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                sys.stderr.write("\n")  # "interrupted" goes on a line of its own, not after the question
                raise
            if not line:
                sys.stderr.write("\n")
                return False
            answer = line.strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False
            sys.stderr.write("Please answer y or n.\n")

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


# --- tables -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of `table`. `whole`: an identifier (e-mail, id, date), never wrapped nor cut. `drop`: on a
    terminal too narrow for every column, columns go in ascending `drop` order (1 first); 0 never goes."""

    header: str
    whole: bool = False
    drop: int = 0


def table(console, columns: Sequence[Column], rows: Sequence[Sequence[Any]], *, title: Optional[str] = None,
          styles: Optional[Sequence[Optional[str]]] = None, lines: bool = False) -> None:
    """Print `rows` (one value per column; None is empty) as fits `console` (see the module's docstring)."""
    cells = [[_cell(v) for v in row] for row in rows]
    if not _isatty(console.file):
        # written as it is: rich would expand the tabs into spaces
        console.file.write("".join(line + "\n" for line in ([title] if title else []) + ["\t".join(r) for r in cells]))
        console.file.flush()
        return
    widths = layout(columns, cells, console.width)
    if widths is None:
        _blocks(console, columns, cells, title, styles)
        return
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_edge=False, show_lines=lines)
    for i, width in widths.items():
        grid.add_column(columns[i].header, no_wrap=columns[i].whole, overflow="fold", width=width)
    for n, row in enumerate(cells):
        grid.add_row(*[row[i] for i in widths], style=styles[n] if styles else None)
    console.print(grid)


def layout(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> Optional[dict[int, int]]:
    """{column index: text width} of the columns shown in a table `width` wide: identifiers whole, other
    columns narrowed (widest first) but never below their longest word, and the columns of least value
    dropped first while even that does not fit; None when the columns never dropped do not fit."""
    kept = list(range(len(columns)))
    order = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: columns[i].drop)
    while True:
        # rich's padding (a space each side of a cell) and one separator between columns
        room = width - 3 * len(kept) + 1
        widths = {i: _longest(columns[i], cells, i) for i in kept}
        least = {i: widths[i] if columns[i].whole else _longest_word(columns[i], cells, i) for i in kept}
        if sum(least.values()) <= room:
            break
        if not order:
            return None
        kept.remove(order.pop(0))
    while sum(widths.values()) > room:
        widest = max((i for i in kept if widths[i] > least[i]), key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _longest(column: Column, cells, i: int) -> int:
    from rich.cells import cell_len  # columns on screen: a wide character (CJK) takes two

    return max([cell_len(column.header)] + [cell_len(row[i]) for row in cells])


def _longest_word(column: Column, cells, i: int) -> int:
    from rich.cells import cell_len

    words = column.header.split() + [w for row in cells for w in row[i].split()]
    return max([1] + [cell_len(w) for w in words])


def _blocks(console, columns, cells, title, styles) -> None:
    """Each record as its first value on a line, then `header: value` lines: for a screen too narrow for a
    table (the lines may wrap, between words, but no identifier is cut)."""
    if title:
        console.print(title, markup=False, highlight=False)
    for n, row in enumerate(cells):
        console.print(row[0], markup=False, highlight=False, style=styles[n] if styles else None)
        for column, value in zip(columns[1:], row[1:]):
            if value:
                console.print(f"  {column.header}: {value}", markup=False, highlight=False)


def _cell(value: Any) -> str:
    """A cell's text on one line (a tab or newline inside a value would split a piped record)."""
    if value is None:
        return ""
    return " ".join(str(value).split()) if any(c in str(value) for c in "\t\n\r") else str(value)


# --- dates --------------------------------------------------------------------------------------------------


def local_date(value: Optional[str], tz: str) -> str:
    """An ISO datetime as the date it was in the controller's zone `tz` (the legal date: a request received
    at 00:30 in London on 1 October was received on 1 October, whatever UTC says); a date as it is."""
    if not value:
        return ""
    when = _aware(value)
    if when is None:
        return value[:10]
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(tz)).date().isoformat()


def local_time(value: Optional[str], tz: str) -> str:
    """An ISO datetime as the controller's local time with its zone: `2026-10-01 00:00 BST (UTC+01:00)`."""
    if not value:
        return ""
    when = _aware(value)
    if when is None:
        return value
    from zoneinfo import ZoneInfo

    local = when.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    name = local.tzname() or ""
    shown = f"{name} ({offset})" if name and not name.startswith(("+", "-", "UTC")) else offset
    return f"{local:%Y-%m-%d %H:%M} {shown}"


def _aware(value: str) -> Optional[datetime]:
    if len(value) <= 10:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
