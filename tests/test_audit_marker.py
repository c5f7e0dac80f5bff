"""A missing audit log is refused, never silently replaced (issue 18): the inventory's folder remembers the
log it has used (`.dsarctl-audit-id`, dsarctl.audit_marker). An unmounted disk used to make `overdue` print
"Nothing overdue", exit 0 and create a fresh empty log: the morning alarm went silent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dsarctl.audit import AuditLog
from dsarctl.audit_marker import MARKER, recorded
from helpers import both_paths, write_inventory

SYSTEMS = """
    newsletter:
      connector: csv
      path: newsletter.csv
      identities: {email: email}
      erase: delete
"""


@pytest.fixture
def company(tmp_path, monkeypatch) -> Path:
    """A one-system company (a CSV newsletter list) whose audit log does not exist yet."""
    monkeypatch.setenv("DSARCTL_NOW", "2026-03-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    monkeypatch.delenv("DSARCTL_INVENTORY", raising=False)
    (tmp_path / "newsletter.csv").write_text("email,name\nalice@example.com,Alice\nbob@example.com,Bob\n")
    write_inventory(tmp_path, SYSTEMS)
    return tmp_path


def _args(folder: Path, *args: str) -> list[str]:
    return ["-i", str(folder / "inventory.yaml"), *args]


READERS = [  # commands that only read the log
    ("overdue",), ("overdue", "--json"), ("overdue", "--within", "30"), ("request", "list"),
    ("request", "show", "R-2026-0001"), ("request", "show", "R-2026-0001", "--explain"), ("audit", "log"),
    ("audit", "verify"), ("task", "list"), ("suppress", "check", "alice@example.com"),
]
WRITERS = [  # commands that record new work (and may start a log no one has used)
    ("request", "new", "carol@example.com", "--type", "access"),
    ("request", "verify", "R-2026-0001"), ("request", "close", "R-2026-0001"),
    ("find", "alice@example.com"), ("find", "alice@example.com", "--json"),
    ("export", "alice@example.com", "-o", "package.zip"), ("erase", "alice@example.com", "--yes"),
    ("erase", "alice@example.com", "--dry-run"),
]


def test_a_fresh_setup_answers_and_the_first_recording_run_starts_the_log(cli, company):
    for args in [("overdue",), ("request", "list"), ("audit", "log"), ("audit", "verify"), ("task", "list")]:
        result = cli(*_args(company, *args))
        assert result.code == 0, (args, result)
    assert cli(*_args(company, "overdue")).out == "Nothing overdue or due within 7 days; no open tasks.\n"
    assert cli(*_args(company, "request", "list", "--json")).json() == {"requests": []}
    assert not (company / ".dsarctl").exists() and not (company / MARKER).exists()  # reading created nothing

    opened = cli(*_args(company, "request", "new", "alice@example.com", "--type", "access", "--json"))
    assert opened.code == 0, opened
    log_path = company / ".dsarctl" / "audit.db"
    with AuditLog.open(log_path, create=False) as log:
        log_id = log.log_id()
    assert recorded(company / MARKER) == {".dsarctl/audit.db": log_id}
    assert (company / MARKER).read_text().endswith(f"{log_id}\t.dsarctl/audit.db\n")
    assert cli(*_args(company, "overdue", "--json")).json()["due_soon"] == []
    assert [r["id"] for r in cli(*_args(company, "request", "list", "--json")).json()["requests"]] == ["R-2026-0001"]
    assert recorded(company / MARKER) == {".dsarctl/audit.db": log_id}  # one line, however many runs


def _missing_line(result, log_path: Path) -> None:
    assert result.code == 2 and result.out == "", result
    assert result.err.startswith(f"dsarctl: error: {log_path}: the audit log is missing: "), result
    assert result.err.count("\n") == 1 and "is its disk mounted?" in result.err, result


@pytest.mark.parametrize("args", READERS + WRITERS, ids=" ".join)
def test_every_command_refuses_when_the_log_it_used_is_gone(cli, company, args):
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    shutil.rmtree(company / ".dsarctl")  # the log, its install key and journals: all gone
    _missing_line(cli(*_args(company, *args)), company / ".dsarctl" / "audit.db")
    assert not (company / ".dsarctl").exists()  # no fresh log, no new key, no journal
    assert (company / "newsletter.csv").read_text().startswith("email,name\nalice@example.com")
    assert not (company / "package.zip").exists()


def test_the_morning_check_refuses_on_both_paths(cli, company, monkeypatch):
    """The cron line (read without typer) and the typer command give the same one line, exit 2."""
    import dsarctl.cli.morning as morning

    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    (company / ".dsarctl" / "audit.db").unlink()
    both = both_paths(cli, monkeypatch, morning)
    for fast, slow in [both(*_args(company, *args))
                       for args in (("overdue",), ("overdue", "--json"), ("overdue", "--within=3"))]:
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err)
        _missing_line(fast, company / ".dsarctl" / "audit.db")
    assert not (company / ".dsarctl" / "audit.db").exists()


def test_a_log_on_an_unmounted_disk(cli, company, tmp_path_factory):
    """The log on another disk (an absolute audit.path): unmounted, the mount point is an empty folder."""
    disk = tmp_path_factory.mktemp("disk")
    inventory = company / "inventory.yaml"
    inventory.write_text(inventory.read_text().replace("identities:", f"audit:\n  path: {disk}/dsar/audit.db\n"
                                                                      "identities:", 1))
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access",
                      "--received", "2026-01-02")).code == 0
    assert str(disk / "dsar" / "audit.db") in recorded(company / MARKER)  # outside the folder: absolute
    assert cli(*_args(company, "overdue")).code == 1  # overdue: the alarm rings

    unmounted = tmp_path_factory.mktemp("elsewhere") / "disk"
    shutil.move(str(disk), str(unmounted))
    disk.mkdir()  # the empty mount point
    for args in [("overdue",), ("overdue", "--json"), ("request", "list"), ("audit", "verify"),
                 ("request", "new", "bob@example.com", "--type", "access")]:
        _missing_line(cli(*_args(company, *args)), disk / "dsar" / "audit.db")
    assert list(disk.iterdir()) == []

    disk.rmdir()
    shutil.move(str(unmounted), str(disk))  # mounted again
    result = cli(*_args(company, "overdue", "--json"))
    assert result.code == 1 and [r["id"] for r in result.json()["overdue"]] == ["R-2026-0001"]


def test_another_log_at_the_path_is_refused(cli, company):
    """A fresh log created at the path behind dsarctl's back (an older install, another tool) is not the one
    the inventory used: its requests would be silently missing."""
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    log_path = company / ".dsarctl" / "audit.db"
    old_id = recorded(company / MARKER)[".dsarctl/audit.db"]
    shutil.rmtree(company / ".dsarctl")
    AuditLog.open(log_path).close()
    result = cli(*_args(company, "overdue"))
    assert (result.code, result.out) == (2, "") and result.err.count("\n") == 1, result
    assert f"{log_path}: not the audit log this inventory has used (log {old_id}; this file is log " in result.err


def test_a_new_log_is_started_on_purpose_by_deleting_the_marker_line(cli, company):
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    old_id = recorded(company / MARKER)[".dsarctl/audit.db"]
    shutil.rmtree(company / ".dsarctl")
    assert cli(*_args(company, "request", "new", "bob@example.com", "--type", "access")).code == 2
    marker = company / MARKER
    marker.write_text("".join(line + "\n" for line in marker.read_text().splitlines() if old_id not in line))
    opened = cli(*_args(company, "request", "new", "bob@example.com", "--type", "access", "--json"))
    assert opened.code == 0 and opened.json()["id"] == "R-2026-0001", opened
    assert recorded(marker)[".dsarctl/audit.db"] not in ("", old_id)


def test_a_log_from_before_markers_is_adopted_on_its_first_use(cli, company):
    """An existing log (made before this version: no marker beside the inventory) is remembered the first
    time any command opens it, the morning check included."""
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    (company / MARKER).unlink()
    assert cli(*_args(company, "overdue")).code == 0
    assert set(recorded(company / MARKER)) == {".dsarctl/audit.db"}
    (company / ".dsarctl" / "audit.db").unlink()
    _missing_line(cli(*_args(company, "overdue")), company / ".dsarctl" / "audit.db")


def test_the_marker_follows_the_folder_when_it_moves(cli, company, tmp_path_factory):
    assert cli(*_args(company, "request", "new", "alice@example.com", "--type", "access")).code == 0
    moved = tmp_path_factory.mktemp("moved") / "company"
    shutil.copytree(company, moved)
    assert cli(*_args(moved, "request", "list")).code == 0
    (moved / ".dsarctl" / "audit.db").unlink()
    _missing_line(cli(*_args(moved, "request", "list")), moved / ".dsarctl" / "audit.db")
