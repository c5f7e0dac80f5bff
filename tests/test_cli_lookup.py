"""`dsarctl find` without typer (dsarctl.cli.lookup): the simple argument lines are read by hand, every
other line goes through the typer app, and both give the same exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsarctl.cli import lookup, morning

from helpers import both_paths

ACCEPTED = [
    (["find", "alice@example.com"], (None, "alice@example.com", False)),
    (["find", "alice@example.com", "--json"], (None, "alice@example.com", True)),
    (["find", "--json", "+447700900123"], (None, "+447700900123", True)),
    (["-i", "inv.yaml", "find", "customer_id:1042"], (Path("inv.yaml"), "customer_id:1042", False)),
    (["--inventory=inv.yaml", "find", "x", "--json"], (Path("inv.yaml"), "x", True)),
    (["find", "find"], (None, "find", False)),
]

REJECTED = [
    [], ["find"], ["find", "--json"], ["Find", "a@b.c"], ["finds", "a@b.c"], ["overdue"],
    ["find", "a@b.c", "b@c.d"], ["find", "a@b.c", "--json", "--json"], ["find", "-x"], ["find", "-"],
    ["find", "--", "a@b.c"], ["find", "a@b.c", "--"], ["find", "a@b.c", "--help"], ["find", "--help", "a@b.c"],
    ["find", "a@b.c", "-h"], ["find", "a@b.c", "--id", "customer_id:1"], ["find", "a@b.c", "--no-expand"],
    ["find", "a@b.c", "--request", "R-1"], ["find", "a@b.c", "-r", "R-1"], ["find", "a@b.c", "--jsn"],
    ["find", "a@b.c", "--json=1"], ["find", ""], ["--help", "find", "a@b.c"], ["--version", "find", "a@b.c"],
    ["-i", "find", "a@b.c"], ["-i", "-x", "find", "a@b.c"], ["find", "a@b.c", "-i", "inv.yaml"],
    ["-i", "a", "-i", "b", "find", "a@b.c"],
]


@pytest.mark.parametrize("args, expected", ACCEPTED, ids=lambda v: repr(v) if isinstance(v, list) else "")
def test_parse_accepts_the_simple_lines(args, expected):
    before = list(args)
    assert lookup.parse(args) == expected
    assert args == before


@pytest.mark.parametrize("args", REJECTED, ids=repr)
def test_parse_leaves_every_other_line_to_typer(args):
    assert lookup.parse(args) is None


def test_the_inventory_option_is_read_as_for_overdue(tmp_path, monkeypatch):
    existing = tmp_path / "inventory.yaml"
    existing.write_text("version: 1\n")
    monkeypatch.setattr(morning.os, "access", lambda path, mode: False)  # unreadable: typer's message
    assert lookup.parse(["-i", str(existing), "find", "a@b.c"]) is None


@pytest.fixture
def both(cli, monkeypatch):
    """Run `dsarctl ARGS` through the fast path, then through typer; returns both CliResults."""
    return both_paths(cli, monkeypatch, lookup)


def same(both, *args: str):
    fast, slow = both(*args)
    assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args
    return fast


@pytest.mark.parametrize("json_", [[], ["--json"]], ids=["tables", "json"])
def test_found_not_found_and_bad_subjects_are_the_same_on_both_paths(both, demo_dir, monkeypatch, json_):
    monkeypatch.setenv("DSARCTL_NOW", "2026-03-10T09:00:00Z")
    inventory = str(demo_dir / "inventory.yaml")
    found = same(both, "-i", inventory, "find", "alice@example.com", *json_)
    assert found.code == 0 and "alice@example.com" in found.out
    assert same(both, "-i", inventory, "find", "nobody@example.org", *json_).code == 1
    bad = same(both, "-i", inventory, "find", "nosuchkind:1", *json_)
    assert bad.code == 2 and "nosuchkind" in bad.err
    (demo_dir / "demo" / "newsletter.csv").unlink()
    failed = same(both, "-i", inventory, "find", "alice@example.com", *json_)
    assert failed.code == 3 and "newsletter" in failed.err
    missing = same(both, "-i", str(demo_dir / "absent.yaml"), "find", "alice@example.com", *json_)
    assert missing.code == 2 and "absent.yaml" in missing.err


def test_the_default_inventory_on_both_paths(both, demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    assert same(both, "find", "alice@example.com", "--json").code == 0


def test_a_real_process_finds_without_importing_typer(demo_dir):
    code = ("import sys; from dsarctl.cli import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n"
            "    sys.stderr.write('typer imported' if 'typer' in sys.modules else 'no typer')\n    raise\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DSARCTL_DEBUG", "CRM_DATABASE_URL")}
    proc = subprocess.run([sys.executable, "-c", code, "-i", str(demo_dir / "inventory.yaml"), "find",
                           "alice@example.com", "--json"], capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith(b"no typer") and json.loads(proc.stdout)["total"] > 0
