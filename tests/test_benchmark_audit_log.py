"""The benchmark's synthetic audit log looks like a company's after five years (docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fill_audit_log_is_realistic_and_reused(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    shutil.copy(ROOT / "inventory.yaml", tmp_path / "inventory.yaml")
    run = _run_module()
    message = run.fill_audit_log(tmp_path, 20_000)
    db = sqlite3.connect(tmp_path / ".dsarctl" / "audit.db")
    total, active, first = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('open', 'verified', 'paused')), min(received_at) "
        "FROM requests").fetchone()
    assert total == 20_000
    assert (date.today() - date.fromisoformat(first[:10])).days >= 5 * 365 - 1
    assert 100 < active < 400  # the last six weeks, most of them younger than two weeks
    overdue = db.execute("SELECT count(*) FROM requests WHERE status IN ('open', 'verified') AND due_date < ?",
                         [date.today().isoformat()]).fetchone()[0]
    assert 1 <= overdue <= 30, overdue
    assert f"{overdue} overdue" in message
    # every row as an event wrote it: overdue (which compares each active row with its latest event) finds
    # nothing untrusted, and the chain verifies
    assert db.execute("SELECT count(DISTINCT request_id) FROM events WHERE kind = 'request.new'").fetchone() == (
        20_000,)
    db.close()
    from dsarctl.audit import AuditLog

    with AuditLog.open(tmp_path / ".dsarctl" / "audit.db", create=False) as log:
        assert log.untrusted_requests() == []
        assert log.verify().ok
    assert run.fill_audit_log(tmp_path, 20_000).startswith("20000 requests already in the log")
