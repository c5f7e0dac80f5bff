"""Generate docs/cli.md from the commands' own --help (run after changing a command; a test fails
when the file has drifted):

    python scripts/cli_reference.py > docs/cli.md
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


def command_paths(command, prefix=()):
    yield prefix
    for name in sorted(getattr(command, "commands", {}) or {}):
        yield from command_paths(command.commands[name], prefix + (name,))


def help_text(path: tuple[str, ...]) -> str:
    from dsarctl.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([*path, "--help"])
        except SystemExit:
            pass
    return out.getvalue().rstrip() + "\n"


def generate() -> str:
    saved = dict(os.environ)
    os.environ.update(COLUMNS="100", NO_COLOR="1")
    os.environ.pop("TERM", None)
    try:
        return _generate()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _generate() -> str:
    import typer

    from dsarctl.cli import app

    root = typer.main.get_command(app)
    parts = ["# Command reference", "",
             "Generated from each command's `--help` by `python scripts/cli_reference.py > docs/cli.md`.", ""]
    for path in command_paths(root):
        title = " ".join(("dsarctl",) + path)
        parts += [f"## {title}", "", "```", help_text(path).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(generate())
