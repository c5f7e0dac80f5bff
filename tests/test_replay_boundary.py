"""`erase --replay` after a backup restore acts on the erased person only: a new person who was given
the erased customer's id (SQLite reuses the highest rowid) or phone number keeps every record.

The oracle is plain sqlite3: which rows each table holds after the replay."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from helpers import write_inventory

ERASED_AT = "2026-01-10T12:00:00Z"
REPLAYED_AT = "2026-03-01T09:00:00Z"

SYSTEMS = """
crm:
  connector: sql
  url: sqlite:///crm.db
  collections:
    customers:
      identities: {email: email, phone: phone, customer_id: id}
      created: created_at
      erase: delete
    tickets:
      identities: {customer_id: customer_id}
      created: created_at
      erase: delete
    devices:
      identities: {customer_id: customer_id}
      created: registered_at
      erase: delete
shop:
  connector: sql
  url: sqlite:///orders.db
  collections:
    orders:
      identities: {customer_id: customer_id, email: billing_email}
      created: created_at
      erase: delete
"""


def company(folder: Path, systems: str = SYSTEMS) -> str:
    """Alice (customer 1) and Bob (customer 2, the highest id): an account, a ticket, a device, an order."""
    with sqlite3.connect(folder / "crm.db") as db:
        db.executescript("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, phone TEXT, created_at TEXT);
            CREATE TABLE tickets (id INTEGER PRIMARY KEY, customer_id INTEGER, body TEXT, created_at TEXT);
            CREATE TABLE devices (id INTEGER PRIMARY KEY, customer_id INTEGER, token TEXT, registered_at TEXT);
            INSERT INTO customers VALUES (1, 'alice@shop.example', '+447700900001', '2024-01-01'),
                                         (2, 'bob@shop.example', '+447700900002', '2024-02-02 10:00:00');
            INSERT INTO tickets VALUES (10, 1, 'hello', '2024-05-05'), (11, 2, 'my parcel', '2025-01-01T08:00:00Z');
            INSERT INTO devices VALUES (20, 1, 'tok-alice', '2024-01-02'), (21, 2, 'tok-bob', '2024-02-03');
        """)
    db.close()
    with sqlite3.connect(folder / "orders.db") as db:
        db.executescript("""
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, billing_email TEXT, created_at TEXT);
            INSERT INTO orders VALUES (30, 1, 'alice@shop.example', '2024-03-03'),
                                      (31, 2, 'bob@shop.example', '2025-03-03');
        """)
    db.close()
    return str(write_inventory(folder, systems))


def rows(folder: Path, db: str, table: str) -> dict[int, tuple]:
    with sqlite3.connect(folder / db) as conn:
        out = {r[0]: r[1:] for r in conn.execute(f"SELECT * FROM {table}")}
    conn.close()
    return out


def sql(folder: Path, db: str, script: str) -> None:
    with sqlite3.connect(folder / db) as conn:
        conn.executescript(script)
    conn.close()


def erase_bob_then_carol_takes_id_2(cli, folder: Path, inv: str, monkeypatch) -> Path:
    """Back up, erase Bob, then a new customer (Carol) registers and is given Bob's id 2. Returns the backup."""
    backup = folder / "backup"
    backup.mkdir()
    for name in ("crm.db", "orders.db"):
        shutil.copy(folder / name, backup / name)
    monkeypatch.setenv("DSARCTL_NOW", ERASED_AT)
    r = cli("-i", inv, "erase", "bob@shop.example", "--yes", "--json")
    assert r.code == 0, r
    assert 2 not in rows(folder, "crm.db", "customers") and 31 not in rows(folder, "orders.db", "orders")
    sql(folder, "crm.db", """
        INSERT INTO customers (email, phone, created_at) VALUES ('carol@shop.example', '+447700900003', '2026-02-01');
        INSERT INTO tickets VALUES (12, 2, 'carol asks', '2026-02-02T10:00:00Z');
        INSERT INTO devices VALUES (22, 2, 'tok-carol', '2026-02-02');
    """)
    assert rows(folder, "crm.db", "customers")[2][0] == "carol@shop.example"  # the recycled rowid
    sql(folder, "orders.db", "INSERT INTO orders VALUES (32, 2, 'carol@shop.example', '2026-02-03 12:00:00');")
    return backup


def restore_rows(folder: Path, backup: Path, db: str, table: str, ids: list[int]) -> None:
    """A partial restore: these rows of `table` come back from the backup."""
    with sqlite3.connect(folder / db) as conn:
        conn.execute("ATTACH DATABASE ? AS backup", (str(backup / db),))
        marks = ", ".join("?" for _ in ids)
        conn.execute(f"INSERT INTO main.{table} SELECT * FROM backup.{table} WHERE id IN ({marks})", ids)
        conn.commit()
    conn.close()


def replay(cli, inv: str, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", REPLAYED_AT)
    r = cli("-i", inv, "erase", "--replay", "--yes", "--json")
    assert r.code == 0, r
    return r.json()


def left_alone(doc: dict) -> dict[str, int]:
    return {f"{e['system']}.{e['collection']}": e["count"] for e in doc["remaining"] if e["status"] == "left alone"}


def test_restored_rows_of_the_erased_customer_go_the_new_customer_with_the_recycled_id_stays(cli, tmp_path,
                                                                                            monkeypatch):
    inv = company(tmp_path)
    backup = erase_bob_then_carol_takes_id_2(cli, tmp_path, inv, monkeypatch)
    # the restore brings back Bob's order (with his e-mail), his ticket and his device (only his id 2)
    restore_rows(tmp_path, backup, "orders.db", "orders", [31])
    restore_rows(tmp_path, backup, "crm.db", "tickets", [11])
    restore_rows(tmp_path, backup, "crm.db", "devices", [21])

    doc = replay(cli, inv, monkeypatch)

    assert sorted(rows(tmp_path, "orders.db", "orders")) == [30, 32]  # Bob's 31 gone, Carol's 32 kept
    assert sorted(rows(tmp_path, "crm.db", "tickets")) == [10, 12]  # Bob's 11 gone, Carol's 12 kept
    assert sorted(rows(tmp_path, "crm.db", "devices")) == [20, 22]  # Bob's 21 gone, Carol's 22 kept
    assert rows(tmp_path, "crm.db", "customers") == {
        1: ("alice@shop.example", "+447700900001", "2024-01-01"),
        2: ("carol@shop.example", "+447700900003", "2026-02-01"),
    }
    assert rows(tmp_path, "crm.db", "tickets")[12] == (2, "carol asks", "2026-02-02T10:00:00Z")
    assert rows(tmp_path, "crm.db", "devices")[22] == (2, "tok-carol", "2026-02-02")
    # what was found and left alone is said, per collection
    assert left_alone(doc) == {"crm.customers": 1, "crm.tickets": 1, "crm.devices": 1, "shop.orders": 1}
    assert all("created after the erasure" in e["reason"] for e in doc["remaining"])


def test_a_restored_account_is_erased_again_the_new_customers_order_with_its_id_stays(cli, tmp_path, monkeypatch):
    inv = company(tmp_path)
    backup = erase_bob_then_carol_takes_id_2(cli, tmp_path, inv, monkeypatch)
    shutil.copy(backup / "crm.db", tmp_path / "crm.db")  # the CRM restored whole: Bob's account is back

    replay(cli, inv, monkeypatch)

    assert sorted(rows(tmp_path, "crm.db", "customers")) == [1]
    assert sorted(rows(tmp_path, "crm.db", "tickets")) == [10]
    assert sorted(rows(tmp_path, "crm.db", "devices")) == [20]
    assert rows(tmp_path, "orders.db", "orders") == {30: (1, "alice@shop.example", "2024-03-03"),
                                                     32: (2, "carol@shop.example", "2026-02-03 12:00:00")}


@pytest.mark.parametrize("created", [True, False], ids=["created-named", "no-creation-times"])
def test_a_new_customer_with_the_erased_phone_number_stays(cli, tmp_path, monkeypatch, created):
    """The phone number was reassigned to Dave: his account carries an erased identifier, and is his."""
    inv = company(tmp_path, SYSTEMS if created else "\n".join(
        line for line in SYSTEMS.splitlines() if "created:" not in line))
    monkeypatch.setenv("DSARCTL_NOW", ERASED_AT)
    assert cli("-i", inv, "erase", "bob@shop.example", "--yes").code == 0
    sql(tmp_path, "crm.db", "INSERT INTO customers VALUES (3, 'dave@shop.example', '07700 900002', '2026-02-20');")

    doc = replay(cli, inv, monkeypatch)

    assert rows(tmp_path, "crm.db", "customers")[3] == ("dave@shop.example", "07700 900002", "2026-02-20")
    assert left_alone(doc) == {"crm.customers": 1}


def test_without_creation_times_rows_reached_only_through_a_recycled_id_are_left_and_reported(cli, tmp_path,
                                                                                               monkeypatch):
    """The limit of the rule: with no `created:` field, a row that carries nothing but id 2 cannot be told
    to be Bob's or Carol's once Carol holds id 2; replay leaves it and says so."""
    inv = company(tmp_path, "\n".join(line for line in SYSTEMS.splitlines() if "created:" not in line))
    backup = erase_bob_then_carol_takes_id_2(cli, tmp_path, inv, monkeypatch)
    restore_rows(tmp_path, backup, "orders.db", "orders", [31])
    restore_rows(tmp_path, backup, "crm.db", "tickets", [11])

    doc = replay(cli, inv, monkeypatch)

    assert sorted(rows(tmp_path, "orders.db", "orders")) == [30, 32]  # Bob's order carried his e-mail: gone
    assert sorted(rows(tmp_path, "crm.db", "customers")) == [1, 2]
    assert sorted(rows(tmp_path, "crm.db", "tickets")) == [10, 11, 12]
    assert sorted(rows(tmp_path, "crm.db", "devices")) == [20, 22]
    reported = {(e["system"], e["collection"]): e for e in doc["remaining"]}
    assert reported[("crm", "customers")]["count"] == 1
    assert "another person's record" in reported[("crm", "customers")]["reason"]
    assert "another person's record" in reported[("shop", "orders")]["reason"]
    assert reported[("crm", "tickets")]["count"] == 2 and "`created:`" in reported[("crm", "tickets")]["reason"]
    assert reported[("crm", "devices")]["count"] == 1


def test_without_a_new_owner_of_the_id_restored_rows_are_erased_again(cli, tmp_path, monkeypatch):
    """No creation times, nobody reuses id 2: replay erases Bob's restored rows as it always did."""
    inv = company(tmp_path, "\n".join(line for line in SYSTEMS.splitlines() if "created:" not in line))
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("crm.db", "orders.db"):
        shutil.copy(tmp_path / name, backup / name)
    monkeypatch.setenv("DSARCTL_NOW", ERASED_AT)
    assert cli("-i", inv, "erase", "bob@shop.example", "--yes").code == 0
    for name in ("crm.db", "orders.db"):
        shutil.copy(backup / name, tmp_path / name)

    doc = replay(cli, inv, monkeypatch)

    assert sorted(rows(tmp_path, "crm.db", "customers")) == [1]
    assert sorted(rows(tmp_path, "crm.db", "tickets")) == [10]
    assert sorted(rows(tmp_path, "crm.db", "devices")) == [20]
    assert sorted(rows(tmp_path, "orders.db", "orders")) == [30]
    assert left_alone(doc) == {}


def test_a_replay_takes_no_request(cli, tmp_path):
    inv = company(tmp_path)
    r = cli("-i", inv, "erase", "--replay", "--yes", "--request", "R-2026-0001")
    assert r.code == 2 and "--request" in r.err and r.err.count("\n") == 1
