"""`dsarctl overdue` without typer (dsarctl.cli.morning): the simple argument lines cron uses are read by
hand, every other line goes through the typer app, and both give the same exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsarctl.cli import morning

from helpers import both_paths

# --- parse ----------------------------------------------------------------------------------------------

ACCEPTED = [
    (["overdue"], (None, 7, False)),
    (["overdue", "--json"], (None, 7, True)),
    (["overdue", "--within", "3"], (None, 3, False)),
    (["overdue", "--within=30", "--json"], (None, 30, True)),
    (["overdue", "--json", "--within", "0"], (None, 0, True)),
    (["overdue", "--within", "-3"], (None, -3, False)),  # click takes "-3" as the value; the core refuses it
    (["overdue", "--within=-3"], (None, -3, False)),
    (["overdue", "--within", "007"], (None, 7, False)),
    (["overdue", "--within", "-0"], (None, 0, False)),
    (["-i", "inv.yaml", "overdue"], (Path("inv.yaml"), 7, False)),
    (["--inventory", "some dir/inv.yaml", "overdue", "--json"], (Path("some dir/inv.yaml"), 7, True)),
    (["--inventory=inv.yaml", "overdue", "--within", "1"], (Path("inv.yaml"), 1, False)),
    (["--inventory=a=b.yaml", "overdue"], (Path("a=b.yaml"), 7, False)),
    (["-i", "overdue", "overdue"], (Path("overdue"), 7, False)),
]

REJECTED = [
    [], ["overdues"], ["Overdue"], ["find", "x"], ["overdue", "extra"], ["overdue", "overdue"],
    ["--help"], ["-h"], ["--version"], ["overdue", "--help"], ["overdue", "-h"], ["-h", "overdue"],
    ["--version", "overdue"], ["overdue", "--version"], ["overdue", "--json", "--help"],
    ["--", "overdue"], ["overdue", "--"], ["overdue", "--", "--json"],
    ["overdue", "--jsn"], ["overdue", "--JSON"], ["overdue", "--json=1"], ["overdue", "--json="],
    ["overdue", "--json", "--json"], ["overdue", "-j"],
    ["overdue", "--within"], ["overdue", "--within="], ["overdue", "--within", "--json"],
    ["overdue", "--within", "1", "--within", "2"], ["overdue", "--within=1", "--within", "2"],
    ["overdue", "--within", "+3"], ["overdue", "--within", " 3"], ["overdue", "--within", "3 "],
    ["overdue", "--within", "3_0"], ["overdue", "--within", "1.5"], ["overdue", "--within", "--3"],
    ["overdue", "--within", "-"], ["overdue", "--within", "\uff13"], ["overdue", "--within", "\u0663"],
    ["overdue", "--within", "\u00b2"], ["overdue", "--within", "1" * 5000], ["overdue", "--within", "3", "x"],
    ["overdue", "--withi", "3"], ["overdue", "--within3"],
    ["-i"], ["-i", "overdue"], ["-i", "inv.yaml"], ["--inventory"], ["--inventory=inv.yaml"],
    ["-iinv.yaml", "overdue"], ["-i=inv.yaml", "overdue"], ["--inventory=", "overdue"], ["-i", "", "overdue"],
    ["-i", "-x", "overdue"], ["-i", "-", "overdue"], ["--inventory", "--json", "overdue"],
    ["--inventory=-x", "overdue"], ["-i", "a\0b", "overdue"],
    ["-i", "a", "-i", "b", "overdue"], ["-i", "a", "--inventory", "b", "overdue"], ["--inv", "a", "overdue"],
    ["overdue", "-i", "inv.yaml"], ["overdue", "--inventory", "inv.yaml"], ["-i", "a", "overdue", "-i", "b"],
]


@pytest.mark.parametrize("args, expected", ACCEPTED, ids=lambda v: repr(v) if isinstance(v, list) else "")
def test_parse_accepts_the_simple_lines(args, expected):
    before = list(args)
    assert morning.parse(args) == expected
    assert args == before  # the caller's list is left alone: the typer path may still need it


@pytest.mark.parametrize("args", REJECTED, ids=repr)
def test_parse_leaves_every_other_line_to_typer(args):
    assert morning.parse(args) is None


def test_parse_leaves_an_unreadable_inventory_to_typer(tmp_path, monkeypatch):
    """typer's path type refuses an existing file it cannot read, before the command runs (its message)."""
    existing = tmp_path / "inventory.yaml"
    existing.write_text("version: 1\n")
    monkeypatch.setattr(morning.os, "access", lambda path, mode: False)  # the tests may run as root
    assert morning.parse(["-i", str(existing), "overdue"]) is None
    assert morning.parse(["-i", str(tmp_path / "absent.yaml"), "overdue"]) == (tmp_path / "absent.yaml", 7, False)


# --- the two paths give the same results ----------------------------------------------------------------


@pytest.fixture
def both(cli, monkeypatch):
    """Run `dsarctl ARGS` through the fast path, then through typer; returns both CliResults."""
    return both_paths(cli, monkeypatch, morning)


def same(both, *args: str):
    fast, slow = both(*args)
    assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args
    return fast


def lines_for(inventory: str) -> list[list[str]]:
    return [
        ["-i", inventory, "overdue"],
        ["-i", inventory, "overdue", "--json"],
        ["--inventory", inventory, "overdue", "--within", "30"],
        [f"--inventory={inventory}", "overdue", "--within=1", "--json"],
        ["-i", inventory, "overdue", "--json", "--within", "0"],
        ["-i", inventory, "overdue", "--within", "007", "--json"],
        ["-i", inventory, "overdue", "--within", "-3"],
        ["-i", inventory, "overdue", "--within=-1", "--json"],
        ["-i", inventory, "overdue", "--within", "99999999999"],
    ]


@pytest.fixture
def late(cli, demo_dir, monkeypatch) -> str:
    """The demo inventory at 2026-03-10 with two requests overdue and two due within 30 days."""
    monkeypatch.setenv("DSARCTL_NOW", "2026-03-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    inventory = str(demo_dir / "inventory.yaml")
    for subject, received in [("c@example.com", "2026-02-12"), ("b@example.com", "2026-01-31"),
                              ("a@example.com", "2026-01-05"), ("d@example.com", "2026-03-01")]:
        assert cli("-i", inventory, "request", "new", subject, "--type", "access", "--received", received).code == 0
    return inventory


def test_overdue_requests_exit_1_on_both_paths(both, late):
    results = [same(both, *args) for args in lines_for(late)]
    human, as_json, within_30, within_1, within_0, within_7, negative, negative_json, huge = results
    assert human.code == 1 and human.out.startswith("Overdue (2):\n  R-2026-0003  access"), human
    assert as_json.code == 1 and [r["id"] for r in as_json.json()["overdue"]] == ["R-2026-0003", "R-2026-0002"]
    assert "Due within 30 days (2):" in within_30.out
    assert within_1.json()["due_soon"] == [] and within_1.json()["within"] == 1
    assert within_7.json()["within"] == 7 and within_0.json()["within"] == 0
    for refused in (negative, negative_json):
        assert (refused.code, refused.out) == (2, "")
    assert negative.err == "dsarctl: error: --within must be 0 or more, got -3\n"
    assert (huge.code, huge.out) == (70, "") and huge.err.startswith("dsarctl: error: internal error: "), huge


def test_nothing_overdue_exits_0_on_both_paths(both, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-10T09:00:00Z")
    results = [same(both, *args) for args in lines_for(str(demo_dir / "inventory.yaml"))]
    assert (results[0].code, results[0].out) == (0, "Nothing overdue or due within 7 days; no open tasks.\n")
    assert results[1].code == 0 and results[1].json()["overdue"] == []


def test_the_default_inventory_on_both_paths(both, late, demo_dir, tmp_path_factory, monkeypatch):
    """No -i: $DSARCTL_INVENTORY, else ./inventory.yaml, as the loader finds them."""
    monkeypatch.chdir(demo_dir)
    assert same(both, "overdue", "--json").json()["overdue"]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    missing = same(both, "overdue")
    assert (missing.code, missing.err) == (
        2, "dsarctl: error: inventory.yaml: inventory file not found (give -i FILE or set DSARCTL_INVENTORY)\n")
    monkeypatch.setenv("DSARCTL_INVENTORY", late)
    assert same(both, "overdue", "--within=3").code == 1
    assert same(both, "-i", "inventory.yaml", "overdue").code == 2  # -i wins over the variable


BROKEN = {  # case -> what the one error line says
    "missing": "absent.yaml: inventory file not found",
    "a directory": "cannot read inventory: Is a directory",
    "broken YAML": "inventory.yaml:3: YAML syntax error",
    "bad timezone": "inventory.yaml:10: controller.timezone: unknown time zone 'Mars/Olympus_Mons'",
    "audit log cannot be opened": "blocker/audit.db: cannot open the audit log",
}


@pytest.mark.parametrize("case", BROKEN, ids=str)
def test_errors_are_the_same_on_both_paths(both, demo_dir, monkeypatch, case):
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-10T09:00:00Z")
    inventory = demo_dir / "inventory.yaml"
    if case == "missing":
        inventory = demo_dir / "absent.yaml"
    elif case == "a directory":
        inventory = demo_dir
    elif case == "broken YAML":
        inventory.write_text("version: 1\ncontroller: [unclosed\n")
    elif case == "bad timezone":
        inventory.write_text(inventory.read_text().replace("Europe/London", "Mars/Olympus_Mons"))
    else:
        (demo_dir / "blocker").write_text("a file where the log's folder should be")
        inventory.write_text(inventory.read_text().replace(".dsarctl/audit.db", "blocker/audit.db"))
    for args in lines_for(str(inventory))[:4]:
        result = same(both, *args)
        assert (result.code, result.out) == (2, ""), result
        assert result.err.startswith("dsarctl: error: ") and BROKEN[case] in result.err, result
        assert result.err.count("\n") == 1


def test_a_bad_clock_is_the_same_on_both_paths(both, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", "yesterday")
    result = same(both, "-i", str(demo_dir / "inventory.yaml"), "overdue", "--json")
    assert (result.code, result.out) == (2, "") and "DSARCTL_NOW: 'yesterday' is not an ISO datetime" in result.err


@pytest.mark.parametrize("error, code, err", [
    (KeyboardInterrupt(), 130, "dsarctl: error: interrupted\n"),
    (EOFError(), 1, "\ndsarctl: error: aborted\n"),
    (RuntimeError("no route to postgresql://ann:hunter2@db/crm"), 70,
     "dsarctl: error: internal error: RuntimeError: no route to postgresql://ann:***@db/crm "
     "(set DSARCTL_DEBUG=1 for the traceback)\n"),
])
def test_what_happens_around_the_command_is_the_same_on_both_paths(both, demo_dir, monkeypatch, error, code, err):
    """The typer command runs `morning.run` too (one implementation): replacing it changes both paths."""
    def failing(state, within, json_):
        raise error

    monkeypatch.setattr(morning, "run", failing)
    result = same(both, "-i", str(demo_dir / "inventory.yaml"), "overdue", "--json")
    assert (result.code, result.out, result.err) == (code, "", err)


def test_shell_completion_is_left_to_typer(cli, demo_dir, monkeypatch):
    """typer answers `_DSARCTL_COMPLETE` (the candidates), not the command."""
    invoked = []
    monkeypatch.setattr(morning, "invoke", invoked.append)
    monkeypatch.setenv("_DSARCTL_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "dsarctl overdue --j")
    monkeypatch.setenv("COMP_CWORD", "2")
    result = cli("-i", str(demo_dir / "inventory.yaml"), "overdue", "--json")
    assert invoked == []
    assert (result.code, result.out, result.err) == (0, "--json\n", "")


# --- through a real process -----------------------------------------------------------------------------

_TYPER_PATH = "import sys; from dsarctl.cli import main, morning; morning.parse = lambda args: None; main()"


def processes(inventory: str, args: list[str], *, stdout=subprocess.PIPE, env=None):
    """`python -m dsarctl ARGS` and the same line forced through typer: [(code, stdout, stderr)] * 2."""
    env = dict(os.environ, DSARCTL_NOW="2026-03-10T09:00:00Z", **(env or {}))
    env.pop("DSARCTL_DEBUG", None)
    results = []
    for command in ([sys.executable, "-m", "dsarctl"], [sys.executable, "-c", _TYPER_PATH]):
        proc = subprocess.run([*command, "-i", inventory, *args], stdout=stdout, stderr=subprocess.PIPE,
                              env=env, timeout=60)
        results.append((proc.returncode, proc.stdout, proc.stderr))
    return results


def test_colours_are_the_same_in_a_real_process(late):
    fast, slow = processes(late, ["overdue", "--within", "30"], env={"FORCE_COLOR": "1", "NO_COLOR": "", "COLUMNS": "120"})
    assert fast == slow
    assert fast[0] == 1 and b"\x1b[1;31mOverdue (2):" in fast[1], fast


@pytest.mark.parametrize("args", [["overdue", "--json"], ["overdue"]], ids=" ".join)
def test_a_closed_stdout_is_the_same_in_a_real_process(late, args):
    """`dsarctl overdue | head -0`: click's main exits 1 and silences the flushes at exit."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails with EPIPE
    try:
        fast, slow = processes(late, args, stdout=write)
    finally:
        os.close(write)
    assert fast == slow
    assert fast == (1, None, b""), fast


def test_json_is_the_same_in_a_real_process(late):
    fast, slow = processes(late, ["overdue", "--json"])
    assert fast == slow
    assert fast[0] == 1 and len(json.loads(fast[1])["overdue"]) == 2
