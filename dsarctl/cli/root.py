"""The root command: the Typer app that wires the sub-apps together, each loaded only when it runs.

Each command's module is imported only when that command runs (click's lazy-loading pattern, through
Typer's `cls=`): `dsarctl --help` does not pay for building every command's parameters. The root help lists
the commands from `COMMANDS`; a test checks that table against each command's own help. Errors are mapped
to exit codes in `dsarctl.cli.main`, not here.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .. import __version__
from . import COMMANDS
from .help import Group, examples
from .state import State


def load_command(name: str):
    """The click command of `dsarctl NAME`, built from its module's Typer app (imported now)."""
    module = import_module(f"{__package__}.{COMMANDS[name][0]}")
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


class LazyGroup(Group):
    """The root group: imports a command's module only when that command is invoked or asked for."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = _LazyCommands(COMMANDS)
        for name, command in self.commands.items():
            lazy[name] = command
        self.commands = lazy

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # names only: TyperGroup's own would build every command

    def summaries(self, ctx) -> list[tuple[str, str]]:
        # from COMMANDS, without importing any module (a test checks them against each command's own help)
        return [(name, COMMANDS[name][1]) for name in self.commands]


app = typer.Typer(
    name="dsarctl",
    cls=LazyGroup,
    help="Answer data subject requests (GDPR, UK GDPR, CCPA, ...) from one inventory file.",
    epilog=examples(
        ("Create the demo company's sources, then find a person in every system",
         "dsarctl demo && dsarctl find alice@example.com"),
        ("Open a request that arrived on 20 November", "dsarctl request new alice@example.com --type access --received 2026-11-20"),
        ("Every morning: what is late or due soon", "dsarctl overdue"),
        ("Use another inventory", "dsarctl -i /srv/privacy/inventory.yaml request list"),
        ("Shell completion: bash (add to ~/.bashrc), zsh (to ~/.zshrc, after compinit), fish",
         'eval "$(dsarctl --completion bash)"'),
        ("", 'eval "$(dsarctl --completion zsh)"'),
        ("", "dsarctl --completion fish > ~/.config/fish/completions/dsarctl.fish"),
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SHELLS = ("bash", "zsh", "fish")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"dsarctl {__version__}\n")
        raise typer.Exit(0)


def _completion(value: Optional[str]) -> None:
    """Print the completion script of SHELL: what `eval "$(dsarctl --completion bash)"` loads."""
    if value is None:
        return
    if value not in SHELLS:
        from ..errors import UsageError

        from .common import did_you_mean

        raise UsageError(f"--completion: unknown shell '{value}'{did_you_mean(value, SHELLS)}")
    from typer.completion import get_completion_script

    sys.stdout.write(get_completion_script(prog_name="dsarctl", complete_var="_DSARCTL_COMPLETE",
                                           shell=value).strip() + "\n")
    raise typer.Exit(0)


def _complete_shells(incomplete: str) -> list[str]:
    return [shell for shell in SHELLS if shell.startswith(incomplete)]


@app.callback()
def root(
    ctx: typer.Context,
    inventory: Annotated[
        Optional[Path],
        typer.Option("--inventory", "-i", metavar="FILE", show_default=False,
                     help="Inventory file (default $DSARCTL_INVENTORY, else ./inventory.yaml)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    completion: Annotated[
        Optional[str], typer.Option(
            "--completion", metavar="SHELL", callback=_completion, is_eager=True, show_default=False,
            autocompletion=_complete_shells,
            help="Print the shell completion script for SHELL (bash, zsh or fish) and exit; see Examples "
                 "for how to install it.")
    ] = None,
) -> None:
    ctx.obj = State(inventory_path=inventory)
