"""The erase's units side by side (one thread each) and its passes over large files in child processes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dsarctl import offload
from dsarctl.errors import SourceError
from helpers import benchmark_company

needs_fork = pytest.mark.skipif(not offload.available(), reason="needs Linux with more than one usable core")


def _pid() -> int:
    return os.getpid()


def _source_error():
    raise SourceError("usage.jsonl:7: expected a JSON object, got list", system="telemetry")


def _os_error():
    raise FileNotFoundError(2, "No such file or directory", "/nowhere/x.csv")


def _bug():
    return {}["missing"]


def _interrupted():
    raise KeyboardInterrupt


def _silent_death():
    os._exit(0)


@needs_fork
def test_call_computes_in_another_process_and_returns_the_value():
    assert offload.call(_pid) != os.getpid()
    assert offload.call(lambda a, b: {a: [b, b"\x00\xff"]}, "k", 2) == {"k": [2, b"\x00\xff"]}


def test_without_fork_the_function_runs_here(monkeypatch):
    monkeypatch.setenv(offload.ENV, "1")
    assert not offload.available()
    assert offload.call(_pid) == os.getpid()


@needs_fork
def test_errors_come_back_as_they_were_raised():
    with pytest.raises(SourceError) as caught:
        offload.call(_source_error)
    assert str(caught.value) == "telemetry: usage.jsonl:7: expected a JSON object, got list"
    assert caught.value.reason == "usage.jsonl:7: expected a JSON object, got list"
    assert caught.value.system == "telemetry"
    with pytest.raises(FileNotFoundError) as missing:
        offload.call(_os_error)
    assert missing.value.errno == 2 and missing.value.filename == "/nowhere/x.csv"
    with pytest.raises(RuntimeError, match=r"(?s)Traceback.*KeyError: 'missing'"):
        offload.call(_bug)
    with pytest.raises(KeyboardInterrupt):
        offload.call(_interrupted)
    with pytest.raises(RuntimeError, match="ended without an answer"):
        offload.call(_silent_death)


@needs_fork
def test_the_child_dies_with_its_parent(tmp_path):
    """A parent killed with SIGKILL (the crash tests' kill) leaves no child reading on behind it."""
    marker = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import os, time
        from dsarctl import offload

        def work():
            open({str(marker)!r}, "w").write(str(os.getpid()))
            time.sleep(60)

        offload.call(work)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.01)
        child = int(marker.read_text())
        os.kill(child, 0)  # alive
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its killed parent"
            time.sleep(0.01)
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"  # a zombie is dead, not yet reaped
    except FileNotFoundError:
        return False


# -- side_by_side ---------------------------------------------------------------------------------------

def _unit(name: str, status: str = "done"):
    from dsarctl.erase.apply import UnitResult

    return UnitResult(name, status)


def test_units_run_at_the_same_time_and_finish_on_the_calling_thread():
    from dsarctl.erase.apply import side_by_side

    together = threading.Barrier(3, timeout=10)  # passes only if the three units wait at once
    seen = []

    def run(name, checkpoint):
        together.wait()
        checkpoint(f"{name}.end")
        return _unit(name)

    points = []
    side_by_side(["a", "b", "c"], run, lambda unit: seen.append((unit.system, threading.current_thread())),
                 points.append)
    assert sorted(name for name, _ in seen) == ["a", "b", "c"]
    assert {thread for _, thread in seen} == {threading.current_thread()}
    assert sorted(points) == ["a.end", "b.end", "c.end"]


class Crash(Exception):
    pass


def working(checkpoint, name: str, seconds: float = 30.0) -> None:
    """A unit still at work, passing checkpoints, until one stops it (or `seconds` have passed: a unit
    that was never stopped then goes on to commit, and the test fails). A fixed sleep instead raced the
    caller's thread, which on a loaded machine could see the other unit's error only after it ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        checkpoint(f"{name}.working")
        time.sleep(0.01)


def test_an_error_in_one_unit_stops_the_others_at_their_next_checkpoint():
    from dsarctl.erase.apply import side_by_side

    started = threading.Barrier(2, timeout=10)
    committed = []

    def run(name, checkpoint):
        started.wait()
        if name == "bad":
            checkpoint("bad.before-rename")  # the test's crash hook fires here
        else:
            working(checkpoint, name)  # still working when the other unit fails
            checkpoint("good.before-commit")
            committed.append(name)
        return _unit(name)

    def hook(point):
        if point == "bad.before-rename":
            raise Crash(point)

    finished = []
    with pytest.raises(Crash):
        side_by_side(["good", "bad"], run, finished.append, hook)
    assert committed == [] and finished == []


def test_an_error_while_marking_a_unit_stops_the_others():
    from dsarctl.erase.apply import side_by_side

    steps = []
    started = threading.Barrier(2, timeout=10)

    def run(name, checkpoint):
        started.wait()
        if name == "slow":
            working(checkpoint, name)
            checkpoint("slow.before-commit")
            steps.append("slow committed")
        return _unit(name)

    def finished(unit):
        if unit.system == "fast":
            raise Crash("killed while marking the journal")

    with pytest.raises(Crash):
        side_by_side(["fast", "slow"], run, finished, lambda point: None)
    assert steps == []


# -- the erase itself, with and without child processes ----------------------------------------------

def _digest_tree(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".dsarctl" not in path.parts and not path.name.endswith(".db") \
                and path.name != ".dsarctl-audit-id":  # a random id of the audit log
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@needs_fork
def test_batch_erase_gives_the_same_bytes_with_and_without_child_processes(tmp_path, cli, monkeypatch):
    import dsarctl.connectors.files as files

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    benchmark_company(pristine, 3000)
    subjects = (pristine / "subjects.txt").read_text().split()[:40]
    results = {}
    calls = []
    real_call = offload.call
    for mode in ("fork", "here"):
        folder = tmp_path / mode
        shutil.copytree(pristine, folder)
        batch = folder / "batch.txt"
        batch.write_text("\n".join(subjects) + "\n")
        if mode == "fork":
            monkeypatch.setattr(files, "OFFLOAD_BYTES", 0)
            monkeypatch.setattr(offload, "call", lambda fn, *a: calls.append(fn.__self__.system.name) or real_call(fn, *a))
        else:
            monkeypatch.setenv(offload.ENV, "1")
        r = cli("-i", str(folder / "inventory.yaml"), "erase", "--batch", str(batch), "--yes", "--json")
        assert r.code == 0, r
        run = r.json()["run"]
        results[mode] = ({u["system"]: u["collections"] for u in run["units"]}, _digest_tree(folder))
        if mode == "fork":
            assert sorted(calls) == ["newsletter", "telemetry"]  # the CSV and JSON lines were read in children
    assert results["fork"] == results["here"]
    assert results["fork"][1] != _digest_tree(pristine)  # the erase changed the files


@needs_fork
def test_a_bad_line_found_by_a_child_is_reported_as_in_process(tmp_path, cli, monkeypatch):
    import dsarctl.connectors.files as files

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    benchmark_company(pristine, 500)
    subject = (pristine / "subjects.txt").read_text().split()[0]
    with open(pristine / "newsletter.csv", "a") as f:
        f.write("one field only\n")
    monkeypatch.setattr(files, "OFFLOAD_BYTES", 0)
    errors = {}
    for mode in ("fork", "here"):
        folder = tmp_path / mode
        shutil.copytree(pristine, folder)
        if mode == "here":
            monkeypatch.setenv(offload.ENV, "1")
        before = (folder / "newsletter.csv").read_bytes()
        r = cli("-i", str(folder / "inventory.yaml"), "erase", subject, "--yes", "--json")
        assert r.code == 3, r
        errors[mode] = [u.get("error") for u in r.json()["run"]["units"] if u["status"] == "failed"]
        assert (folder / "newsletter.csv").read_bytes() == before  # not rewritten
    assert errors["fork"] == errors["here"] and "newsletter.csv:" in errors["fork"][0], errors
