"""The command line: a thin layer over the core. The root only wires the sub-apps together and maps
errors to exit codes, once, in main()."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from ..errors import DsarError, ExitStatus
from . import audit as audit_cmd
from . import demo as demo_cmd
from . import erase as erase_cmd
from . import export as export_cmd
from . import find as find_cmd
from . import inventory as inventory_cmd
from . import overdue as overdue_cmd
from . import request as request_cmd
from . import suppress as suppress_cmd
from . import task as task_cmd
from .common import State

app = typer.Typer(
    name="dsarctl",
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


# In the order a support person meets them: the data map, then a subject, then requests and the log.
app.add_typer(inventory_cmd.app, name="inventory")
find_cmd.register(app)
export_cmd.register(app)
erase_cmd.register(app)
app.add_typer(suppress_cmd.app, name="suppress")
app.add_typer(request_cmd.app, name="request")
overdue_cmd.register(app)
app.add_typer(task_cmd.app, name="task")
app.add_typer(audit_cmd.app, name="audit")
demo_cmd.register(app)


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
