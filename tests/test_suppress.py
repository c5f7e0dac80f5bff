"""Suppression list and replay after a backup restore."""

from __future__ import annotations

import shutil

from test_erase import snapshot


def test_suppress_check_and_filter(cli, demo_dir, tmp_path):
    inv = str(demo_dir / "inventory.yaml")
    assert cli("-i", inv, "suppress", "check", "alice@example.com").code == 1
    assert cli("-i", inv, "erase", "alice@example.com", "--yes").code == 0
    r = cli("-i", inv, "suppress", "check", " ALICE@example.com ", "--json")
    assert r.code == 0 and r.json() == {"identifier": "email:alice@example.com", "suppressed": True,
                                        "systems": ["newsletter"]}
    assert cli("-i", inv, "suppress", "check", "bob@example.net").code == 1
    import sqlite3

    conn = sqlite3.connect(demo_dir / ".dsarctl" / "audit.db")
    stored = repr(conn.execute("SELECT * FROM suppressions").fetchall() + conn.execute("SELECT * FROM erasures").fetchall())
    conn.close()
    assert "alice" not in stored.lower() and "1042" not in stored  # keyed hashes only

    source = tmp_path / "import.csv"
    source.write_text("email,name\nAlice@Example.com,Alice\nbob@example.net,Bob\nnot-an-address,X\n")
    r = cli("-i", inv, "suppress", "filter", str(source), "--column", "email")
    assert r.code == 0, r
    assert r.out == "email,name\nbob@example.net,Bob\nnot-an-address,X\n"
    assert "dropped 1 suppressed" in r.err
    out = tmp_path / "clean.csv"
    assert cli("-i", inv, "suppress", "filter", str(source), "-c", "email", "-o", str(out)).code == 0
    assert out.read_text() == "email,name\nbob@example.net,Bob\nnot-an-address,X\n"
    assert cli("-i", inv, "suppress", "filter", str(source), "-c", "nope").code == 2


def test_replay_after_backup_restore(cli, demo_dir, tmp_path):
    inv = str(demo_dir / "inventory.yaml")
    backup = tmp_path / "backup"
    shutil.copytree(demo_dir / "demo", backup)
    assert cli("-i", inv, "erase", "alice@example.com", "--yes").code == 0
    erased = snapshot(demo_dir)
    shutil.rmtree(demo_dir / "demo")
    shutil.copytree(backup, demo_dir / "demo")  # the restore brings Alice back
    assert snapshot(demo_dir) != erased
    r = cli("-i", inv, "erase", "--replay", "--yes", "--json")
    assert r.code == 0, r
    assert snapshot(demo_dir) == erased
    r = cli("-i", inv, "erase", "--replay", "--yes", "--json")
    assert r.code == 0 and r.json()["run"] is None, r
