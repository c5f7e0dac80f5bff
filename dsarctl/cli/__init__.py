"""The command line: a thin layer over the core. The root only wires the sub-apps together and maps
errors to exit codes, once, in main().

Each command's module is imported only when that command runs (click's lazy-loading pattern, through
Typer's `cls=`): `dsarctl --help` and the morning `dsarctl overdue` do not pay for building every
command's parameters. The root help lists the commands from `COMMANDS`; a test checks that table
against each command's own help.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from ..errors import DsarError, ExitStatus
from .common import State

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
    "task": ("task", "Manual tasks: processors dsarctl cannot reach, confirmed by a person."),
    "audit": ("audit", "The audit log: every request, step, run and task, hash-chained."),
}


def load_command(name: str):
    """The click command of `dsarctl NAME`, built from its module's Typer app (imported now)."""
    module = import_module(f"{__name__}.{COMMANDS[name][0]}")
    command = typer.main.get_command(module.app)
    command.name = name
    return command


class _LazyCommands(MutableMapping):
    """The root's commands: every name is known at once, each command is built on first access."""

    def __init__(self, names) -> None:
        self._names = list(names)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str):
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            self._built[name] = load_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self):
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def built(self, name: str):
        return self._built.get(name)


class LazyGroup(TyperGroup):
    """The root group: imports a command's module only when that command is invoked or asked for."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = _LazyCommands(COMMANDS)
        for name, command in self.commands.items():
            lazy[name] = command
        self.commands = lazy

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # names only: TyperGroup's own would build every command

    def format_commands(self, ctx, formatter) -> None:
        # The root help lists names and one-line helps from COMMANDS without importing any module; a
        # stand-in command gives each line exactly the shortening the real command's help would get.
        real = self.commands
        stand_ins = {name: real.built(name) or TyperCommand(name, help=COMMANDS[name][1]) for name in real}
        self.commands = stand_ins
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = real


app = typer.Typer(
    name="dsarctl",
    cls=LazyGroup,
    help="Answer data subject requests (GDPR, UK GDPR, CCPA, ...) from one inventory file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"dsarctl {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    inventory: Annotated[
        Optional[Path],
        typer.Option("--inventory", "-i", help="Inventory file (default $DSARCTL_INVENTORY, else ./inventory.yaml).",
                     show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = State(inventory_path=inventory)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app and turn every error into one line on stderr and an exit code."""
    debug = bool(os.environ.get("DSARCTL_DEBUG"))
    try:
        result = app(args=argv, prog_name="dsarctl", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except DsarError as exc:
        if debug:
            raise
        _error_line(str(exc))
        code = int(exc.exit_status)
    except typer.Abort:
        _error_line("aborted")
        code = int(ExitStatus.NO)
    except KeyboardInterrupt:
        _error_line("interrupted")
        code = int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # click's usage errors carry exit_code and format_message()
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _error_line(f"{where}{exc.format_message()}{hint}")
            code = int(exc.exit_code)
        else:
            if debug:
                raise
            _error_line(f"internal error: {type(exc).__name__}: {_redacted(str(exc))} "
                        "(set DSARCTL_DEBUG=1 for the traceback)")
            code = 70
    sys.stdout.flush()
    sys.exit(code)


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
