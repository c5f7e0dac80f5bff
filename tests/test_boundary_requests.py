"""The subject boundary at the command line: export refuses an ambiguous subject as erase does, a package
for a named account holds no record of the other account, and a --request must belong to the subject.

Oracles: plain SQL queries of the demo databases and the zip's own data files."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from test_erase import snapshot

DAN_ROWS = """
    INSERT INTO tickets VALUES (5, 1045, 'Licence for account one', 'Which key is mine?', '2026-05-05');
    INSERT INTO tickets VALUES (6, 1046, 'Account two billing', 'Card ending 4242', '2026-06-06');
"""
DAN_ORDERS = """
    INSERT INTO orders VALUES (5006, '1045', 'Dan Double', 'dan@example.com', '1 High Street', NULL, 10, 'GBP', '2025-05-05');
    INSERT INTO orders VALUES (5007, '1046', 'Dan Double', 'DAN@example.com', '1 High Street', NULL, 20, 'GBP', '2026-06-06');
    INSERT INTO orders VALUES (5008, NULL, 'Dan Double', ' dan@example.com', '1 High Street', NULL, 30, 'GBP', '2026-07-07');
    INSERT INTO order_items VALUES (7, 5006, 'Northwind Desktop (1 seat)', 'NW-DAN1-0001', '2025-05-05');
    INSERT INTO order_items VALUES (8, 5007, 'Northwind Mobile', 'NW-DAN2-0001', '2026-06-06');
    INSERT INTO order_items VALUES (9, 5008, 'Priority support (1 year)', NULL, '2026-07-07');
"""


@pytest.fixture
def inv(demo_dir: Path, monkeypatch) -> str:
    monkeypatch.chdir(demo_dir)  # a default package name lands here, never in the repository
    monkeypatch.setenv("DSARCTL_NOW", "2026-11-20T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    return str(demo_dir / "inventory.yaml")


def query(db: Path, sql: str) -> set:
    with sqlite3.connect(db) as conn:
        out = {row[0] for row in conn.execute(sql)}
    conn.close()
    return out


def package_json(path: Path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as zf:
        return {name: json.loads(zf.read(name)) for name in zf.namelist()
                if name.startswith("data/") and name.endswith(".json")}


def packages(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.zip"))


def events(cli, inv: str) -> list[dict]:
    r = cli("-i", inv, "audit", "log", "--json")
    assert r.code == 0, r
    return r.json()["events"]


def one_refusal(r, text: str) -> None:
    assert r.code == 2, r
    assert r.out == ""
    assert r.err.count("\n") == 1 and text in r.err, r.err
    assert "Traceback" not in r.err


# --- export refuses on ambiguity ------------------------------------------------------------------------

def test_export_of_an_ambiguous_subject_is_refused_like_erase(cli, inv, demo_dir):
    for args in ([], ["--json"], ["-o", "dan.zip"]):
        r = cli("-i", inv, "export", "dan@example.com", *args)
        one_refusal(r, "ambiguous: 2 values of unique identity 'customer_id' were found (1045, 1046); "
                       "name the right one with --id customer_id:VALUE before exporting")
    erased = cli("-i", inv, "erase", "dan@example.com", "--yes")
    assert erased.code == 2 and "--id customer_id:VALUE before erasing" in erased.err
    assert packages(demo_dir) == []
    assert events(cli, inv) == []  # no request opened, no run recorded


def test_a_package_for_a_named_account_holds_no_record_of_the_other(cli, inv, demo_dir):
    crm, orders = demo_dir / "demo" / "crm.db", demo_dir / "demo" / "orders.db"
    with sqlite3.connect(crm) as conn:
        conn.executescript(DAN_ROWS)
    conn.close()
    with sqlite3.connect(orders) as conn:
        conn.executescript(DAN_ORDERS)
    conn.close()

    r = cli("-i", inv, "export", "dan@example.com", "--id", "customer_id:1045", "-o", "dan.zip", "--json")
    assert r.code == 0, r
    data = package_json(demo_dir / "dan.zip")

    # the oracle: account 1045's rows, and Dan's rows that name no account at all
    own_orders = query(orders, "SELECT id FROM orders WHERE customer_id = '1045' OR "
                               "(customer_id IS NULL AND lower(trim(billing_email)) = 'dan@example.com')")
    marks = ",".join(str(i) for i in own_orders)
    expected = {
        "data/crm/customers.json": query(crm, "SELECT id FROM customers WHERE id = 1045"),
        "data/crm/tickets.json": query(crm, "SELECT id FROM tickets WHERE customer_id = 1045"),
        "data/orders/orders.json": own_orders,
        "data/orders/order_items.json": query(orders, f"SELECT id FROM order_items WHERE order_id IN ({marks})"),
    }
    assert expected == {"data/crm/customers.json": {1045}, "data/crm/tickets.json": {5},
                        "data/orders/orders.json": {5006, 5008}, "data/orders/order_items.json": {7, 9}}
    assert {name: {rec["id"] for rec in records} for name, records in data.items() if name in expected} == expected
    # nothing of account 1046 anywhere in the package's data, nor in any other file of it
    theirs = {"1046", "5007", "NW-DAN2-0001", "Account two billing", "Card ending 4242"}
    for name, records in data.items():
        text = json.dumps(records)
        assert not [t for t in theirs if t in text], name
    with zipfile.ZipFile(demo_dir / "dan.zip") as zf:
        for name in zf.namelist():
            if name != "manifest.json":  # the manifest says which value was left out and why
                assert b"NW-DAN2" not in zf.read(name) and b"Card ending 4242" not in zf.read(name), name
    manifest = json.loads(zipfile.ZipFile(demo_dir / "dan.zip").read("manifest.json"))
    assert manifest["ambiguous"] == {}
    other = next(i for i in manifest["identifiers"] if i["value"] == "1046")
    assert (other["kind"], other["followed"]) == ("customer_id", False)


# --- a request belongs to its subject -------------------------------------------------------------------

def alices_request(cli, inv: str, type_: str = "access") -> str:
    r = cli("-i", inv, "request", "new", " Alice@Example.COM ", "--type", type_, "--json")
    assert r.code == 0, r
    return r.json()["id"]


def test_export_under_another_subjects_request_is_refused_and_writes_nothing(cli, inv, demo_dir):
    rid = alices_request(cli, inv)
    before = events(cli, inv)
    for args in (["-o", "bob.zip"], [], ["--json"]):
        r = cli("-i", inv, "export", "bob@example.net", "--request", rid, *args)
        one_refusal(r, f"request {rid} belongs to another subject")
        assert "alice" not in r.err.lower()  # the other person's identifiers are not shown
    assert packages(demo_dir) == []
    assert events(cli, inv) == before  # no run attached, no request opened for Bob
    requests = cli("-i", inv, "request", "list", "--json").json()["requests"]
    assert [q["id"] for q in requests] == [rid]


def test_erase_under_another_subjects_request_is_refused_before_anything_changes(cli, inv, demo_dir):
    rid = alices_request(cli, inv, "erasure")
    before, logged = snapshot(demo_dir), events(cli, inv)
    for args in (["--yes"], ["--dry-run"], ["--yes", "--json"]):
        r = cli("-i", inv, "erase", "bob@example.net", "--request", rid, *args)
        one_refusal(r, f"request {rid} belongs to another subject")
    assert snapshot(demo_dir) == before
    assert events(cli, inv) == logged
    assert not (demo_dir / ".dsarctl" / "journal").exists()
    conn = sqlite3.connect(demo_dir / ".dsarctl" / "audit.db")
    assert conn.execute("SELECT count(*) FROM erasures").fetchone() == (0,)
    conn.close()


def test_find_under_another_subjects_request_is_refused_and_not_recorded(cli, inv):
    rid = alices_request(cli, inv)
    logged = events(cli, inv)
    one_refusal(cli("-i", inv, "find", "bob@example.net", "--request", rid), "belongs to another subject")
    assert events(cli, inv) == logged


def test_a_request_shares_an_identifier_once_the_search_has_expanded_the_subject(cli, inv, demo_dir):
    """Alice's request names her e-mail; an export by her customer id reaches it, and is filed under it."""
    rid = alices_request(cli, inv)
    r = cli("-i", inv, "export", "customer_id:1042", "--request", rid, "-o", "alice.zip", "--json")
    assert r.code == 0, r
    assert r.json()["request"]["id"] == rid
    manifest = json.loads(zipfile.ZipFile(demo_dir / "alice.zip").read("manifest.json"))
    assert manifest["request_id"] == rid
    assert [e["kind"] for e in events(cli, inv) if e["request_id"] == rid and e["kind"].startswith("run.")] == [
        "run.export"]
    bob = cli("-i", inv, "request", "new", "bob@example.net", "--type", "erasure", "--json").json()["id"]
    assert cli("-i", inv, "erase", "+447700900123", "--request", bob, "--yes").code == 0  # Bob by his phone
