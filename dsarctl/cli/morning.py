"""`dsarctl overdue` without typer: the morning check that cron runs, read by hand when its argument line is
one of the simple forms, so that it does not pay for importing typer and building the command line.

`parse` accepts only `[-i PATH | --inventory PATH | --inventory=PATH] overdue` followed, in any order, by at
most one `--json` and at most one `--within N` / `--within=N`. Anything else is None and goes through the
typer app (`dsarctl.cli.root`), which gives the help, the usage errors and the same results. `run` is the
command's body, called by both paths; `invoke` does around it what click's main does around a command.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional

from ..errors import ExitStatus
from ..wording import plural

if TYPE_CHECKING:
    from .state import State

DEFAULT_WITHIN = 7  # days; the typer command's default too


class Options(NamedTuple):
    inventory_path: Optional[Path]
    within: int
    json: bool


def parse(args: list[str]) -> Optional[Options]:
    """The options of a simple `dsarctl overdue` line, or None for any other line."""
    taken = inventory_option(args, "overdue")
    if taken is None:
        return None
    inventory, rest = taken
    within: Optional[int] = None
    json_ = False
    while rest:
        option = rest.pop(0)
        if option == "--json" and not json_:
            json_ = True
        elif within is None and (option == "--within" and rest or option.startswith("--within=")):
            within = _days(rest.pop(0) if option == "--within" else option[len("--within="):])
            if within is None:
                return None
        else:
            return None
    return Options(inventory, DEFAULT_WITHIN if within is None else within, json_)


def inventory_option(args: list[str], command: str) -> Optional[tuple[Optional[Path], list[str]]]:
    """(the inventory path given, the arguments after `command`) when the line is
    `[-i PATH | --inventory PATH | --inventory=PATH] COMMAND ...`, else None."""
    rest = list(args)
    inventory = None
    if rest and rest[0] != command:
        option = rest.pop(0)
        if option in ("-i", "--inventory") and rest:
            value = rest.pop(0)
        elif option.startswith("--inventory="):
            value = option[len("--inventory="):]
        else:
            return None
        if not plain_path(value):
            return None
        inventory = Path(value)  # what typer gives the root callback
    if not rest or rest.pop(0) != command:
        return None
    return inventory, rest


def plain_path(value: str) -> bool:
    """A path typer would pass on as it is: not an option, and (as its path type checks before the command
    runs) readable when it exists."""
    if not value or value.startswith("-") or "\0" in value:
        return False
    try:
        os.stat(value)
    except OSError:
        return True
    return os.access(value, os.R_OK)


def _days(value: str) -> Optional[int]:
    """An optional minus and ASCII digits as an int (click's int type reads the same), else None."""
    digits = value[1:] if value.startswith("-") else value
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return int(value)
    except ValueError:  # more digits than int() reads: click's own message
        return None


def invoke(options: Options) -> int:
    """`run` as typer's main runs a command (see `guarded`)."""
    from .state import State  # here, not at the top: `import dsarctl.cli` stays this light

    return guarded(lambda: run(State(inventory_path=options.inventory_path), options.within, options.json))


def guarded(command) -> int:
    """`command()` as typer's main runs a command: end of input aborts after a newline on stderr, an
    interrupt is exit 130 without a message, a closed stdout is exit 1 with later flushes silenced."""
    try:
        return command()
    except EOFError as exc:
        sys.stderr.write("\n")
        sys.stderr.flush()
        import typer  # the one abort main() maps; paid for only here

        raise typer.Abort() from exc
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = QuietFlush(sys.stdout)
        sys.stderr = QuietFlush(sys.stderr)
        sys.exit(1)


class QuietFlush:
    """A stream whose flush ignores a closed pipe, for the flushes at interpreter exit (click's
    PacifyFlushWrapper)."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)


def run(state: State, within: int, json_: bool) -> int:
    """The command: the report on stdout, exit 1 when any request is overdue or cannot be trusted (its
    stored row is not what the audit log recorded): cron acts on the code alone."""
    from .output import Output
    from .state import clock

    with state.request_book(settings_only=True) as book:
        _, today = clock(book)
        report = book.overdue(today, within=within)
    Output(json_).emit(report, render_overdue)
    return int(ExitStatus.NO) if report["overdue"] or report["untrusted"] else int(ExitStatus.OK)


def render_overdue(console, data: dict) -> None:
    def line(text: str, style: str | None = None) -> None:
        # never wrapped off a terminal (cron mail, grep: output.console_for); on one, between words
        console.print(text, style=style, markup=False, highlight=False)

    quiet = True
    if data["untrusted"]:
        quiet = False
        line(f"Cannot be trusted ({len(data['untrusted'])}): check the log with `dsarctl audit verify`", "bold red")
        for r in data["untrusted"]:
            logged = (f"the log says {r['logged_status']}, due {r['logged_due_date']}" if r["logged_status"]
                      else "the log has no record of it")
            row = (f"its row says {r['status']}, due {r['due_date']}" if r["status"]
                   else "it has no row (the subject is named only there)")
            line(f"  {r['id']}  {r['subject'] or '-'}  cannot be trusted: {r['problem']}; {logged}; {row}", "red")
    if data["overdue"]:
        quiet = False
        line(f"Overdue ({len(data['overdue'])}):", "bold red")
        for r in data["overdue"]:
            days = r["days_overdue"]
            line(f"  {r['id']}  {r['type']:<13} {r['subject']}  due {r['due_date']}, "
                 f"{plural(days, 'day')} overdue ({r['status']}, {r['regime']})", "red")
    if data["due_soon"]:
        quiet = False
        line(f"Due within {plural(data['within'], 'day')} ({len(data['due_soon'])}):", "bold")
        for r in data["due_soon"]:
            left = -r["days_overdue"]
            when = "today" if left == 0 else f"in {plural(left, 'day')}"
            line(f"  {r['id']}  {r['type']:<13} {r['subject']}  due {r['due_date']} ({when}; "
                 f"{r['status']}, {r['regime']})")
    if data["extension_notices"]:
        quiet = False
        line(f"Extension notices ({len(data['extension_notices'])}): "
             "to extend, tell the subject, with reasons, by", "bold")
        for r in data["extension_notices"]:
            left = r["days_left"]
            when = "today" if left == 0 else f"in {plural(left, 'day')}"
            line(f"  {r['id']}  {r['extension_notice_due']} ({when}); due {r['due_date']} unless extended")
    if data["open_tasks"]:
        quiet = False
        line(f"Open manual tasks ({len(data['open_tasks'])}):", "bold")
        for t in data["open_tasks"]:
            due = f", request due {t['request_due_date']}" if t.get("request_due_date") else ""
            line(f"  task {t['id']}  {t['system']} ({t['processor'] or 'no processor named'}) "
                 f"for {t['request_id'] or 'no request'}{due}  — confirm with: dsarctl task done {t['id']}")
    if quiet:
        line(f"Nothing overdue or due within {plural(data['within'], 'day')}; no open tasks.")
