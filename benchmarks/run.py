"""Time dsarctl against the floor (grep, indexed sqlite3 lookups, bare Python start-up) on generated data.

    python benchmarks/generate.py /tmp/bench300k --records 300000
    python benchmarks/run.py /tmp/bench300k --runs 5 --save benchmarks/results/300k.json
    python benchmarks/run.py --report docs/benchmarks.md benchmarks/results/*.json

Every command runs as a subprocess, `--runs` times; the median wall time (time.perf_counter) is kept,
and the peak RSS of each run comes from `/usr/bin/time -f %M` (Debian package `time`) when present.
The baseline of `find` is measured in the same run: the bare start-up (`python -c "import typer, rich"`)
+ `grep -F -i -c SUBJECT` over every file source (recursive for the Maildir) + one sqlite3 CLI call per
table the search touches, with the identifiers the expansion ends with (the floor: it knows the answer).

`erase` runs on a copy of the data (each run erases a different ordinary subject, so every run does
the same work); `erase --batch` erases 1,000 other subjects per run, and one extra run under strace
counts how many times each file source is replaced. Commands that do not exist yet are reported as
"not available" instead of failing the run. `--report` writes the tables between the result markers
of docs/benchmarks.md (the prose around them is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIME = shutil.which("time") and Path("/usr/bin/time").exists() and "/usr/bin/time"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
FILE_SOURCES = ["newsletter.csv", "usage.jsonl", "support.mbox"]
MAILDIR = "sales-maildir"
TIMED_OUT = -9


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def dsarctl() -> list[str]:
    exe = Path(sys.executable).with_name("dsarctl")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dsarctl"]


def run_once(cmd: list[str], cwd: Path | None = None, timeout: float | None = None) -> tuple[float, int | None, int]:
    """(wall seconds, peak RSS in KB or None, exit code) of one run; output is discarded."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        full = [TIME, "-f", "%M", "-o", rss.name, *cmd] if TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # its own session: the wrapper and dsarctl under it
            proc.communicate()
            log(f"  ! timed out after {timeout:.0f} s: {' '.join(cmd)[:200]}")
            return time.perf_counter() - start, None, TIMED_OUT
        elapsed = time.perf_counter() - start
        peak = None
        if TIME:
            lines = [ln for ln in Path(rss.name).read_text().splitlines() if ln.strip().isdigit()]
            peak = int(lines[-1]) if lines else None
    if proc.returncode not in (0, 1):  # 1 is a normal "no" (grep found nothing, nothing overdue)
        log(f"  ! exit {proc.returncode}: {' '.join(cmd)[:200]}\n    {err.strip()[:400]}")
    return elapsed, peak, proc.returncode


def measure(name: str, cmds, runs: int, cwd: Path | None = None, timeout: float | None = None, **extra) -> dict:
    """Run `cmds` (one command, or a function run index -> command) `runs` times; with `timeout`, stop at
    the first run that takes longer and record the timeout as a lower bound (`timed_out`)."""
    return measure_together([(name, cmds, timeout, extra)], runs, cwd)[0]


def measure_together(specs: list[tuple], runs: int, cwd: Path | None = None) -> list[dict]:
    """`measure` for several commands, interleaved: run i of each, then run i + 1 of each... A machine
    whose speed drifts during the benchmark (a shared VM) then slows the commands compared alike,
    where one after the other it would bias their ratio. Each spec: (name, cmds, timeout, extra)."""
    state = [{"times": [], "peaks": [], "codes": [], "extra": dict(extra), "done": False}
             for _name, _cmds, _timeout, extra in specs]
    for i in range(runs):
        for (name, cmds, timeout, _extra), st in zip(specs, state):
            if st["done"]:
                continue
            cmd = cmds(i) if callable(cmds) else cmds
            elapsed, peak, code = run_once(cmd, cwd, timeout)
            if code == TIMED_OUT:
                st["extra"]["timed_out"] = True
                st["times"], st["codes"], st["done"] = [elapsed], [code], True
                continue
            st["times"].append(elapsed)
            st["codes"].append(code)
            if peak is not None:
                st["peaks"].append(peak)
    rows = []
    for (name, cmds, _timeout, _extra), st in zip(specs, state):
        peaks = st["peaks"]
        row = {"name": name, "median_s": statistics.median(st["times"]), "runs": runs, "times_s": st["times"],
               "peak_rss_mb": max(peaks) / 1024 if peaks else None, "exit_codes": sorted(set(st["codes"])),
               "command": " ".join(cmds(0) if callable(cmds) else cmds), **st["extra"]}
        log(f"  {name}: median {row['median_s']:.3f} s"
            + (f", peak {row['peak_rss_mb']:.0f} MB" if row["peak_rss_mb"] else ""))
        rows.append(row)
    return rows


def available(*args: str) -> bool:
    return subprocess.run([*dsarctl(), *args, "--help"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


# What `overdue --json` cannot avoid, written as plainly as Python allows: the start-up (typer and rich),
# today's date in the controller's zone (zoneinfo), the indexed queries on the audit log (sqlite3), and
# one JSON document out. No CLI parsing, no inventory, no validation: the floor any Python tool with this
# start-up pays, against which `overdue`'s 1.2x target can be judged.
OVERDUE_FLOOR = """
import sys, json, sqlite3, zoneinfo, typer, rich
from datetime import datetime, timedelta, timezone
today = datetime.now(timezone.utc).astimezone(zoneinfo.ZoneInfo("Europe/London")).date()
horizon = (today + timedelta(days=7)).isoformat()
db = sqlite3.connect(sys.argv[1])
db.row_factory = sqlite3.Row
rows = [dict(r) for r in db.execute("SELECT * FROM requests WHERE status IN ('open', 'verified', 'paused') "
                                    "AND due_date <= ? ORDER BY due_date, id", [horizon])]
notices = [dict(r) for r in db.execute("SELECT * FROM requests WHERE status IN ('open', 'verified', 'paused') "
                                       "AND extended = 0 AND extension_notice_due BETWEEN ? AND ?",
                                       [today.isoformat(), horizon])]
tasks = [dict(r) for r in db.execute("SELECT * FROM tasks WHERE status = 'open'")]
print(json.dumps({"overdue": rows, "extension_notices": notices, "open_tasks": tasks}))
"""


def fill_audit_log(data: Path, count: int) -> str:
    """Put `count` requests into the inventory's audit log, as a company's log looks after ~5 years.

    Requests arrive evenly over the last five years. Everything received more than six weeks ago has been
    closed (one in ten denied); of those received in the last six weeks, the last two weeks' are all
    still active and one in twenty of the older ones, so a few tens are overdue and a few tens due this week
    (what the morning check lists). 100 of the recent ones go through RequestBook.new (real deadline
    computation, events in the chain), the rest are bulk-inserted with the same columns (as
    tests/test_requests.py does), each with the `request.new` event that records it in the chain (so the
    log verifies, and `overdue`, which compares every active row with its latest event, finds each one as
    dsarctl wrote it), counting the requests the log holds as active as dsarctl's events do
    (`active_requests`). A log left by an earlier, different fill (or one without that count) is rebuilt.
    """
    from datetime import timedelta

    from dateutil.relativedelta import relativedelta

    from dsarctl.audit import row_digest
    from dsarctl.audit_marker import marker_path, open_audit
    from dsarctl.inventory import load_inventory
    from dsarctl.requests import ACTIVE, RequestBook

    path = data / ".dsarctl" / "audit.db"
    today = date.today()
    if path.exists():
        with sqlite3.connect(path) as db:
            total, active = db.execute(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('open', 'verified', 'paused')) "
                "FROM requests").fetchone()
            logged = db.execute("SELECT count(*) FROM events WHERE kind = 'request.new'").fetchone()[0]
            counted = db.execute("SELECT json_extract(data, '$.active_requests') FROM events "
                                 "WHERE kind LIKE 'request.%' ORDER BY seq DESC LIMIT 1").fetchone()
        if total >= count and active <= count // 20 and logged >= total and counted and counted[0] is not None:
            return f"{total} requests already in the log ({active} active)"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    inventory = load_inventory(data / "inventory.yaml")
    # a new log on purpose: the marker that pins the folder's log (a find before the fill created one) is
    # deleted as docs/reliability.md says, and the new log is opened as dsarctl opens it, which records it
    marker_path(inventory).unlink(missing_ok=True)
    audit = open_audit(inventory, create=True)
    try:
        book = RequestBook(audit, inventory)
        now = datetime.now(timezone.utc)
        for n in range(100):  # received over the last six weeks; answered after two, a few stragglers
            r = book.new(f"planted{n}@bench.example", "access", now - timedelta(hours=10 * n), operator="bench",
                         now=now)
            if n >= 34 and n % 10:
                book.close(r["id"], "answered", operator="bench", now=now)
        span = 5 * 365
        rows = []
        bulk = count - 100
        for n in range(bulk):
            received = today - timedelta(days=span - span * n // bulk)
            age = (today - received).days
            due = received + relativedelta(months=1)
            if age <= 14 or (age <= 42 and n % 20 == 0):
                status, closed_at = ACTIVE[n % 2], None
            else:
                status = "denied" if n % 10 == 3 else "closed"
                closed_at = f"{received + timedelta(days=5 + n % 20)}T16:00:00+00:00"
            rows.append((
                f"R-{received.year}-{n + 1:06d}", f"user{n}@example.com", f'["email:user{n}@example.com"]',
                ("access", "erasure", "access", "rectification")[n % 4], status, "uk-gdpr", "Europe/London",
                "GB-ENG", f"{received}T12:00:00+00:00", due.isoformat(), due.isoformat(), "[]", 0,
                f"{received}T12:05:00+00:00", "bench", closed_at,
            ))
        active_requests = audit.logged_active_count()  # what the events of RequestBook.new counted
        with audit.transaction():
            audit.conn.executemany(
                "INSERT INTO requests (id, subject, identifiers, type, status, regime, timezone, calendar, "
                "received_at, due_date, extension_notice_due, pauses, extended, created_at, created_by, "
                "closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for stored in audit.query("SELECT * FROM requests WHERE created_by = 'bench' AND id NOT LIKE "
                                      "'R-____-____' ORDER BY created_at, id"):
                active_requests += stored["status"] in ACTIVE
                audit.append("request.new", {
                    "type": stored["type"], "regime": stored["regime"], "received_at": stored["received_at"],
                    "status": stored["status"], "due_date": stored["due_date"],
                    "row": {"table": "requests", "key": stored["id"], "sha256": row_digest(stored)},
                    "active_requests": active_requests},
                    request_id=stored["id"], operator="bench", at=datetime.fromisoformat(stored["created_at"]))
        report = book.overdue(today)
        total = audit.conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        return (f"{total} requests over 5 years (100 via RequestBook.new, the rest bulk-inserted): "
                f"{len(report['overdue'])} overdue, {len(report['due_soon'])} due within 7 days")
    finally:
        audit.close()


def check_planted(data: Path, planted: dict) -> list[dict]:
    """Run find once per planted subject and compare the counts with planted.json."""
    out = []
    for subject in planted["subjects"]:
        proc = subprocess.run([*dsarctl(), "-i", str(data / "inventory.yaml"), "find", subject["email"], "--json"],
                              capture_output=True, text=True)
        try:
            doc = json.loads(proc.stdout)
            got = {f"{s['system']}.{c['collection']}": c["count"]
                   for s in doc["systems"] for c in s.get("collections", [])}
        except (ValueError, KeyError):
            got = {}
        ok = all(got.get(k) == v for k, v in subject["expected"].items())
        out.append({"subject": subject["email"], "where": subject["name"], "ok": ok, "found": got})
        log(f"  planted {subject['name']}: {'ok' if ok else 'MISMATCH ' + json.dumps(got)}")
    return out


def baseline_parts(data: Path, subject: dict, python: str) -> list[tuple]:
    """The baseline's commands, as `measure_together` specs (a missing sqlite3 CLI: a dict saying so)."""
    email = subject["email"]
    cid = subject["customer_id"]
    orders = ",".join(str(o) for o in subject["order_ids"])
    rows: list = [("start-up: python -c 'import typer, rich'", [python, "-c", "import typer, rich"], None, {})]
    for name in FILE_SOURCES:
        rows.append((f"grep -F -i -c {name}", ["grep", "-F", "-i", "-c", email, str(data / name)], None, {}))
    rows.append((f"grep -F -i -c -r {MAILDIR}/", ["grep", "-F", "-i", "-c", "-r", email, str(data / MAILDIR)],
                 None, {}))
    sqlite = shutil.which("sqlite3")
    if not sqlite:
        rows.append({"name": "sqlite3 CLI", "missing": "sqlite3 not installed (apt-get install sqlite3)"})
        return rows
    queries = {
        "crm.customers": ("crm.db", f"select * from customers where lower(trim(email))='{email}'; "
                                    f"select * from customers where id={cid};"),
        "crm.tickets": ("crm.db", f"select * from tickets where customer_id={cid};"),
        "orders.orders": ("orders.db", f"select * from orders where lower(trim(billing_email))='{email}'; "
                                       f"select * from orders where customer_id='{cid}'; "
                                       f"select * from orders where id in ({orders});"),
        "orders.order_items": ("orders.db", f"select * from order_items where order_id in ({orders});"),
    }
    for coll, (db, sql) in queries.items():
        rows.append((f"sqlite3 {db} ({coll})", [sqlite, str(data / db), sql], None, {}))
    return rows


def run(data: Path, runs: int, erase_runs: int, batch_size: int, overdue_count: int,
        batch_timeout: float) -> dict:
    planted = json.loads((data / "planted.json").read_text())
    subject = planted["subjects"][1]  # the middle one
    inv = str(data / "inventory.yaml")
    cli = dsarctl()
    python = sys.executable
    sizes = {p.name: p.stat().st_size for p in data.iterdir() if p.is_file() and not p.name.startswith(".")}
    sizes[MAILDIR] = sum(f.stat().st_size for f in (data / MAILDIR).rglob("*") if f.is_file())
    result = {
        "records": planted["records"], "messages": planted["messages"], "subject": subject["email"],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "sizes_mb": {k: round(v / 1e6, 1) for k, v in sorted(sizes.items())},
        "peak_rss_tool": TIME or None, "rows": {},
    }
    rows = result["rows"]
    log(f"data: {data} ({planted['records']} records, {planted['messages']} messages per mailbox)")
    result["planted"] = check_planted(data, planted)

    log(f"audit log: {fill_audit_log(data, overdue_count)}")
    log("baseline and dsarctl, interleaved run by run")
    specs = baseline_parts(data, subject, python)
    missing = [s for s in specs if isinstance(s, dict)]
    specs = [s for s in specs if not isinstance(s, dict)]
    base = len(specs)
    specs.append(("dsarctl --help", [*cli, "--help"], None, {}))
    specs.append(("dsarctl find", [*cli, "-i", inv, "find", subject["email"], "--json"], None, {}))
    morning = available("overdue")
    if morning:
        specs.append((f"dsarctl overdue ({overdue_count // 1000}k requests)", [*cli, "-i", inv, "overdue", "--json"],
                      None, {}))
    specs.append(("floor: the morning check's own work in plain Python",
                  [python, "-c", OVERDUE_FLOOR, str(data / ".dsarctl" / "audit.db")], None, {}))
    specs.append(("python -c 'import dsarctl.cli'", [python, "-c", "import dsarctl.cli"], None, {}))
    measured = measure_together(specs, runs)
    parts = measured[:base] + missing
    result["baseline_parts"] = parts
    startup = parts[0]["median_s"]
    result["baseline_find_s"] = sum(p["median_s"] for p in parts if "median_s" in p)
    rows["startup"] = parts[0]
    rows["help"], rows["find"] = measured[base], measured[base + 1]
    if morning:
        rows["overdue"] = measured[base + 2]
    rows["overdue_floor"], rows["startup_dsarctl_import"] = measured[-2], measured[-1]

    work = Path(tempfile.mkdtemp(prefix="dsarctl-bench-"))
    try:
        if available("export"):
            rows["export"] = measure("dsarctl export", lambda i: [*cli, "-i", inv, "export", subject["email"],
                                                                  "-o", str(work / f"export-{i}.zip"), "--json"],
                                     runs)
        else:
            rows["export"] = {"name": "dsarctl export", "missing": "no `dsarctl export` command"}

        erase_ok = available("erase")
        if erase_ok:
            copy = work / "copy"
            log(f"copying the data for erase ({sum(sizes.values()) / 1e6:.0f} MB)")
            shutil.copytree(data, copy, symlinks=True)
            cinv = str(copy / "inventory.yaml")
            ordinary = (data / "subjects.txt").read_text().split()
            single = ("dsarctl erase (1 subject)",
                      lambda i: [*cli, "-i", cinv, "erase", ordinary[i], "--yes", "--json"], None, {})
            if not _has_option("erase", "--batch"):
                rows["erase"] = measure_together([single], erase_runs)[0]
            else:
                batches = []
                for i in range(erase_runs + 1):
                    path = work / f"batch-{i}.txt"
                    start = erase_runs + i * batch_size
                    path.write_text("\n".join(ordinary[start:start + batch_size]) + "\n")
                    batches.append(path)
                small = work / "batch-small.txt"
                small.write_text("\n".join(ordinary[-10:]) + "\n")
                rows["erase_batch_small"] = measure(
                    "dsarctl erase --batch (10 subjects)",
                    [*cli, "-i", cinv, "erase", "--batch", str(small), "--yes", "--json"], 1)
                rows["erase"], rows["erase_batch"] = measure_together([single, (
                    f"dsarctl erase --batch ({batch_size} subjects)",
                    lambda i: [*cli, "-i", cinv, "erase", "--batch", str(batches[i]), "--yes", "--json"],
                    batch_timeout, {})], erase_runs)
                last = batches[-1]
                if rows["erase_batch"].get("timed_out"):  # a fresh small batch: erased subjects cause no rewrite
                    last = work / "batch-strace.txt"
                    last.write_text("\n".join(ordinary[-20:-10]) + "\n")
                rows["erase_batch"]["rewrites_of"] = last.name
                rows["erase_batch"]["rewrites"] = count_rewrites(
                    [*cli, "-i", cinv, "erase", "--batch", str(last), "--yes", "--json"], copy)
            if not _has_option("erase", "--batch"):
                rows["erase_batch"] = {"name": "dsarctl erase --batch", "missing": "no --batch option"}
        else:
            rows["erase"] = {"name": "dsarctl erase", "missing": "no `dsarctl erase` command"}
            rows["erase_batch"] = {"name": "dsarctl erase --batch", "missing": "no `dsarctl erase` command"}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not morning:
        code = ("from datetime import date; from dsarctl.inventory import load_inventory; "
                "from dsarctl.audit import AuditLog; from dsarctl.requests import RequestBook; "
                f"inv = load_inventory({inv!r}); "
                f"book = RequestBook(AuditLog.open({str(data / '.dsarctl' / 'audit.db')!r}), inv); "
                "import json; json.dumps(book.overdue(date.today()), default=str)")
        rows["overdue"] = {"name": "dsarctl overdue", "missing": "no `dsarctl overdue` command"}
        rows["overdue_core"] = measure(f"stand-in: RequestBook.overdue() via python -c ({overdue_count // 1000}k)",
                                       [python, "-c", code], runs)
    result["startup_s"] = startup
    return result


def _has_option(command: str, option: str) -> bool:
    proc = subprocess.run([*dsarctl(), command, "--help"], capture_output=True, text=True)
    return option in proc.stdout


def count_rewrites(cmd: list[str], data: Path) -> dict:
    """How many times each file source is replaced (rename onto it) during one run, by strace."""
    if not shutil.which("strace"):
        return {"error": "strace not installed"}
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        subprocess.run(["strace", "-f", "-e", "trace=rename,renameat,renameat2", "-o", trace.name, *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = Path(trace.name).read_text()
    counts = {}
    for name in FILE_SOURCES:
        counts[name] = sum(1 for line in text.splitlines() if "rename" in line and f'/{name}")' in line)
    return counts


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem / 1024 / 1024), "python":
            platform.python_version(), "os": platform.platform(terse=True), "commit": commit,
            "sqlite3_cli": subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0]
            if shutil.which("sqlite3") else None,
            "sqlite_lib": sqlite3.sqlite_version}


# --- the report ---------------------------------------------------------------------------------------


def _s(row: dict) -> str:
    if row.get("timed_out"):
        return f"> {row['median_s']:.0f} (timed out)"
    return f"{row['median_s']:.3f}" if "median_s" in row else "not available"


def _mb(row: dict) -> str:
    return f"{row['peak_rss_mb']:.0f}" if row.get("peak_rss_mb") else "–"


def targets(res: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for one result set."""
    rows, base, startup = res["rows"], res["baseline_find_s"], res["startup_s"]
    out = []
    find = rows["find"]
    ratio = find["median_s"] / base
    out.append(("`find` ≤ 1.5× baseline", f"{ratio:.2f}× ({find['median_s']:.2f} s vs {base:.2f} s)",
                "met" if ratio <= 1.5 else "NOT met"))
    mb = res["sizes_mb"].get("support.mbox", 0)
    for key in ("find", "export", "erase", "erase_batch"):
        row = rows.get(key, {})
        if row.get("peak_rss_mb"):
            out.append((f"peak memory of {row['name']} < 150 MB (mbox {mb:.0f} MB)", f"{row['peak_rss_mb']:.0f} MB",
                        "met" if row["peak_rss_mb"] < 150 else "NOT met"))
    single, batch = rows.get("erase", {}), rows.get("erase_batch", {})
    if "median_s" in single and "median_s" in batch:
        r = batch["median_s"] / single["median_s"]
        gt = "> " if batch.get("timed_out") else ""
        out.append((f"`{batch['name']}` ≤ 2× single erase",
                    f"{gt}{r:.2f}× ({gt}{batch['median_s']:.2f} s vs {single['median_s']:.2f} s)",
                    "met" if r <= 2 else "NOT met"))
        rw = batch.get("rewrites", {})
        if rw and "error" not in rw:
            once = all(v <= 1 for v in rw.values())
            out.append(("`erase --batch` rewrites each file source once",
                        ", ".join(f"{k}: {v}" for k, v in rw.items())
                        + f" renames in one run of {batch.get('rewrites_of', 'a batch')} (Maildir: messages unlinked)",
                        "met" if once else "NOT met"))
    else:
        out.append(("`erase --batch` ≤ 2× single erase", "not available", "not measured"))
    od = rows.get("overdue", {})
    if "median_s" in od:
        r = od["median_s"] / startup
        floor = rows.get("overdue_floor", {})
        extra = (f"; the floor (the same work in plain Python) is {floor['median_s'] / startup:.2f}×"
                 if "median_s" in floor else "")
        out.append(("`overdue` (100k requests) ≤ 1.2× start-up", f"{r:.2f}× ({od['median_s']:.3f} s){extra}",
                    "met" if r <= 1.2 else "NOT met"))
    else:
        core = rows.get("overdue_core")
        extra = f"; core stand-in {core['median_s'] / startup:.2f}× ({core['median_s']:.3f} s)" if core else ""
        out.append(("`overdue` (100k requests) ≤ 1.2× start-up", f"no `dsarctl overdue` command{extra}",
                    "not measurable"))
    h = rows["help"]["median_s"] / startup
    out.append(("`dsarctl --help` ≤ 1.2× start-up", f"{h:.2f}× ({rows['help']['median_s']:.3f} s vs {startup:.3f} s)",
                "met" if h <= 1.2 else "NOT met"))
    return out


def render(results: list[dict]) -> str:
    lines = []
    for res in sorted(results, key=lambda r: r["records"]):
        m = res["machine"]
        base, startup = res["baseline_find_s"], res["startup_s"]
        lines += [f"### {res['records']:,} records per source ({res['messages']:,} messages per mailbox)", "",
                  f"Measured {res['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, "
                  f"Python {m['python']}, SQLite {m['sqlite_lib']}, dsarctl commit `{m['commit']}`; "
                  f"median of {res['rows']['find']['runs']} runs; subject `{res['subject']}` (planted in the middle).",
                  "", "Source sizes (MB): " + ", ".join(f"{k} {v:,.0f}" for k, v in res["sizes_mb"].items()
                                                         if k not in ("planted.json", "inventory.yaml",
                                                                      "subjects.txt")) + ".", "",
                  "| command | median s | peak RSS MB | ratio | against |", "|---|---:|---:|---:|---|"]
        compare = {"find": ("baseline find", base), "export": ("baseline find", base),
                   "erase": ("baseline find", base), "erase_batch": ("single erase",
                                                                    res["rows"].get("erase", {}).get("median_s")),
                   "overdue": ("start-up", startup), "overdue_core": ("start-up", startup),
                   "overdue_floor": ("start-up", startup),
                   "help": ("start-up", startup), "startup_dsarctl_import": ("start-up", startup)}
        compare["erase_batch_small"] = compare["erase_batch"]
        for key in ("find", "export", "erase", "erase_batch_small", "erase_batch", "overdue", "overdue_core",
                    "overdue_floor", "help", "startup_dsarctl_import"):
            row = res["rows"].get(key)
            if row is None:
                continue
            against, ref = compare[key]
            ratio = f"{row['median_s'] / ref:.2f}×" if "median_s" in row and ref else "–"
            if row.get("timed_out"):
                ratio = "> " + ratio
            name = row["name"] if "median_s" in row else f"{row['name']} ({row['missing']})"
            lines.append(f"| {name} | {_s(row)} | {_mb(row)} | {ratio} | {against} |")
        lines += ["", "Baseline of `find` (sum of the parts below: "
                  f"**{base:.3f} s**):", "", "| part | median s | peak RSS MB |", "|---|---:|---:|"]
        for part in res["baseline_parts"]:
            lines.append(f"| {part['name']} | {_s(part)} | {_mb(part)} |")
        lines += ["", "Targets:", "", "| target | measured | verdict |", "|---|---|---|"]
        lines += [f"| {t} | {m_} | {v} |" for t, m_, v in targets(res)]
        bad = [p for p in res.get("planted", []) if not p["ok"]]
        lines += ["", "Planted subjects found with the expected counts: "
                  + ("all three (start, middle, end)." if not bad else
                     "NO — " + ", ".join(p["where"] for p in bad) + "."), ""]
    return "\n".join(lines)


def write_report(path: Path, results: list[dict]) -> None:
    body = render(results)
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="a folder written by benchmarks/generate.py")
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument("--erase-runs", type=int, default=3, help="runs of erase and erase --batch (default 3)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-timeout", type=float, default=600,
                        help="give up on an erase --batch run after this many seconds (reported as a lower bound)")
    parser.add_argument("--overdue-requests", type=int, default=100_000)
    parser.add_argument("--save", type=Path, help="write the results as JSON here")
    parser.add_argument("--report", type=Path, help="write the tables into this Markdown file (between markers)")
    parser.add_argument("results", nargs="*", type=Path, help="with --report: saved JSON results to include")
    args = parser.parse_args(argv)
    results = [json.loads(p.read_text()) for p in args.results]
    if args.data and (args.data / "planted.json").exists():
        res = run(args.data, args.runs, args.erase_runs, args.batch_size, args.overdue_requests, args.batch_timeout)
        results.append(res)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(res, indent=1) + "\n")
        print(render([res]))
    elif args.data:
        results.insert(0, json.loads(args.data.read_text()))  # a saved result given first
    if args.report:
        if not results:
            parser.error("--report needs a data folder or saved results")
        write_report(args.report, results)
        log(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
