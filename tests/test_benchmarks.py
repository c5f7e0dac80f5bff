"""The benchmark generator writes a valid inventory, and its planted subjects are where planted.json says."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_company_finds_every_planted_subject(tmp_path: Path):
    generate = _load("generate")
    out = tmp_path / "bench"
    planted = generate.generate(out, 2000)
    assert planted["records"] == 2000 and planted["messages"] == 200
    with sqlite3.connect(out / "crm.db") as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 2000
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ix_customers_email_lower", "ix_tickets_customer_id"} <= indexes
    assert sum(1 for _ in open(out / "usage.jsonl")) == 2000
    assert len(list((out / "sales-maildir").rglob("*.bench*"))) == 200

    for subject in planted["subjects"]:
        proc = subprocess.run(
            [sys.executable, "-m", "dsarctl", "-i", str(out / "inventory.yaml"), "find", subject["email"], "--json"],
            capture_output=True, text=True, cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        found = {f"{s['system']}.{c['collection']}": c["count"] for s in doc["systems"] for c in s.get("collections", [])}
        assert {k: found.get(k) for k in subject["expected"]} == subject["expected"], subject["name"]
        assert doc["failures"] == [] and doc["ambiguous"] == {}
        ids = {(i["kind"], i["value"]) for i in doc["identifiers"]}
        assert ("customer_id", str(subject["customer_id"])) in ids
        assert {("order_id", str(o)) for o in subject["order_ids"]} <= ids


def test_report_marks_missing_commands_and_keeps_prose(tmp_path: Path):
    run = _load("run")
    part = {"name": "start-up", "median_s": 0.05, "runs": 1, "peak_rss_mb": 16}
    result = {
        "records": 100, "messages": 30, "subject": "planted.middle@bench.example", "date": "2026-01-01",
        "machine": {"cpu": "x", "cores": 2, "memory_gb": 1, "python": "3", "sqlite_lib": "3", "commit": "abc"},
        "sizes_mb": {"support.mbox": 1.0}, "baseline_parts": [part], "baseline_find_s": 0.1, "startup_s": 0.05,
        "rows": {"find": {"name": "dsarctl find", "median_s": 0.2, "runs": 1, "peak_rss_mb": 60},
                 "help": {"name": "dsarctl --help", "median_s": 0.06, "runs": 1},
                 "erase": {"name": "dsarctl erase", "missing": "no `dsarctl erase` command"}},
        "planted": [],
    }
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nprose before\n\n{run.BEGIN}\nold\n{run.END}\n\nprose after\n")
    run.write_report(doc, [result])
    text = doc.read_text()
    assert "prose before" in text and "prose after" in text and "\nold\n" not in text
    assert "no `dsarctl erase` command" in text
    assert "| `find` ≤ 1.5× baseline | 2.00× (0.20 s vs 0.10 s) | NOT met |" in text
    assert "| `dsarctl --help` ≤ 1.2× start-up | 1.20× (0.060 s vs 0.050 s) | met |" in text
