"""Concurrency: two `erase` runs on the same sources at once, a file held by another dsarctl, and a
database locked by another writer. Nothing is lost or half-written: a run waits, or it fails that one
source with a clear error and the next run finishes it. (Two processes writing the audit log at once:
tests/test_audit.py.)"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from test_reliability_crash import assert_parses, build_bulk, others, snapshot


def _env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in ("CRM_DATABASE_URL", "DSARCTL_INVENTORY", "DSARCTL_TEST_KILL_AT")}


def _erase(folder: Path, subject: str) -> list[str]:
    return [sys.executable, "-m", "dsarctl", "-i", str(folder / "inventory.yaml"), "erase", subject, "--yes", "--json"]


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    """A company with thousands of records (so rewrites overlap), and the state after erasing Alice
    and then Bob one after the other."""
    base = tmp_path_factory.mktemp("company")
    pristine = base / "pristine"
    pristine.mkdir()
    build_bulk(pristine)
    sequential = base / "sequential"
    shutil.copytree(pristine, sequential)
    for subject in ("alice@example.com", "bob@example.net"):
        r = subprocess.run(_erase(sequential, subject), env=_env(), capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
    return pristine, others(pristine), snapshot(sequential)


@pytest.mark.parametrize("round_", range(3))
def test_two_erase_runs_at_once_on_the_same_sources(tmp_path, company, round_):
    pristine, before, expected = company
    folder = tmp_path / "both"
    shutil.copytree(pristine, folder)
    runs = [subprocess.Popen(_erase(folder, s), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for s in (("alice@example.com", "bob@example.net") if round_ % 2 == 0
                      else ("bob@example.net", "alice@example.com"))]
    for process in runs:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()
        assert b"Traceback" not in err
    assert_parses(folder)
    assert others(folder) == before  # the filler people: untouched
    assert snapshot(folder) == expected  # the same as one run after the other
    verify = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(folder / "inventory.yaml"), "audit", "verify"],
                            env=_env(), capture_output=True, timeout=60)
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()


def test_erase_waits_for_a_file_held_by_another_dsarctl(demo_dir):
    """A file locked (flock) by someone else: erase waits, then finishes once it is released."""
    path = demo_dir / "demo" / "newsletter.csv"
    content = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        process = subprocess.Popen(_erase(demo_dir, "alice@example.com"), env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        # until the erase has rewritten another file (its units run side by side, the newsletter's one is at
        # the lock by then), however long a loaded machine takes to start it: a fixed 2.5 s could pass before
        # the erase had reached the lock at all
        usage, deadline = demo_dir / "demo" / "usage.jsonl", time.monotonic() + 60
        while b'"account": 1042' in usage.read_bytes():
            assert time.monotonic() < deadline and process.poll() is None, process.poll()
            time.sleep(0.05)
        time.sleep(0.5)
        assert process.poll() is None, "erase did not wait for the lock"
        assert path.read_bytes() == content
    finally:
        os.close(fd)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert b"alice@example.com" not in path.read_bytes().lower()


def test_a_file_held_too_long_is_a_clear_failure_and_the_next_run_finishes(cli, demo_dir, monkeypatch):
    import dsarctl.filelock as filelock

    original = filelock.locked
    monkeypatch.setattr(filelock, "locked", lambda path, timeout=30.0: original(path, timeout=0.3))
    path = demo_dir / "demo" / "newsletter.csv"
    content = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    finally:
        os.close(fd)
    assert r.code == 3, r
    assert "another dsarctl is rewriting this file" in r.out + r.err
    assert "newsletter" in r.err
    assert path.read_bytes() == content  # not touched
    assert b'"account": 1042' not in (demo_dir / "demo" / "usage.jsonl").read_bytes()  # the others were erased
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    assert b"alice@example.com" not in path.read_bytes().lower()


def _hold_write_lock(db: Path, release: threading.Event, ready: threading.Event, seconds: float = 120) -> None:
    """Hold the database's write lock until `release` is set (at most `seconds`)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE customers SET last_login = last_login WHERE id = 1043")
    ready.set()
    release.wait(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def _crm(folder: Path) -> dict:
    conn = sqlite3.connect(folder / "demo" / "crm.db")
    rows = {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("customers", "tickets")}
    conn.close()
    return rows


def test_a_locked_database_is_a_clear_error_and_nothing_half_written(cli, demo_dir):
    before = _crm(demo_dir)
    ready, release = threading.Event(), threading.Event()
    # the lock is held for as long as the erase runs (it used to be 12 s: an erase slow to start on a loaded
    # machine could reach the database after that, find it free and succeed); one that never gave up would
    # be stopped by the timeout
    holder = threading.Thread(target=_hold_write_lock, args=(demo_dir / "demo" / "crm.db", release, ready))
    holder.start()
    try:
        assert ready.wait(30)
        r = subprocess.run(_erase(demo_dir, "alice@example.com"), env=_env(), capture_output=True, timeout=60)
    finally:
        release.set()
        holder.join()
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert "Traceback" not in err
    assert "crm" in err and "locked" in err, err
    assert _crm(demo_dir) == before  # one transaction per system: nothing of the CRM half-done
    assert b'"account": 1042' not in (demo_dir / "demo" / "usage.jsonl").read_bytes()  # the others were erased
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    after = _crm(demo_dir)
    assert not [row for row in after["customers"] if row[0] == 1042]
    assert [row for row in after["customers"] if row[0] != 1042] == [row for row in before["customers"] if row[0] != 1042]


def test_a_database_locked_briefly_is_waited_for(demo_dir):
    ready = threading.Event()
    holder = threading.Thread(target=_hold_write_lock,
                              args=(demo_dir / "demo" / "crm.db", threading.Event(), ready, 1.5))
    holder.start()
    try:
        assert ready.wait(30)
        r = subprocess.run(_erase(demo_dir, "alice@example.com"), env=_env(), capture_output=True, timeout=60)
    finally:
        holder.join()
    assert r.returncode == 0, r.stderr.decode()
    assert not [row for row in _crm(demo_dir)["customers"] if row[0] == 1042]


# --- one erase at a time: a second one waits for the first --------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "demo").rglob("*")) if p.is_file()}


def _read_until(process: subprocess.Popen, needle: bytes, timeout: float = 60) -> bytes:
    """stderr of `process` up to and including the first line holding `needle` (the process keeps running)."""
    import selectors

    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and process.poll() is None, (process.poll(), seen.decode())
            if selector.select(left):
                line = process.stderr.readline()
                assert line, seen.decode()
                seen += line
    return seen


def _held(folder: Path, operator: str = "ann"):
    from datetime import datetime, timezone

    from dsarctl.erase import runlock

    return runlock.hold(folder / ".dsarctl", operator=operator, now=datetime(2026, 3, 10, 9, tzinfo=timezone.utc),
                        wait=0)


def test_a_second_erase_waits_for_the_first_and_says_so(demo_dir):
    """The erase lock held by another erase (here: this test): a new erase says on stderr whom it waits for
    and since when, waits, and carries out its erase once the lock is released."""
    release = _held(demo_dir)
    try:
        process = subprocess.Popen(_erase(demo_dir, "alice@example.com"), env={**_env(), "DSARCTL_ERASE_WAIT": "60"},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        waiting = _read_until(process, b"waiting for").decode()
        assert waiting.count("\n") == 1, waiting
        assert waiting.startswith(f"waiting for the erase by ann, pid {os.getpid()} on "), waiting
        assert "(another erase holds the lock since 2026-03-10T09:00:00+00:00: " in waiting, waiting
        assert waiting.rstrip().endswith("waiting up to 60 s (DSARCTL_ERASE_WAIT)"), waiting
        time.sleep(1)
        assert process.poll() is None, "erase did not wait for the other erase"
        assert b"alice@example.com" in (demo_dir / "demo" / "newsletter.csv").read_bytes().lower()
    finally:
        release()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert b"alice@example.com" not in (demo_dir / "demo" / "newsletter.csv").read_bytes().lower()


def test_a_second_erase_gives_up_after_its_wait_with_one_line_and_changes_nothing(demo_dir):
    before = _files(demo_dir)
    release = _held(demo_dir)
    try:
        started = time.monotonic()
        proc = subprocess.run(_erase(demo_dir, "alice@example.com"), env={**_env(), "DSARCTL_ERASE_WAIT": "1.5"},
                              capture_output=True, timeout=60)
        waited = time.monotonic() - started
    finally:
        release()
    err = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b"", (proc.returncode, err)
    waiting, error = err.splitlines()
    assert waiting.startswith("waiting for the erase by ann, pid "), err
    assert error.startswith("dsarctl: error: another erase (the erase by ann, pid "), err
    assert "still holds the erase lock " in error and " after 1.5 s; nothing was changed" in error, err
    assert 1.5 <= waited < 30, waited
    assert _files(demo_dir) == before
    assert not (demo_dir / ".dsarctl" / "journal").exists() or not list((demo_dir / ".dsarctl" / "journal").iterdir())


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_wait_is_refused_in_one_line(cli, demo_dir, monkeypatch, value):
    monkeypatch.setenv("DSARCTL_ERASE_WAIT", value)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes")
    assert (r.code, r.out) == (2, ""), r
    assert r.err == (f"dsarctl: error: DSARCTL_ERASE_WAIT: '{value}' is not a number of seconds "
                     "(0 or more; default 600)\n"), r


def test_two_erase_processes_one_after_the_other_while_the_first_is_stopped(demo_dir):
    """Two real erase processes: the first stops itself (SIGSTOP) after writing its journal, holding the
    lock; the second waits for it, naming its pid; once the first goes on, both finish, and the log verifies."""
    import signal

    first = subprocess.Popen(_erase(demo_dir, "alice@example.com"),
                             env={**_env(), "DSARCTL_TEST_KILL_AT": "journal.written@STOP"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while Path(f"/proc/{first.pid}/stat").read_text().split(") ", 1)[1][0] != "T":
            assert time.monotonic() < deadline and first.poll() is None, "the first erase did not stop"
            time.sleep(0.05)
        second = subprocess.Popen(_erase(demo_dir, "bob@example.com"), env={**_env(), "DSARCTL_ERASE_WAIT": "120"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        waiting = _read_until(second, b"waiting for").decode()
        assert f", pid {first.pid} on " in waiting, waiting
    finally:
        first.send_signal(signal.SIGCONT)
    for process in (first, second):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    lowered = (demo_dir / "demo" / "newsletter.csv").read_bytes().lower()
    assert b"alice@example.com" not in lowered and b"bob@example.com" not in lowered
    verify = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(demo_dir / "inventory.yaml"), "audit", "verify"],
                            env=_env(), capture_output=True, timeout=60)
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()


def test_the_erase_lock_is_released_when_the_command_ends_however_it_ends(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_ERASE_WAIT", "0")  # a lock still held would refuse the next erase at once
    inventory = str(demo_dir / "inventory.yaml")
    assert cli("-i", inventory, "erase", "alice@example.com").code == 2  # no terminal, no --yes: refused
    assert cli("-i", inventory, "erase", "alice@example.com", "--yes").code == 0
    assert cli("-i", inventory, "erase", "bob@example.com", "--yes", "--json").code == 0
    assert cli("-i", inventory, "erase", "--replay", "--yes").code in (0, 3)
    assert cli("-i", inventory, "erase", "bob@example.com", "--yes").code == 0
