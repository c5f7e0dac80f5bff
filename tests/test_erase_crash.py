"""Crash safety: an erase killed at any step is finished by the next `erase`, with the same end state
as a run that was never interrupted, and nothing touched twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsarctl.erase import carry_out, prepare
from dsarctl.inventory import load_inventory

from test_erase import ALICE, NOW, snapshot

ROOT = Path(__file__).resolve().parent.parent


class Crash(BaseException):
    """Stands in for kill -9: nothing in dsarctl catches it."""


def fresh(tmp_path: Path, name: str) -> Path:
    from dsarctl.demo import create_demo

    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(ROOT / "inventory.yaml", folder / "inventory.yaml")
    create_demo(load_inventory(folder / "inventory.yaml"))
    return folder


@pytest.fixture
def reference(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    folder = fresh(tmp_path, "reference")
    inv = load_inventory(folder / "inventory.yaml")
    points: list[str] = []
    carry_out(inv, prepare(inv, [ALICE], now=NOW), operator="test", now=NOW, checkpoint=points.append)
    return snapshot(folder), points


def test_checkpoints_cover_every_step(reference):
    _, points = reference
    # Alice's one Maildir message copies Erin: it is redacted in place (file.renamed), not unlinked;
    # test_reliability_crash kills at maildir.unlink with messages of Alice's alone
    for point in ("journal.written", "audit.recorded", "file.before-rename", "file.renamed", "sql.collection",
                  "sql.before-commit", "unit.done", "suppressed", "tasks.opened"):
        assert point in points


def test_crash_at_every_step_then_rerun_completes(tmp_path, reference, cli):
    expected, points = reference
    for index in range(len(points)):
        folder = fresh(tmp_path, f"crash-{index}")
        inv = load_inventory(folder / "inventory.yaml")
        seen = [0]

        def checkpoint(point: str) -> None:
            if seen[0] == index:
                raise Crash(point)
            seen[0] += 1

        with pytest.raises(Crash):
            carry_out(inv, prepare(inv, [ALICE], now=NOW), operator="test", now=NOW, checkpoint=checkpoint)
        r = cli("-i", str(folder / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
        assert r.code == 0, (points[index], r)
        assert snapshot(folder) == expected, f"crash at step {index} ({points[index]})"
        assert not list((folder / "demo").glob(".*dsarctl-tmp*"))
        # and a third run changes nothing
        r = cli("-i", str(folder / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
        assert r.code == 0 and r.json()["run"] is None, (points[index], r)


@pytest.mark.parametrize("point", [
    "journal.written", "audit.recorded", "file.before-rename#1", "file.before-rename#3",
    "sql.collection#2", "sql.before-commit#1", "unit.done#1", "unit.done#4", "file.renamed#2", "suppressed",
])
def test_sigkill_subprocess_then_rerun(tmp_path, reference, point):
    expected, _ = reference
    folder = fresh(tmp_path, "killed")
    env = {k: v for k, v in os.environ.items() if k not in ("CRM_DATABASE_URL", "DSARCTL_INVENTORY")}
    command = [sys.executable, "-m", "dsarctl", "-i", str(folder / "inventory.yaml"), "erase",
               "alice@example.com", "--yes", "--json"]
    killed = subprocess.run(command, env={**env, "DSARCTL_TEST_KILL_AT": point}, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()
    again = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    assert snapshot(folder) == expected


def _journal_plans(folder: Path) -> list[tuple[Path, dict]]:
    import json

    return [(path, json.loads(path.read_text().splitlines()[0])) for path in sorted(folder.rglob("journal/*.jsonl"))]


def test_the_journal_keeps_sql_keys_sealed_and_a_journal_without_them_is_resumed_by_scanning(
        tmp_path, reference, cli):
    """Each SQL row's key is in the journal sealed (no key in plain text), and opens only with the install
    key and for its own entry. A journal written before keys were sealed (entries without `sealed`) is
    still finished, its rows found by scanning the tables."""
    import json

    from dsarctl.erase.apply import install_key
    from dsarctl.erase.journal import open_record_key, seal_record_key
    from dsarctl.keys import SealError

    expected, _ = reference
    folder = fresh(tmp_path, "unsealed")
    inv = load_inventory(folder / "inventory.yaml")
    _crash_once_journaled(inv)
    [(path, plan)] = _journal_plans(folder)
    key = install_key(inv)
    sql = [(system, coll, e) for system, colls in plan["units"].items() for coll, entries in colls.items()
           for e in entries if "sealed" in e]
    assert sql and all("key" not in e for _, _, e in sql), plan["units"]
    system, coll, entry = sql[0]
    row_key = open_record_key(key, system, coll, entry["key_id"], entry["sealed"])
    assert isinstance(row_key, tuple) and row_key, row_key
    with pytest.raises(SealError):
        open_record_key(bytes(32), system, coll, entry["key_id"], entry["sealed"])  # another install key
    with pytest.raises(SealError):
        open_record_key(key, system, coll, sql[1][2]["key_id"] if len(sql) > 1 else "x", entry["sealed"])
    sealed_again = seal_record_key(key, system, coll, entry["key_id"], row_key)
    assert sealed_again != entry["sealed"]  # a fresh nonce each time
    # as an earlier dsarctl wrote it: keys only as keyed hashes
    lines = path.read_text().splitlines()
    for colls in plan["units"].values():
        for entries in colls.values():
            for e in entries:
                e.pop("sealed", None)
    path.write_text("\n".join([json.dumps(plan, sort_keys=True)] + lines[1:]) + "\n")
    r = cli("-i", str(folder / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    assert [u["status"] for u in r.json()["resumed"][0]["units"]].count("failed") == 0, r.json()["resumed"]
    assert snapshot(folder) == expected


def _crash_once_journaled(inv) -> None:
    """Plan Alice's erase and crash right after its journal is written: nothing erased, all pending."""
    def crash(point: str) -> None:
        if point == "journal.written":
            raise Crash(point)

    with pytest.raises(Crash):
        carry_out(inv, prepare(inv, [ALICE], now=NOW), operator="test", now=NOW, checkpoint=crash)


def test_a_sealed_key_of_another_install_key_fails_that_system_only(tmp_path, reference, cli):
    """The install key replaced between the crash and the rerun: the sealed keys do not open; the SQL
    systems fail, saying why (exit 3), and the run stays pending."""
    folder = fresh(tmp_path, "rekeyed")
    inv = load_inventory(folder / "inventory.yaml")
    _crash_once_journaled(inv)
    [(path, _)] = _journal_plans(folder)
    secret = path.parent.parent / "secret.key"
    secret.write_bytes(os.urandom(32))
    r = cli("-i", str(folder / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert "does not open with this installation's key" in r.err, r.err
    failed = [u for u in r.json()["resumed"][0]["units"] if u["status"] == "failed"]
    assert failed and all("does not open with this installation's key" in u["error"] for u in failed), r
