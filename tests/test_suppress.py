"""Suppression list and replay after a backup restore."""

from __future__ import annotations

import re
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
    # keyed hashes only (the customer id 1042 as a number of its own: a run id holds the time, T104212; and
    # not inside a hash's hex, where "a1042f" turns up about one run in a thousand)
    assert "alice" not in stored.lower()
    assert not re.search(r"(?<![0-9])1042(?![0-9])", re.sub(r"[0-9a-f]{32,}", "", stored))

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

    # a file exported by a spreadsheet in Latin-1: one line naming file:line, exit 2, no half-written output
    latin = tmp_path / "latin1.csv"
    rows = "".join(f"person{i}@example.net,Person {i}\n" for i in range(3000))
    latin.write_bytes(("email,name\n" + rows + "jos\u00e9@example.es,Jos\u00e9\n").encode("latin-1"))
    half = tmp_path / "half.csv"
    r = cli("-i", inv, "suppress", "filter", str(latin), "-c", "email", "-o", str(half))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r
    assert f"{latin}:3002: not UTF-8 text" in r.err and "Traceback" not in r.err
    assert not half.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".half")] == []


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
