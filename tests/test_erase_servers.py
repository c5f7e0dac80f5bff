"""erase against live PostgreSQL and MariaDB (URLs from DSARCTL_TEST_POSTGRES_URL / DSARCTL_TEST_MYSQL_URL)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def server_db(server_url, unique_name, tmp_path, monkeypatch):
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url)
    people, tickets, orders = f"{unique_name}_people", f"{unique_name}_tickets", f"{unique_name}_orders"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {people} (id INTEGER PRIMARY KEY, email VARCHAR(200), name VARCHAR(200))"))
        conn.execute(text(f"CREATE TABLE {tickets} (id INTEGER PRIMARY KEY, person_id INTEGER, body VARCHAR(500), "
                          f"ref VARCHAR(100))"))
        conn.execute(text(f"CREATE TABLE {orders} (id INTEGER PRIMARY KEY, email VARCHAR(200), phone VARCHAR(50), "
                          f"created_at DATE)"))
        conn.execute(text(f"INSERT INTO {people} VALUES (1, 'Alice@Example.com', 'Alice'), (2, 'bob@example.net', 'Bob')"))
        conn.execute(text(f"INSERT INTO {tickets} VALUES (10, 1, 'hi from alice', 'A-1'), (11, 2, 'hi from bob', 'B-1'), "
                          f"(12, 1, 'again', 'A-2')"))
        conn.execute(text(f"INSERT INTO {orders} VALUES (100, 'alice@example.com', '0123', '2024-03-05'), "
                          f"(101, 'bob@example.net', '0456', '2024-04-01')"))
    (tmp_path / "inventory.yaml").write_text(f"""
version: 1
controller: {{name: Test Ltd, contact: privacy@test.example}}
audit: {{path: .dsarctl/audit.db}}
identities:
  email: {{type: email}}
  person_id: {{type: string, unique: true}}
systems:
  db:
    connector: sql
    url: ${{TEST_DB_URL}}
    collections:
      people:
        table: {people}
        identities: {{email: email, person_id: id}}
        erase: delete
      tickets:
        table: {tickets}
        identities: {{person_id: person_id}}
        erase: {{action: anonymize, fields: {{body: redact, ref: hash, person_id: null}}}}
      orders:
        table: {orders}
        identities: {{email: email}}
        erase: {{action: retain, reason: tax, until: end_of_year(created_at) + 8 years, fields: {{phone: null}}}}
""")
    monkeypatch.setenv("TEST_DB_URL", server_url)
    yield engine, people, tickets, orders, tmp_path / "inventory.yaml"
    with engine.begin() as conn:
        for table in (people, tickets, orders):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def rows(engine, table):
    from sqlalchemy import text

    with engine.connect() as conn:
        return {r[0]: tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))}


def test_erase_on_live_server(server_db, cli):
    from datetime import date

    engine, people, tickets, orders, inventory = server_db
    before = {t: rows(engine, t) for t in (people, tickets, orders)}
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    after = {t: rows(engine, t) for t in (people, tickets, orders)}
    assert after[people] == {2: before[people][2]}
    assert after[tickets][11] == before[tickets][11]
    for tid in (10, 12):
        _id, person, body, ref = after[tickets][tid]
        assert person is None and body == "[redacted]" and len(ref) == 64
    assert after[orders][101] == before[orders][101]
    assert after[orders][100] == (100, "alice@example.com", None, date(2024, 3, 5))
    remaining = {r_["collection"]: r_ for r_ in r.json()["remaining"]}
    assert remaining["orders"]["until"] == "2032-12-31"  # end of 2024 + 8 years
    # a second run is a no-op
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0 and r.json()["run"] is None, r
    assert {t: rows(engine, t) for t in (people, tickets, orders)} == after


def test_live_server_rolls_back_on_crash(server_db, cli):
    from dsarctl.erase import carry_out, prepare
    from dsarctl.identity import Identifier
    from dsarctl.inventory import load_inventory

    engine, people, tickets, orders, inventory = server_db
    before = {t: rows(engine, t) for t in (people, tickets, orders)}
    inv = load_inventory(inventory)

    class Crash(BaseException):
        pass

    def checkpoint(point):
        if point == "sql.before-commit":
            raise Crash

    with pytest.raises(Crash):
        carry_out(inv, prepare(inv, [[Identifier("email", "alice@example.com")]], now=NOW), operator="t", now=NOW,
                  checkpoint=checkpoint)
    assert {t: rows(engine, t) for t in (people, tickets, orders)} == before  # one transaction: nothing committed
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    assert 1 not in rows(engine, people)
