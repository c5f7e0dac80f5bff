"""Start-up cost (issue 6): each command imports only what it uses.

`dsarctl --help` builds no command and imports no command module; the commands a person runs often
(`overdue` every morning, `find`, which records a run in the audit log) do not import sqlite-utils once the
log exists, nor the modules of other commands; the morning `overdue` in the forms cron uses does not import
typer at all (dsarctl.cli.morning). Timing is measured by benchmarks/run.py; these tests pin the imports that
the timing depends on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "sqlite_utils", "holidays", "dateutil", "jinja2", "ruamel", "phonenumbers", "pydantic",
         "hashlib", "email", "decimal")
WATCHED = HEAVY + ("typer", "rich")  # the CLI libraries: reported too, for the commands that can skip them
ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import io, json, sys
from contextlib import redirect_stdout
from dsarctl.cli import main
for args in json.loads(sys.argv[1]):
    try:
        with redirect_stdout(io.StringIO()):
            main(args)
    except SystemExit:
        pass
loaded = sorted(m for m in sys.modules
                if m.split('.')[0] in {heavy} or m.startswith(('dsarctl.cli.', 'dsarctl.connectors')))
sys.stderr.write('LOADED=' + json.dumps(loaded) + '\\n')
"""


def loaded_after(*runs: list[str], cwd=None) -> set[str]:
    """The heavy modules, typer, rich and dsarctl.cli submodules a fresh interpreter holds after the runs."""
    code = _PROBE.replace("{heavy}", repr(set(WATCHED)))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(list(runs))], capture_output=True, text=True,
                          timeout=120, cwd=cwd,
                          env={"PATH": "", "NO_COLOR": "1", "DSARCTL_NOW": "2026-02-10T09:00:00Z",
                               "DSARCTL_OPERATOR": "ann", "DSARCTL_CACHE_DIR": os.environ["DSARCTL_CACHE_DIR"]})
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line, proc.stderr
    return set(json.loads(line[-1][len("LOADED="):]))


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules if not m.startswith("dsarctl.")}


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"]])
def test_root_help_builds_no_command(args):
    loaded = loaded_after(args)
    assert {m for m in loaded if m.startswith("dsarctl.")} <= {
        "dsarctl.cli.morning", "dsarctl.cli.root", "dsarctl.cli.state", "dsarctl.cli.help"}, loaded
    assert not tops(loaded) & set(HEAVY), loaded


def test_command_modules_import_nothing_heavy():
    from dsarctl.cli import COMMANDS

    code = ("import sys, importlib\n"
            f"for name in {sorted({m for m, _ in COMMANDS.values()})!r}:\n"
            "    importlib.import_module('dsarctl.cli.' + name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_overdue_loads_only_its_command_and_no_sqlite_utils(demo_dir):
    inventory = str(demo_dir / "inventory.yaml")
    loaded_after(["-i", inventory, "request", "new", "zed@example.com", "--type", "access"])  # creates the log (its migrations use sqlite-utils)
    loaded = loaded_after(["-i", inventory, "overdue", "--json"])
    assert {m for m in loaded if m.startswith("dsarctl.cli.")} <= {
        "dsarctl.cli.morning", "dsarctl.cli.state", "dsarctl.cli.output"}, loaded
    # the inventory was parsed by the first run and comes from the cache (no ruamel); overdue reads only
    # the settings (no connector, no e-mail parsing), hashes nothing (no hashlib, which loads OpenSSL),
    # prints no Decimal; calendars are checked against known_codes; the argument line is read without
    # typer, and JSON is written without rich
    assert not tops(loaded) & set(WATCHED), loaded
    assert not {m for m in loaded if m.startswith("dsarctl.connectors")}, loaded
    # the tables need rich, still not typer; a line the fast path does not read goes through typer
    assert tops(loaded_after(["-i", inventory, "overdue", "--within", "3"])) & {"typer", "rich"} == {"rich"}
    assert "typer" in tops(loaded_after(["-i", inventory, "overdue", "--json", "--json"]))


@pytest.mark.parametrize("entry", ["python -m dsarctl", "console script"])
def test_the_morning_check_imports_no_typer_through_its_real_entry_points(demo_dir, entry):
    """What cron runs: `-X importtime` lists every module the process imported."""
    inventory = str(demo_dir / "inventory.yaml")
    start = ([sys.executable, "-m", "dsarctl"] if entry == "python -m dsarctl"
             else [sys.executable, str(Path(sys.executable).with_name("dsarctl"))])
    env = dict(os.environ, NO_COLOR="1", DSARCTL_NOW="2026-02-10T09:00:00Z")
    # cron checks a log that exists (before the first run records anything, overdue answers from an empty
    # log in memory, built with sqlite-utils, and creates no file: see audit_marker)
    loaded_after(["-i", inventory, "request", "new", "zed@example.com", "--type", "access"])
    proc = subprocess.run([*start, "-i", inventory, "overdue", "--json"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["overdue"] == [], proc
    proc = subprocess.run([sys.executable, "-X", "importtime", *start[1:], "-i", inventory, "overdue", "--json"],
                          capture_output=True, text=True, timeout=60, env=env)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "dsarctl.cli.morning" in imported and "json" in imported, proc.stderr
    assert not {m for m in imported if m.split(".")[0] in ("typer", "rich", "click")}, imported


def _reference(title: str) -> str:
    """The help of `title` in docs/cli.md (generated with COLUMNS=100 and NO_COLOR)."""
    text = (ROOT / "docs" / "cli.md").read_text()
    return text.split(f"## {title}\n\n```\n", 1)[1].split("\n```\n", 1)[0] + "\n"


@pytest.mark.parametrize("args, title", [
    (["-i", "INVENTORY", "overdue", "--help"], "dsarctl overdue"),
    (["-i", "INVENTORY", "overdue", "--json", "-h"], "dsarctl overdue"),
    (["--help"], "dsarctl"),
])
def test_help_still_comes_from_typer(demo_dir, args, title):
    args = [str(demo_dir / "inventory.yaml") if a == "INVENTORY" else a for a in args]
    env = {k: v for k, v in os.environ.items() if k != "TERM"}
    proc = subprocess.run([sys.executable, "-m", "dsarctl", *args], capture_output=True, text=True, timeout=60,
                          env=dict(env, COLUMNS="100", NO_COLOR="1"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, _reference(title), "")
    if title == "dsarctl":
        from dsarctl.cli import COMMANDS

        listed = proc.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert [line.split()[0] for line in listed if not line.startswith("   ")] == list(COMMANDS)


def test_find_records_its_run_without_sqlite_utils(demo_dir):
    inventory = str(demo_dir / "inventory.yaml")
    loaded_after(["-i", inventory, "request", "new", "zed@example.com", "--type", "access"])  # the log exists, as it does after the first run
    loaded = loaded_after(["-i", inventory, "find", "alice@example.com", "--json"])
    assert not tops(loaded) & {"sqlite_utils", "jinja2"}, loaded
    from dsarctl.audit import AuditLog
    from dsarctl.inventory import load_inventory

    with AuditLog.open(load_inventory(inventory).audit_path) as log:
        assert [r["kind"] for r in log.runs()] == ["find"] and log.verify().ok


def test_root_help_lines_match_each_commands_own_help():
    """The root --help lists commands from COMMANDS without loading them: the text must be theirs, whole."""
    from dsarctl.cli import COMMANDS, load_command
    from dsarctl.cli.help import summary

    for name, (_, help_text) in COMMANDS.items():
        real = load_command(name)
        assert real.name == name
        assert help_text == summary(real.help), name


def test_unknown_command_is_one_line_with_a_suggestion(cli):
    result = cli("fnd", "x")
    assert result.code == 2
    assert result.err == "dsarctl: error: No such command 'fnd'. Did you mean 'find'? (see 'dsarctl --help')\n"
