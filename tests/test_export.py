"""`dsarctl export`: the access package of the demo subject, its manifest, and how it is written."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
import stat
import tracemalloc
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dsarctl import __version__, demo
from dsarctl.export import flatten, plain, safe_name, write_package

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)

# What the demo plants for Alice (dsarctl/demo.py) ...
ALICE_TICKETS = {1, 4}
ALICE_ORDERS = {5001, 5002}
ALICE_ITEMS = {1, 2, 3}
ALICE_MAILS = {"support": {"<m1@northwind.example>", "<m2@northwind.example>"},
               "sales_inbox": {"<s1@northwind.example>"}}
# ... and what belongs to everyone else: none of it may appear outside mail messages sent to Alice.
OTHERS = ["bob@example.net", "zoe@example.org", "xzoe@example.org.uk", "zoe@example.org.au",
          "dan@example.com", "erin@example.com", "Bob Builder", "Zoe Zed", "Xavier", "Dan Double", "Erin",
          "NW-BOB", "NW-ZOE", "NW-XZOE", "198.51.100.2", "192.0.2.", "fcm-0b7d5e4410", "Mill Road",
          "Quay Street", "Station Road"]
OTHER_IDS = ["1043", "1044", "1045", "1046", "1047", "5003", "5004", "5005"]
# Whole messages to Alice also name their other recipients (documented in docs/export.md).
CO_RECIPIENTS = {"support": {"bob@example.net"}, "sales_inbox": {"erin@example.com", "Erin"}}


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch) -> Path:
    from dsarctl.inventory import load_inventory

    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    monkeypatch.delenv("DSARCTL_INVENTORY", raising=False)
    shutil.copy(ROOT / "inventory.yaml", tmp_path / "inventory.yaml")
    demo.create_demo(load_inventory(tmp_path / "inventory.yaml"))
    return tmp_path


@pytest.fixture
def run(capsys, monkeypatch, demo_dir):
    """`dsarctl -i <demo inventory> ARGS` in-process: (exit code, stdout, stderr)."""
    from dsarctl.cli import main

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")

    def call(*args: str):
        capsys.readouterr()
        try:
            main(["-i", str(demo_dir / "inventory.yaml"), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _read(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _others_in(text: str) -> list[str]:
    found = [o for o in OTHERS if o.lower() in text.lower()]
    return found + [i for i in OTHER_IDS if re.search(rf"(?<![\w.-]){i}(?![\w.-])", text)]


def test_alice_package_holds_every_planted_record_and_nothing_of_anyone_else(run, demo_dir):
    target = demo_dir / "alice.zip"
    code, out, err = run("export", "alice@example.com", "-o", str(target), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["file"] == str(target) and summary["total"] == 16 and summary["failures"] == []
    files = _read(target)

    def records(system, collection):
        return json.loads(files[f"data/{system}/{collection}.json"])

    def rows(system, collection):
        return list(csv.DictReader(io.StringIO(files[f"data/{system}/{collection}.csv"].decode("utf-8-sig"))))

    alice = next(c for c in demo.CUSTOMERS if c[0] == 1042)
    assert records("crm", "customers") == [dict(zip(["id", "name", "email", "phone", "address", "created_at",
                                                     "last_login"], alice))]
    assert {t["id"] for t in records("crm", "tickets")} == ALICE_TICKETS
    assert records("crm", "tickets")[0]["body"] == demo.TICKETS[0][3]  # every field, verbatim
    assert {o["id"] for o in records("orders", "orders")} == ALICE_ORDERS  # retained records are included
    assert {o["total"] for o in records("orders", "orders")} == {49, 99}
    assert {i["id"] for i in records("orders", "order_items")} == ALICE_ITEMS
    assert records("newsletter", "newsletter") == [dict(zip(demo.NEWSLETTER_HEADER, demo.NEWSLETTER[0]))]
    assert records("telemetry", "telemetry") == demo.TELEMETRY[:2]
    assert [r["device_token"] for r in records("push", "push")] == ["apns-7f3a9c0e2b", "fcm-c91e22d0aa"]
    # CSV: the same records, nested JSON flattened to dotted columns, union of keys in record order
    assert [r["id"] for r in rows("orders", "order_items")] == ["1", "2", "3"]
    telemetry = rows("telemetry", "telemetry")
    assert list(telemetry[0]) == ["ts", "account", "user.email", "ip", "tz", "app_version", "licence_key",
                                  "event"]
    assert [t["user.email"] for t in telemetry] == ["alice@example.com", ""]

    # mail: whole messages, byte for byte as in the mailbox (without the mbox From_ line)
    for system, wanted in ALICE_MAILS.items():
        emls = {n: b for n, b in files.items() if n.startswith(f"data/{system}/") and n.endswith(".eml")}
        ids = {re.search(rb"Message-ID: (<[^>]+>)", b).group(1).decode() for b in emls.values()}
        assert ids == wanted
        assert {m["message-id"] for m in records(system, system)} == wanted
    mbox = (demo_dir / "demo/support.mbox").read_bytes()
    assert files["data/support/support/message-00001.eml"] in mbox
    assert files["data/support/support/message-00001.eml"].startswith(b"From: =?utf-8?q?Alice_Exampl=C3=A9?=")
    maildir = demo_dir / "demo/sales-maildir/cur/1700000001.M1P1.northwind:2,S"
    assert files["data/sales_inbox/sales_inbox/message-00001.eml"] == maildir.read_bytes()

    # nobody else: not in any data file, except the co-recipients of the messages sent to Alice
    for name, content in files.items():
        if not name.startswith("data/"):
            continue
        found = set(_others_in(content.decode("utf-8")))
        system = name.split("/")[1]
        assert found <= CO_RECIPIENTS.get(system, set()), (name, found)
    index = files["index.html"].decode()
    assert set(_others_in(index)) <= set().union(*CO_RECIPIENTS.values())


@pytest.fixture
def no_audit(monkeypatch):
    """Let --request name any id: attaching runs to requests is the audit log's business, tested there."""
    import dsarctl.runs

    _any_request(monkeypatch)
    monkeypatch.setattr(dsarctl.runs, "record_run", lambda *args, **kwargs: None)


def _any_request(monkeypatch):
    """Accept whatever --request names, without an audit log."""
    import dsarctl.runs

    monkeypatch.setattr(dsarctl.runs, "resolve_request", lambda inventory, kind, identifiers, request_id=None, **_:
                        {"id": request_id, "due_date": None, "created": False} if request_id else None)


def test_manifest_lists_counts_and_verifiable_hashes(run, demo_dir):
    code, out, err = run("request", "new", "alice@example.com", "--type", "access", "--json")
    assert code == 0, err
    request_id = json.loads(out)["id"]
    target = demo_dir / "alice.zip"
    code, _, err = run("export", "alice@example.com", "-o", str(target), "--request", request_id)
    assert code == 0, err
    files = _read(target)
    manifest = json.loads(files["manifest.json"])
    assert manifest["request_id"] == request_id
    assert manifest["subject"] == ["email:alice@example.com"]
    idents = {f"{i['kind']}:{i['value']}" for i in manifest["identifiers"]}
    assert idents >= {"customer_id:1042", "order_id:5002"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["generated_at"])
    assert manifest["dsarctl_version"] == __version__
    inventory_bytes = (demo_dir / "inventory.yaml").read_bytes()
    assert manifest["inventory_sha256"] == hashlib.sha256(inventory_bytes).hexdigest()
    counts = {(s["system"], c["collection"]): (c["count"], c["status"])
              for s in manifest["systems"] for c in s.get("collections", [])}
    assert counts == {
        ("crm", "customers"): (1, "ok"), ("crm", "tickets"): (2, "ok"), ("orders", "orders"): (2, "ok"),
        ("orders", "order_items"): (3, "ok"), ("newsletter", "newsletter"): (1, "ok"),
        ("support", "support"): (2, "ok"), ("sales_inbox", "sales_inbox"): (1, "ok"),
        ("telemetry", "telemetry"): (2, "ok"), ("push", "push"): (2, "ok"),
    }
    analytics = next(s for s in manifest["systems"] if s["system"] == "analytics")
    assert analytics["status"] == "manual" and analytics["task"]["processor"].startswith("Google Ireland")
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}  # every other file, once
    assert len(listed) == len(manifest["files"])
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert entry["bytes"] == len(files[name])


def test_zip_is_owner_only_and_never_overwritten(run, demo_dir):
    target = demo_dir / "alice.zip"
    assert run("export", "alice@example.com", "-o", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert list(demo_dir.glob(".*.part")) == []  # no temp file left
    before = target.read_bytes()
    code, _, err = run("export", "alice@example.com", "-o", str(target))
    assert code == 2
    assert "already exists" in err and "never overwrites" in err
    assert target.read_bytes() == before
    other = demo_dir / "notes.txt"
    other.write_text("keep me")
    assert run("export", "alice@example.com", "-o", str(other))[0] == 2
    assert other.read_text() == "keep me"


def test_target_taken_while_writing_is_not_replaced(demo_dir, monkeypatch):
    """The final name is claimed with a hard link, which fails when someone took the name meanwhile."""
    from dsarctl import export

    inventory, result = _find(demo_dir, "alice@example.com")
    target = demo_dir / "race.zip"
    real_publish = export._publish

    def late_arrival(tmp, final):
        final.write_bytes(b"someone else's file")
        return real_publish(tmp, final)

    monkeypatch.setattr(export, "_publish", late_arrival)
    with pytest.raises(export.TargetExistsError):
        write_package(inventory, result, target, now=NOW)
    assert target.read_bytes() == b"someone else's file"
    assert list(demo_dir.glob(".*.part")) == []


def test_export_without_request_opens_one_and_names_it_in_the_manifest(run, demo_dir):
    target = demo_dir / "auto.zip"
    code, out, err = run("export", "alice@example.com", "-o", str(target), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["request"]["created"] is True
    manifest = json.loads(_read(target)["manifest.json"])
    assert manifest["request_id"] == data["request"]["id"]
    # a second export attaches to the same open access request
    code, out, err = run("export", "alice@example.com", "-o", str(demo_dir / "again.zip"), "--json")
    assert json.loads(out)["request"] == {**data["request"], "created": False}


def test_default_name_is_in_the_current_directory(run, demo_dir, monkeypatch, no_audit):
    monkeypatch.chdir(demo_dir)
    code, out, err = run("export", "alice@example.com", "--request", "R/7", "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == str(demo_dir / "access-R_7.zip")
    code, out, err = run("export", "customer_id:1042", "--json")
    assert code == 0, err
    assert re.fullmatch(r"access-customer_id_1042-\d{8}T\d{6}Z\.zip", Path(json.loads(out)["file"]).name)


def test_nothing_found_writes_no_zip_and_exits_1(run, demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    code, out, err = run("export", "nobody@example.com", "--json")
    assert code == 1
    assert json.loads(out)["file"] is None
    assert "nothing found" in err
    assert list(demo_dir.glob("*.zip")) == []


def test_failed_source_still_writes_the_rest_and_exits_3(run, demo_dir):
    (demo_dir / "demo/usage.jsonl").unlink()
    target = demo_dir / "partial.zip"
    code, _, err = run("export", "alice@example.com", "-o", str(target))
    assert code == 3
    assert "failed: telemetry.telemetry" in err
    files = _read(target)
    manifest = json.loads(files["manifest.json"])
    telemetry = next(s for s in manifest["systems"] if s["system"] == "telemetry")
    assert telemetry["status"] == "failed"
    assert telemetry["collections"][0]["status"] == "failed"
    assert "usage.jsonl" in telemetry["collections"][0]["error"]
    assert not any(n.startswith("data/telemetry/") for n in files)
    assert "data/crm/customers.json" in files and "data/support/support/message-00002.eml" in files
    index = files["index.html"].decode()
    assert "This package is incomplete" in index and "usage.jsonl" in index


def test_a_mailbox_gone_while_exporting_is_reported(demo_dir):
    inventory, result = _find(demo_dir, "alice@example.com")
    (demo_dir / "demo/support.mbox").unlink()
    package = write_package(inventory, result, demo_dir / "late.zip", now=NOW)
    assert [(s, c) for s, c, _ in package.failures] == [("support", "support")]
    manifest = json.loads(_read(demo_dir / "late.zip")["manifest.json"])
    support = next(s for s in manifest["systems"] if s["system"] == "support")
    assert support["status"] == "failed" and "while exporting files" in support["collections"][0]["error"]


def test_subject_data_is_escaped_in_index_html(run, demo_dir):
    planted = '<script>alert(1)</script><img src="https://evil.example/x.png">'
    with sqlite3.connect(demo_dir / "demo/crm.db") as db:
        db.execute("UPDATE tickets SET subject = ? WHERE id = 1", (planted,))
    db.close()
    target = demo_dir / "alice.zip"
    assert run("export", "alice@example.com", "-o", str(target))[0] == 0
    files = _read(target)
    index = files["index.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "<script" not in index.lower() and "<img" not in index.lower()
    assert "&lt;b&gt;Help&lt;/b&gt;" in index  # the demo's own markup in a ticket body
    assert json.loads(files["data/crm/tickets.json"])[0]["subject"] == planted  # data files keep it verbatim
    # nothing is fetched from anywhere: no src= and no stylesheet links
    from markupsafe import escape

    assert str(escape(planted)) in index
    assert not re.search(r"\ssrc=|<link|@import|url\(", index.replace(str(escape(planted)), ""))


def test_ambiguous_subject_is_refused_until_the_account_is_named(run, demo_dir):
    """More in tests/test_boundary_requests.py (the package with --id holds no record of the other account)."""
    target = demo_dir / "dan.zip"
    code, out, err = run("export", "dan@example.com", "-o", str(target))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "1045, 1046" in err and "--id customer_id:VALUE before exporting" in err
    assert not target.exists()
    assert run("export", "dan@example.com", "--id", "customer_id:1045", "-o", str(target))[0] == 0
    assert json.loads(_read(target)["manifest.json"])["ambiguous"] == {}


def test_large_mailbox_streams_with_flat_memory(demo_dir):
    """A 24 MB message goes into the zip in chunks: Python's heap never holds it."""
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" * 2 + b"\n"
    with open(demo_dir / "demo/support.mbox", "ab") as handle:
        handle.write(b"\nFrom alice@example.com Tue Mar  3 09:00:00 2026\nFrom: alice@example.com\n"
                     b"To: support@northwind.example\nSubject: big attachment\nMessage-ID: <big@x>\n"
                     b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
        handle.writelines(line for _ in range(24 * (1 << 20) // len(line)))
    inventory, result = _find(demo_dir, "alice@example.com")
    tracemalloc.start()
    try:
        package = write_package(inventory, result, demo_dir / "big.zip", now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * (1 << 20), peak
    manifest = package.manifest
    big = next(f for f in manifest["files"] if f["path"] == "data/support/support/message-00003.eml")
    assert big["bytes"] > 24_000_000
    with zipfile.ZipFile(package.path) as zf, zf.open(big["path"]) as entry:
        digest = hashlib.sha256()
        while chunk := entry.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == big["sha256"]


def test_entry_names_cannot_escape_their_folder():
    for bad in ("..", "../etc", "a/b", "a\\b", ".hidden", "", "/abs", "C:\\x"):
        name = safe_name(bad)
        assert name and "/" not in name and "\\" not in name and not name.startswith(".") and name != ".."
    assert safe_name("order_items") == "order_items"
    assert safe_name("Report 2026.csv") == "Report_2026.csv"


def test_values_become_plain_json_and_flat_csv_columns():
    from datetime import date
    from decimal import Decimal

    assert plain({"a": Decimal("49.0000"), "b": Decimal("9.50"), "c": date(2026, 1, 2), "d": b"\x01",
                  "e": {3, 1}}) == {"a": 49, "b": "9.5", "c": "2026-01-02", "d": "01", "e": [1, 3]}
    assert flatten({"user": {"email": "x", "geo": {"cc": "GB"}}, "tags": [1], "empty": {}}) == {
        "user.email": "x", "user.geo.cc": "GB", "tags": [1], "empty": {}}


def _find(demo_dir: Path, subject: str):
    from dsarctl.identity import parse_identifier
    from dsarctl.inventory import load_inventory
    from dsarctl.search import find_subject

    inventory = load_inventory(demo_dir / "inventory.yaml")
    return inventory, find_subject(inventory, [parse_identifier(subject, inventory.identities)])


def test_a_run_the_audit_log_refuses_leaves_no_package(run, demo_dir, monkeypatch):
    import dsarctl.runs
    from dsarctl.errors import UsageError

    def refuse(*args, **kwargs):
        raise UsageError("unknown request R-404")

    _any_request(monkeypatch)
    monkeypatch.setattr(dsarctl.runs, "record_run", refuse)
    target = demo_dir / "alice.zip"
    code, _, err = run("export", "alice@example.com", "-o", str(target), "--request", "R-404")
    assert code == 2 and "unknown request R-404" in err
    assert not target.exists()


def test_unknown_request_is_refused_before_anything_is_written(run, demo_dir):
    target = demo_dir / "alice.zip"
    code, _, err = run("export", "alice@example.com", "-o", str(target), "--request", "R-2026-0404")
    assert code == 2 and "unknown request id 'R-2026-0404'" in err
    assert not target.exists()


def test_export_into_a_missing_folder_is_bad_input(run, demo_dir):
    code, _, err = run("export", "alice@example.com", "-o", str(demo_dir / "nope" / "a.zip"))
    assert code == 2 and "folder not found" in err


def test_record_run_gets_the_zip_checksum_and_never_the_data(run, demo_dir, monkeypatch):
    import dsarctl.runs

    calls = []
    _any_request(monkeypatch)
    monkeypatch.setattr(dsarctl.runs, "record_run", lambda *a, **k: calls.append((a, k)))
    target = demo_dir / "alice.zip"
    assert run("export", "alice@example.com", "-o", str(target), "--request", "R-1")[0] == 0
    (_, kind, _result), kwargs = calls[0]
    assert kind == "export" and kwargs["request_id"] == "R-1"
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert kwargs["extra"] == {"zip_sha256": digest, "file": str(target)}
