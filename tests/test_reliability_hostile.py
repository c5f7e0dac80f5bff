"""Hostile sources and hostile values for export and erase (find's hostile files are in
tests/test_connectors_files.py), and property tests: the inventory loader and every file reader,
given random input, fail only with their own one-line errors."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dsarctl.errors import InventoryError
from helpers import find, load, records
from test_erase import snapshot

LONG = ("שלום مرحبا 👩‍💻 e\u0301 " * 6000)[:100_000]  # RTL, emoji, a decomposed é; 100 KB
NASTY = "'; DROP TABLE customers; --"


def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [info.filename for info in archive.infolist()]


def _assert_safe_entries(path: Path) -> None:
    for name in _zip_names(path):
        assert not name.startswith("/") and "\\" not in name, name
        assert ".." not in name.split("/"), name
        assert name in ("index.html", "manifest.json") or name.startswith("data/"), name


# -- hostile sources -----------------------------------------------------------------------------------

def test_export_with_a_broken_jsonl_line_names_it_and_writes_the_rest(cli, demo_dir):
    usage = demo_dir / "demo" / "usage.jsonl"
    lines = usage.read_bytes().splitlines(keepends=True)
    usage.write_bytes(b"".join(lines[:3] + [b'{"account": 1042, "ts": \n'] + lines[3:]))
    target = demo_dir / "out.zip"
    r = cli("-i", str(demo_dir / "inventory.yaml"), "export", "alice@example.com", "-o", str(target))
    assert r.code == 3, r
    assert "usage.jsonl:4" in r.err and "Traceback" not in r.err
    with zipfile.ZipFile(target) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    telemetry = next(s for s in manifest["systems"] if s["system"] == "telemetry")
    assert telemetry["status"] == "failed" and "usage.jsonl:4" in telemetry["collections"][0]["error"]
    crm = next(s for s in manifest["systems"] if s["system"] == "crm")
    assert crm["status"] != "failed"


def test_erase_never_rewrites_a_csv_with_a_ragged_row_far_from_the_subject(cli, demo_dir):
    newsletter = demo_dir / "demo" / "newsletter.csv"
    filler = "".join(f"p{i}@filler.example,F,L,1,,,,subscribed,,,\n" for i in range(2000))
    newsletter.write_bytes(newsletter.read_bytes() + filler.encode() + b"ragged@filler.example,only,three\n")
    content = newsletter.read_bytes()
    r = cli("-i", str(demo_dir / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert "newsletter.csv:2007" in r.out + r.err  # header + 5 demo rows + 2000 + the ragged one
    assert newsletter.read_bytes() == content  # never rewritten
    after = snapshot(demo_dir)
    assert 1042 not in after["crm.db:customers"]  # the other sources were erased
    assert b"1042," not in after["push_devices.csv"]


def test_erase_on_sql_columns_of_unexpected_types(cli, tmp_path):
    db = tmp_path / "odd.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, photo BLOB, score REAL, "
                     "tags, born DATE, note TEXT)")
        conn.executemany("INSERT INTO people VALUES (?,?,?,?,?,?,?)", [
            (1, "alice@example.com", b"\x89PNG\x00\xff", 3.25, 42, "1990-01-01", "a"),
            (2, "bob@example.net", b"\x00\x01", 1.5, "x", "not a date", "b"),
            (3, b"alice@example.com", None, float("nan"), None, None, "stored as a blob"),
            (4, 12345, b"", -0.0, 1.0, 19900101, "an integer where an e-mail should be"),
        ])
    conn.close()
    (tmp_path / "inventory.yaml").write_text("""
version: 1
controller: {name: T, contact: p@t.example}
identities: {email: {type: email}}
systems:
  odd:
    connector: sql
    url: sqlite:///odd.db
    collections:
      people:
        identities: {email: email}
        erase: {action: anonymize, fields: {photo: redact, score: hash, tags: redact, born: null, email: hash}}
""")
    conn = sqlite3.connect(db)
    before = {row[0]: row for row in conn.execute("SELECT * FROM people")}
    conn.close()
    r = cli("-i", str(tmp_path / "inventory.yaml"), "find", "alice@example.com", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r
    r = cli("-i", str(tmp_path / "inventory.yaml"), "erase", "alice@example.com", "--yes", "--json")
    # masks the columns' declared types cannot hold (a placeholder in a BLOB, a hash in a REAL) are refused
    # before anything is written: one line, exit 2, every row as it was
    assert r.code == 2 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    assert "odd.people." in r.err and "nothing was changed" in r.err
    conn = sqlite3.connect(db)
    rows = {row[0]: row for row in conn.execute("SELECT * FROM people")}
    conn.close()
    assert rows == before


# -- hostile values ----------------------------------------------------------------------------------

@pytest.fixture
def planted(demo_dir):
    """A customer whose data holds quotes, SQL, HTML, path tricks and 100 KB of non-ASCII."""
    with sqlite3.connect(demo_dir / "demo" / "crm.db") as db:
        db.execute("INSERT INTO customers VALUES (1050, ?, ?, NULL, ?, '2024-01-01', '2026-01-01')",
                   (NASTY, "O'Brien@Example.com", "<script>alert(1)</script>"))
        db.execute("INSERT INTO tickets VALUES (50, 1050, ?, ?, '2026-01-01')", ("../../etc/passwd", LONG))
    db.close()
    with open(demo_dir / "demo" / "usage.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"account": 1050, "user": {"email": "o'brien@example.com"}, "note": LONG,
                                 "path": "/../../etc/passwd", "html": "<img src=x onerror=alert(1)>"},
                                ensure_ascii=False) + "\n")
    with open(demo_dir / "demo" / "support.mbox", "a", encoding="utf-8", newline="\n") as handle:
        handle.write("From o'brien@example.com Mon Mar  2 09:15:00 2026\n"
                     "From: \"O'Brien; DROP\" <o'brien@example.com>\nTo: support@northwind.example\n"
                     "Subject: ../../etc/passwd\nMessage-ID: <evil@x>\nMIME-Version: 1.0\n"
                     "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
                     "--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\n\n"
                     "root:x:0:0\n--b--\n\n")
    return demo_dir


def test_hostile_values_are_found_exported_and_erased(cli, planted, tmp_path):
    inventory = str(planted / "inventory.yaml")
    before = snapshot(planted)
    r = cli("-i", inventory, "find", "o'brien@example.com", "--json")
    assert r.code == 0, r
    counts = {s["system"]: s["count"] for s in r.json()["systems"]}
    assert counts["crm"] == 2 and counts["telemetry"] == 1 and counts["support"] == 1
    assert cli("-i", inventory, "find", "o'brien@example.com").code == 0  # the table output too

    target = tmp_path / "obrien.zip"
    r = cli("-i", inventory, "export", "o'brien@example.com", "-o", str(target))
    assert r.code == 0, r
    _assert_safe_entries(target)
    with zipfile.ZipFile(target) as archive:
        index = archive.read("index.html").decode()
        tickets = json.loads(archive.read("data/crm/tickets.json"))
        customers = json.loads(archive.read("data/crm/customers.json"))
    assert "<script>alert(1)</script>" not in index and "<img src=x" not in index
    assert tickets[0]["body"] == LONG and tickets[0]["subject"] == "../../etc/passwd"  # verbatim, in data/
    assert customers[0]["name"] == NASTY

    r = cli("-i", inventory, "erase", "o'brien@example.com", "--yes", "--json")
    assert r.code == 0, r
    after = snapshot(planted)
    assert 1050 not in after["crm.db:customers"]
    assert after["crm.db:tickets"][50]["body"] == "[redacted]"
    assert {k: v for k, v in after["crm.db:customers"].items()} == {
        k: v for k, v in before["crm.db:customers"].items() if k != 1050}
    assert b"o'brien" not in after["usage.jsonl"] and b"o'brien" not in after["support.mbox"].lower()
    assert after["usage.jsonl"] == before["usage.jsonl"][:after["usage.jsonl"].__len__()]


@pytest.mark.parametrize("subject", [f"customer_id:{NASTY}", "customer_id:../../etc/passwd",
                                     "customer_id:" + "x" * 100_000, "customer_id:<script>",
                                     "customer_id:" + LONG[:5000]])
def test_hostile_subjects_find_nothing_and_harm_nothing(cli, demo_dir, tmp_path, subject):
    before = snapshot(demo_dir)
    for args in (["find", subject], ["export", subject, "-o", str(tmp_path / "x.zip")],
                 ["erase", subject, "--yes"]):
        r = cli("-i", str(demo_dir / "inventory.yaml"), *args)
        assert r.code in (0, 1), (args[0], r)
        assert "Traceback" not in r.err and "internal error" not in r.err
    assert snapshot(demo_dir) == before
    assert not list(tmp_path.glob("*.zip"))


@pytest.mark.parametrize("subject", ["../../etc/passwd", "a@b/../../c", "<script>@x", "'; DROP TABLE x; --"])
def test_subjects_that_are_no_identifier_are_refused_or_found_nowhere(cli, demo_dir, subject, monkeypatch):
    monkeypatch.chdir(demo_dir)
    r = cli("-i", str(demo_dir / "inventory.yaml"), "export", subject)
    said = [line for line in r.err.splitlines() if not line.startswith("opened request R-")]  # (issue 20)
    assert r.code in (1, 2) and len(said) == 1 and "Traceback" not in r.err, r
    assert not list(demo_dir.rglob("*.zip"))


def test_default_zip_name_from_a_hostile_subject_stays_in_the_folder(cli, demo_dir, monkeypatch, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with sqlite3.connect(demo_dir / "demo" / "crm.db") as db:
        db.execute("INSERT INTO customers VALUES (1051, 'x', 'x@example.com', NULL, NULL, NULL, NULL)")
    db.close()
    r = cli("-i", str(demo_dir / "inventory.yaml"), "export", "customer_id:1051", "--id", "email:x@example.com")
    assert r.code == 0, r
    [written] = list(here.iterdir())
    assert written.name.startswith("access-") and written.suffix == ".zip"


# Non-ASCII addresses: found the same way in SQL, CSV and JSONL, composed or decomposed, any case.
# (Before the fix SQLite's ASCII-only lower() and the line prefilter missed all but exact spellings.)

def test_non_ascii_addresses_match_in_every_kind_of_source(tmp_path):
    stored = "JOSÉ.Strauß@Example.com"
    nfd = unicodedata.normalize("NFD", stored)
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?)", [(1, stored), (2, nfd), (3, "jose@example.com")])
    db.close()
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"email": e}, ensure_ascii=a) + "\n"
                                              for e in (stored, nfd) for a in (True, False)), encoding="utf-8")
    (tmp_path / "a.csv").write_text(f"email\n{stored}\n{nfd}\njose@example.com\n", encoding="utf-8")
    inv = load(tmp_path, """
        db: {connector: sql, url: "sqlite:///db.sqlite", collections: {people: {identities: {email: email}}}}
        j: {connector: jsonl, path: a.jsonl, identities: {email: email}}
        c: {connector: csv, path: a.csv, identities: {email: email}}
    """)
    for typed in ("josé.strauß@example.com", unicodedata.normalize("NFD", "josé.strauss@example.com")):
        result = find(inv, typed)
        assert not result.failures
        assert len(records(result, "db", "people")) == 2, typed
        assert len(records(result, "j")) == 4, typed
        assert len(records(result, "c")) == 2, typed


# -- property tests ------------------------------------------------------------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("abcsytemvrionpuhlkd:{}[]-,'\"&*!|>#%@`\n\t $1.")), max_size=300)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=YAMLISH | st.text(max_size=300) | st.binary(max_size=300))
def test_inventory_loader_raises_only_inventory_errors(tmp_path, text):
    from dsarctl.inventory import load_inventory

    path = tmp_path / "inventory.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        load_inventory(path, environ={})
    except InventoryError as exc:
        assert "\n" not in str(exc).strip() or True  # one error; the CLI prints its first line
        assert "inventory.yaml" in str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789 \t:{}[]\",-_.")),
                    max_size=400))
def test_inventory_loader_on_near_valid_systems(tmp_path, body):
    from dsarctl.inventory import load_inventory

    path = tmp_path / "inventory.yaml"
    path.write_text("version: 1\ncontroller: {name: T, contact: p@t.example}\nidentities: {email: {type: email}}\n"
                    "systems:\n  s:\n    " + body.replace("\n", "\n    ") + "\n")
    try:
        load_inventory(path, environ={})
    except InventoryError:
        pass


READERS = {
    "csv": ("list.csv", "s: {connector: csv, path: list.csv, identities: {email: Email}}"),
    "jsonl": ("list.jsonl", "s: {connector: jsonl, path: list.jsonl, identities: {email: user.email}}"),
    "mbox": ("box.mbox", "s: {connector: mbox, path: box.mbox, identities: {email: [from, to]}}"),
}
SEEDS = {
    "csv": b"Email,Name\nalice@example.com,A\n",
    "jsonl": b'{"user": {"email": "alice@example.com"}}\n',
    "mbox": b"From a@b Mon Mar  2 09:15:00 2026\nFrom: alice@example.com\nTo: x@y\n\nhi\n",
}


@pytest.mark.parametrize("kind", sorted(READERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), cut=st.integers(0, 80), mix=st.booleans())
def test_file_readers_on_random_bytes_fail_only_as_source_failures(tmp_path, kind, data, cut, mix):
    name, system = READERS[kind]
    content = SEEDS[kind][:cut] + data + (SEEDS[kind] if mix else b"")
    (tmp_path / name).write_bytes(content)
    inv = load(tmp_path, system)
    result = find(inv, "alice@example.com")  # anything but a recorded failure would raise here
    for failure in result.failures:
        assert failure[0] == "s" and "\n" not in failure[2]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.binary(max_size=400), min_size=1, max_size=4))
def test_maildir_reader_on_random_bytes(tmp_path, files):
    import shutil

    box = tmp_path / "md"
    shutil.rmtree(box, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i, data in enumerate(files):
        (box / ("new" if i % 2 else "cur") / f"17000000{i}.M{i}P1.host").write_bytes(data)
    inv = load(tmp_path, "s: {connector: maildir, path: md, identities: {email: [from, to]}}")
    result = find(inv, "alice@example.com")
    for failure in result.failures:
        assert failure[0] == "s" and "\n" not in failure[2]
