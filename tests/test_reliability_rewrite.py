"""A file rewrite that a local attacker cannot redirect (issue 18): no predictable temporary name, no
following of a planted symlink, permissions and owner set on the open file, a symlinked source written
through to its real file, and no temporary copy left by SIGTERM or SIGHUP."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import write_inventory

ROOT = Path(__file__).resolve().parent.parent

SYSTEMS = {
    "jsonl": ("u.jsonl", '{"email": "alice@example.com", "n": 1}\n{"email": "bob@example.com", "n": 2}\n'),
    "csv": ("u.csv", "email,name\r\nalice@example.com,Alice\r\nbob@example.com,Bob\r\n"),
}


def source_system(folder: Path, kind: str, path: str | None = None) -> Path:
    name, _ = SYSTEMS[kind]
    return write_inventory(folder, f"""
        people:
          connector: {kind}
          path: {path or name}
          identities: {{email: email}}
          erase: delete
    """)


def make_source(folder: Path, kind: str) -> Path:
    name, content = SYSTEMS[kind]
    path = folder / name
    path.write_bytes(content.encode())
    return path


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "dsarctl-tmp" in p.name)


@pytest.mark.parametrize("kind", sorted(SYSTEMS))
def test_a_symlink_planted_under_a_temporary_name_is_not_followed(tmp_path, cli, monkeypatch, kind):
    """Another user plants a symlink where the rewrite used to create its temporary file (the file's
    name and the process id), right after the stale ones were cleared: the file it points at is left
    as it was, and the source is rewritten as a plain file."""
    from dsarctl import filelock

    inventory = source_system(tmp_path, kind)
    source = make_source(tmp_path, kind)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "shadow"
    victim.write_bytes(b"root:secret\n")
    victim.chmod(0o600)
    before = victim.read_bytes(), victim.stat()
    clear = filelock._remove_stale

    def clear_then_plant(path):
        clear(path)
        (Path(path).parent / f".{Path(path).name}{filelock.TMP_MARK}-{os.getpid()}").symlink_to(victim)

    monkeypatch.setattr(filelock, "_remove_stale", clear_then_plant)
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    after = victim.stat()
    assert victim.read_bytes() == before[0]
    assert (after.st_mode, after.st_uid, after.st_gid) == (before[1].st_mode, before[1].st_uid, before[1].st_gid)
    assert not source.is_symlink()
    assert b"alice" not in source.read_bytes() and b"bob@example.com" in source.read_bytes()


def test_permissions_and_owner_are_set_on_the_open_file_not_by_path(tmp_path, cli, monkeypatch):
    """Never chmod or chown by name (the name may be swapped for a symlink between the write and the
    call); the new file still has the old mode and, when run as root, the old owner."""
    inventory = source_system(tmp_path, "jsonl")
    source = make_source(tmp_path, "jsonl")
    source.chmod(0o640)
    root = os.geteuid() == 0
    if root:
        os.chown(source, 4321, 4322)
    by_path = []
    monkeypatch.setattr(os, "chmod", lambda *a, **k: by_path.append(("chmod", a)))
    monkeypatch.setattr(os, "chown", lambda *a, **k: by_path.append(("chown", a)))
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert [call for call in by_path if "u.jsonl" in str(call)] == []
    st = source.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if root:
        assert (st.st_uid, st.st_gid) == (4321, 4322)
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("kind", sorted(SYSTEMS))
def test_a_symlinked_source_is_written_through_to_its_real_file(tmp_path, cli, kind):
    """The subject is gone from the real file; the symlink is still a symlink to it."""
    real_folder = tmp_path / "store"
    real_folder.mkdir()
    real = make_source(real_folder, kind)
    real.chmod(0o640)
    name, _ = SYSTEMS[kind]
    inventory = source_system(tmp_path, kind, f"data/{name}")
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / name
    link.symlink_to(Path("..") / "store" / name)

    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "store" / name)
    assert b"alice" not in real.read_bytes()
    assert b"bob@example.com" in real.read_bytes()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert temp_files(real_folder) == [] and temp_files(tmp_path / "data") == []
    r = cli("-i", str(inventory), "find", "alice@example.com")
    assert r.code == 1, r


def _erase_command(inventory: Path) -> list[str]:
    return [sys.executable, "-m", "dsarctl", "-i", str(inventory), "erase", "alice@example.com", "--yes", "--json"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CRM_DATABASE_URL", "DSARCTL_INVENTORY")}


@pytest.mark.parametrize("signame", ["TERM", "HUP"])
def test_a_signal_during_a_rewrite_leaves_no_temporary_copy(tmp_path, signame):
    """SIGTERM or SIGHUP arrives when the new file is written but not yet renamed: the temporary copy
    (everyone's data) is removed, the source is as it was, exit 130; the next erase finishes."""
    inventory = source_system(tmp_path, "jsonl")
    source = make_source(tmp_path, "jsonl")
    before = source.read_bytes()
    env = _env()
    killed = subprocess.run(_erase_command(inventory), capture_output=True, timeout=120,
                            env={**env, "DSARCTL_TEST_KILL_AT": f"file.before-rename@{signame}"})
    assert killed.returncode == 130, killed.stderr.decode()
    assert b"Traceback" not in killed.stderr
    assert temp_files(tmp_path) == []
    assert source.read_bytes() == before
    again = subprocess.run(_erase_command(inventory), capture_output=True, timeout=120, env=env)
    assert again.returncode == 0, again.stderr.decode()
    assert b"alice" not in source.read_bytes()


def test_sigterm_with_systems_side_by_side_leaves_no_temporary_copy(tmp_path, monkeypatch):
    """The demo company: units run on threads; SIGTERM reaches the main thread while one unit is about
    to rename. The other units stop before theirs and remove their temporary files."""
    from dsarctl.demo import create_demo
    from dsarctl.inventory import load_inventory

    shutil.copy(ROOT / "inventory.yaml", tmp_path / "inventory.yaml")
    env = _env()
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    create_demo(load_inventory(tmp_path / "inventory.yaml"))
    killed = subprocess.run(_erase_command(tmp_path / "inventory.yaml"), capture_output=True, timeout=120,
                            env={**env, "DSARCTL_TEST_KILL_AT": "file.before-rename#1@TERM"})
    assert killed.returncode == 130, killed.stderr.decode()
    assert not [p for p in (tmp_path / "demo").rglob("*") if "dsarctl-tmp" in p.name]
    again = subprocess.run(_erase_command(tmp_path / "inventory.yaml"), capture_output=True, timeout=120, env=env)
    assert again.returncode == 0, again.stderr.decode()


def test_the_journal_is_not_written_through_a_planted_symlink(tmp_path):
    """The erase journal's temporary file too is created exclusively: a symlink in its place is refused."""
    from dsarctl.erase.journal import Journal
    from dsarctl.errors import RefusedError

    folder = tmp_path / "journal"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    (folder / ".20261207T000000-abcdef01.jsonl.tmp").symlink_to(victim)
    with pytest.raises(RefusedError, match="in the way of the erase's journal"):
        Journal.create(folder, {"run_id": "20261207T000000-abcdef01"})
    assert victim.read_bytes() == b"keep me\n"
    assert not (folder / "20261207T000000-abcdef01.jsonl").exists()
