"""The command line: a thin layer over the core. The root (`root.app`, a Typer app) only wires the sub-apps
together; errors are mapped to exit codes once, here, in main().

Typer is imported only when the argument line needs it: the morning `dsarctl overdue` in the simple forms
cron uses is read by `morning.parse`, and `dsarctl find SUBJECT [--json]` by `lookup.parse`, and run
without it, with the same output and exit codes. Each
command's module is imported only when that command runs (see `root`). The root help lists the commands from
`COMMANDS`; a test checks that table against each command's own help.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from ..errors import DsarError, ExitStatus
from . import morning

# name -> (module in dsarctl.cli exposing `app`, the first paragraph of the command's help), in the order
# `dsarctl --help` lists them (commands, then groups).
COMMANDS: dict[str, tuple[str, str]] = {
    "find": ("find", "Where the subject's data is: per system and collection, the records and how they "
                     "were reached."),
    "export": ("export", "The access package: a zip with every record found, index.html and manifest.json "
                         "(Art. 15 and 20)."),
    "erase": ("erase", "Plan, confirm, erase, then search again and report what remains and why "
                       "(GDPR Art. 17)."),
    "overdue": ("overdue", "What is late or due soon: overdue requests, due soon, extension notices to "
                           "send, open manual tasks."),
    "demo": ("demo", "Create the demo company's data sources that the inventory points at (in demo/)."),
    "inventory": ("inventory", "Validate and show the inventory (the data map)."),
    "suppress": ("suppress", "The suppression list: erased subjects who must not be re-imported."),
    "request": ("request", "Open data subject requests and record each step: verify, pause, resume, "
                           "extend, close, deny."),
    "letter": ("letter", "The message to the subject for a step of the request, from templates: an .eml draft, "
                         "recorded in the audit log (and sent with --send)."),
    "task": ("task", "Manual tasks: processors dsarctl cannot reach, confirmed by a person."),
    "audit": ("audit", "The audit log: every request, step, run and task, hash-chained."),
}


def __getattr__(name: str):
    """`app` and `load_command` come from `root`, imported (with typer) on first use."""
    if name in ("app", "load_command"):
        from . import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the command and turn every error into one line on stderr and an exit code."""
    debug = bool(os.environ.get("DSARCTL_DEBUG"))
    restore = _stop_on_signals()
    try:
        code = _run(argv)
        if code == ExitStatus.INTERRUPTED:  # typer's main turns Ctrl-C into exit 130, silently
            raise KeyboardInterrupt
    except DsarError as exc:
        if debug:
            raise
        _error_line(str(exc))
        code = int(exc.exit_status)
    except KeyboardInterrupt:
        _error_line("interrupted")
        code = int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # click's usage errors carry exit_code and format_message()
        if _is_abort(exc):
            _error_line("aborted")
            code = int(ExitStatus.NO)
        elif type(exc).__name__ == "NoArgsIsHelpError":
            # a bare `dsarctl` or `dsarctl request`: its usage and help, as --help prints them
            sys.stdout.write(exc.ctx.get_help() + "\n")
            code = int(ExitStatus.OK)
        elif hasattr(exc, "exit_code") and hasattr(exc, "format_message"):
            code = _usage_error(exc)
        else:
            if debug:
                raise
            _error_line(f"internal error: {type(exc).__name__}: {_redacted(str(exc))} "
                        "(set DSARCTL_DEBUG=1 for the traceback)")
            code = 70
    finally:
        restore()
    sys.stdout.flush()
    sys.exit(code)


def _stop_on_signals():
    """Make SIGTERM and SIGHUP stop the command as Ctrl-C does: a KeyboardInterrupt in the main thread,
    so that every `finally` runs (a file rewrite removes its temporary copy, other units of an erase
    stop before they replace a file or commit) and the exit is 130. Returns what puts the previous
    handlers back (main() may run in a process that has its own, such as a test)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, interrupt)

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)

    return restore


def _run(argv: Optional[list[str]]) -> int:
    """The command's exit code: the simple `overdue` and `find` lines without typer, every other line through
    the app."""
    # typer's path also answers shell completion (_DSARCTL_COMPLETE) and, on Windows, expands the wildcards
    # in sys.argv: the fast path does neither, so it steps aside for both
    simple = not os.environ.get("_DSARCTL_COMPLETE") and (argv is not None or os.name != "nt")
    args = sys.argv[1:] if argv is None else argv
    options = morning.parse(args) if simple else None
    if options is not None:
        return morning.invoke(options)
    if simple and "find" in args:
        from . import lookup

        found = lookup.parse(args)
        if found is not None:
            return lookup.invoke(found)
    if os.environ.get("_DSARCTL_COMPLETE"):
        from typer.completion import completion_init

        completion_init()  # registers typer's bash, zsh and fish completion (add_completion=False skips it)
    from .root import app

    result = app(args=argv, prog_name="dsarctl", standalone_mode=False)
    return result if isinstance(result, int) else 0


def _usage_error(exc) -> int:
    """click's usage error in one line, naming the subcommand (not `dsarctl` twice) and where its help is."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else ""
    where = f"{path.split(' ', 1)[1]}: " if " " in path else ""
    hint = f" (see '{path} --help')" if path else ""
    _error_line(f"{where}{exc.format_message()}{hint}")
    return int(exc.exit_code)


def _is_abort(exc: Exception) -> bool:
    """typer.Abort (a confirmation refused), looked up only where typer is already imported."""
    typer = sys.modules.get("typer")
    return typer is not None and isinstance(exc, typer.Abort)


def _redacted(text: str) -> str:
    """An unexpected error's text without database passwords (from URLs or any loaded inventory)."""
    from ..inventory.loader import LOADED_SECRETS
    from ..inventory.model import redact_url

    text = redact_url(text)
    for secret in LOADED_SECRETS:
        text = text.replace(secret, "***")
    return text


def _error_line(message: str) -> None:
    text = " ".join(str(message).split()) if "\n" in str(message) else str(message)
    sys.stderr.write(f"dsarctl: error: {text}\n")
    sys.stderr.flush()
