"""The SQL connector's lookup rules live in one place (`sql.conditions`) and are rendered two ways:
SQLAlchemy clauses (every database) and SQL text for the standard-library SQLite path. Here each
condition selects the same rows both ways on SQLite, and the same rows through SQLAlchemy on PostgreSQL
and MariaDB; and a lookup finds the same records on all three."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from dsarctl.connectors import open_connector
from dsarctl.connectors.sql import Condition, conditions
from dsarctl.connectors.sqlite_lookup import affinity, read_table
from helpers import load

ROWS = [
    {"pk": 1, "cust": 1042, "email": "Alice@Example.COM ", "phone": "020 7946 0958", "tel": None, "ref": "A-1042"},
    {"pk": 2, "cust": 1043, "email": "xalice@example.com", "phone": None, "tel": 447700900123, "ref": "1042"},
    {"pk": 3, "cust": 10420, "email": "alice@example.com.au", "phone": "+44 20 7946 0959", "tel": None, "ref": None},
    {"pk": 4, "cust": None, "email": "bob@example.com", "phone": "(020) 7946-0958", "tel": 2079460950, "ref": "01042"},
    {"pk": 5, "cust": 7, "email": "ALICE@example.com", "phone": "00442079460958", "tel": None, "ref": "b-7"},
    {"pk": 6, "cust": None, "email": "Zoë@Example.com", "phone": None, "tel": None, "ref": None},
]

WANTED = [
    {"email": frozenset({"alice@example.com"})},
    {"email": frozenset({"alice@example.com", "bob@example.com"})},
    {"email": frozenset({"zoë@example.com", "alice@example.com"})},  # non-ASCII: the column is read
    {"customer_id": frozenset({"1042", "abc", "7", "01042"})},  # integer and text columns
    {"phone": frozenset({"+442079460958"})},  # LIKE on text, CAST on the integer column
    {"phone": frozenset({f"+4420794609{n:02d}" for n in range(50, 62)} | {"+447700900123"})},  # > 8: a digits pass
    {"phone": frozenset({"+1"})},  # no national digits: every number read
    {"email": frozenset({"bob@example.com"}), "customer_id": frozenset({"1042"}), "phone": frozenset({"+442079460959"})},
]


def _system(url: str, table: str) -> str:
    return f"""
crm:
  connector: sql
  url: {url}
  collections:
    people:
      table: {table}
      identities: {{email: email, customer_id: [cust, ref], phone: [phone, tel]}}
"""


def _create(url: str, table: str) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    people = sa.Table(
        table, meta,
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("cust", sa.Integer),
        sa.Column("email", sa.String(200)),
        sa.Column("phone", sa.String(40)),
        sa.Column("tel", sa.BigInteger),
        sa.Column("ref", sa.String(20)),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), ROWS)
    engine.dispose()


def _drop(url: str, table: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def _selected(connector, collection, wanted) -> list[tuple[Condition, set]]:
    """Each condition of the lookup with the keys of the rows its SQLAlchemy clause selects."""
    table = connector.table(collection)
    out = []
    with connector.engine().connect() as conn:
        for condition in connector._conditions(collection, table, wanted):
            rows = conn.execute(sa.select(table.c.pk).where(condition.clause(table)))
            out.append((condition, {row[0] for row in rows}))
    return out


def _located(connector, collection, wanted) -> list:
    return [(r.key, r.identities, r.matched) for r in connector.locate(collection, wanted)]


@pytest.fixture
def sqlite_inventory(tmp_path):
    _create(f"sqlite:///{tmp_path / 'crm.db'}", "people")
    return load(tmp_path, _system("sqlite:///crm.db", "people"))


@pytest.mark.parametrize("wanted", WANTED, ids=lambda w: "+".join(sorted(w)))
def test_one_description_rendered_both_ways_selects_the_same_rows_on_sqlite(sqlite_inventory, tmp_path, wanted):
    system = sqlite_inventory.systems["crm"]
    collection = system.collections["people"]
    with open_connector(system, sqlite_inventory) as connector:
        through_sqlalchemy = _selected(connector, collection, wanted)
    db = sqlite3.connect(tmp_path / "crm.db")
    try:
        table = read_table(db, "people")
        # the standard-library path describes the lookup from the declared types alone: the same list
        types = {c: {"integer": "integer"}.get(affinity(t), "text") for c, t in table.columns.items()}
        assert conditions(collection, sqlite_inventory, wanted, types.__getitem__) == [c for c, _ in through_sqlalchemy]
        for condition, keys in through_sqlalchemy:
            where, params = condition.sql_text()
            as_text = {row[0] for row in db.execute(f'SELECT pk FROM "people" WHERE {where}', params)}
            assert as_text == keys, condition
    finally:
        db.close()
    assert any(keys for _, keys in through_sqlalchemy)


def test_the_rules_in_their_order(sqlite_inventory):
    system = sqlite_inventory.systems["crm"]
    collection = system.collections["people"]
    with open_connector(system, sqlite_inventory) as connector:
        table = connector.table(collection)
        shown = [(c.how, c.field, c.values, c.cast)
                 for c in connector._conditions(collection, table, WANTED[-1])]
    assert shown == [
        ("email", "email", ("bob@example.com",), False),
        ("in", "cust", (1042,), False),  # an integer column: the values that are numbers, as integers
        ("in", "ref", ("1042",), False),
        ("like", "phone", ("%2%0%7%9%4%6%0%9%5%9%",), False),
        ("like", "tel", ("%2%0%7%9%4%6%0%9%5%9%",), True),  # not a text column: compared cast to text
    ]


@pytest.mark.parametrize("wanted", WANTED, ids=lambda w: "+".join(sorted(w)))
def test_the_same_rows_and_records_on_postgresql_and_mariadb(tmp_path, sqlite_inventory, server_url, unique_name, wanted):
    _create(server_url, unique_name)
    try:
        folder = tmp_path / "server"
        folder.mkdir()
        inv = load(folder, _system(server_url, unique_name))
        system = inv.systems["crm"]
        collection = system.collections["people"]
        with open_connector(system, inv) as connector:
            on_server = _selected(connector, collection, wanted)
            found_on_server = _located(connector, collection, wanted)
        lite_system = sqlite_inventory.systems["crm"]
        with open_connector(lite_system, sqlite_inventory) as connector:
            lite_collection = lite_system.collections["people"]
            on_sqlite = _selected(connector, lite_collection, wanted)
            found_on_sqlite = _located(connector, lite_collection, wanted)
        assert [c for c, _ in on_server] == [c for c, _ in on_sqlite]
        assert [keys for _, keys in on_server] == [keys for _, keys in on_sqlite]
        assert found_on_server == found_on_sqlite
    finally:
        _drop(server_url, unique_name)
