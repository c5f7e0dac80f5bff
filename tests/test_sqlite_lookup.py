"""The SQL connector's standard-library path for SQLite files (issue 6: `find` without SQLAlchemy).

When the caller reads only where records are (`locate(..., lookup_only=True)`, as `find` asks), lookups in a
plain SQLite file go through `sqlite3`. Every test here runs the same lookup through both paths and
compares what a search reads: the records' keys, identities, matched values and locations, in order,
and the errors, word for word; and checks which path ran (SQLAlchemy's engine is created or not).
"""

from __future__ import annotations

import sqlite3

import pytest

from dsarctl.connectors import open_connector
from dsarctl.connectors.sqlite_lookup import affinity
from dsarctl.errors import DsarError
from helpers import benchmark_company, load

ROWS_SQL = """
CREATE TABLE people (pk INTEGER PRIMARY KEY, CustomerId INTEGER, "E-Mail" VARCHAR(200), phone TEXT,
                     note TEXT, total NUMERIC, created DATETIME, flag BOOLEAN, doc JSON);
INSERT INTO people VALUES
  (1, 1042, 'Alice@Example.COM ', '020 7946 0958', 'hi', 19.99, '2024-01-02 03:04:05', 1, '{"a": 1}'),
  (2, 1043, 'xalice@example.com', NULL, 'alice@example.com', 5, '2024-02-03', 0, '[1]'),
  (3, 10420, 'alice@example.com.au', '+44 20 7946 0959', '', NULL, NULL, NULL, NULL),
  (4, 'abc', 'bob@example.com', '(020) 7946-0958 ext', 'text in an integer column', 1, NULL, NULL, NULL),
  (5, 1042, 'ALICE@example.com', '00442079460958', 'same customer', 2.5, NULL, NULL, NULL),
  (6, NULL, 'Zoë@Example.com', NULL, 'non-ASCII', NULL, NULL, NULL, NULL),
  (7, NULL, 'zoe' || char(776) || '@example.com', '07700 900123', 'decomposed', NULL, NULL, NULL, NULL);
CREATE INDEX ix_people_email ON people (lower(trim("E-Mail")));

CREATE TABLE lower_types (id integer primary key, email varchar(50), cust bigint, phone);
INSERT INTO lower_types VALUES (10, 'alice@example.com', 1042, '+44 (0)20 7946 0958'), (11, 'bob@example.com', 7, 2079460958);

CREATE TABLE tel_int (id INTEGER PRIMARY KEY, tel INTEGER);
INSERT INTO tel_int VALUES (1, 2079460958), (2, 442079460959), (3, 7700900123), (4, NULL);

CREATE TABLE numeric_ids (id INTEGER PRIMARY KEY, cust NUMERIC, email TEXT);
INSERT INTO numeric_ids VALUES (1, 1042, 'alice@example.com'), (2, 1043, 'bob@example.com');

CREATE TABLE no_pk (email TEXT, name TEXT);
INSERT INTO no_pk VALUES ('alice@example.com', 'Alice'), ('alice@example.com', 'Alice'), ('bob@example.com', 'Bob');

CREATE TABLE composite ("Region" TEXT, num INTEGER, email TEXT, PRIMARY KEY (num, "Region"));
INSERT INTO composite VALUES ('eu', 2, 'alice@example.com'), ('us', 1, 'ALICE@example.com'), ('eu', 1, 'bob@x.com');

CREATE TABLE garbage (id INTEGER PRIMARY KEY, email TEXT, created DATETIME);
INSERT INTO garbage VALUES (1, 'alice@example.com', 'not a date'), (2, 'bob@example.com', '2024-01-02');

CREATE TABLE datetime_key (created DATETIME PRIMARY KEY, email TEXT);
INSERT INTO datetime_key VALUES ('2024-01-02 03:04:05', 'alice@example.com');

CREATE TABLE "Order Lines" ("Line No" INTEGER PRIMARY KEY, "E-Mail" TEXT, "Cust Id" TEXT);
INSERT INTO "Order Lines" VALUES (1, 'alice@example.com', '1042'), (2, 'carol@example.com', '1042 '), (3, NULL, '01042');
"""

SYSTEM = """
crm:
  connector: sql
  url: sqlite:///crm.db
  collections:
    people: {identities: {email: "E-Mail", customer_id: CustomerId, phone: phone}}
    lower_types: {identities: {email: email, customer_id: cust, phone: phone}}
    tel_int: {identities: {phone: tel}}
    numeric_ids: {identities: {email: email, customer_id: cust}}
    no_pk: {identities: {email: email}}
    no_pk_keyed: {table: no_pk, key: [name, email], identities: {email: email}}
    composite: {identities: {email: email}}
    datetime_key: {identities: {email: email}}
    garbage: {identities: {email: email}}
    lines: {table: Order Lines, identities: {email: "E-Mail", customer_id: Cust Id}}
"""

# which collections the standard-library path answers; the others keep SQLAlchemy's values
FAST = {"people", "lower_types", "tel_int", "no_pk_keyed", "composite", "lines"}
SLOW = {"numeric_ids": "an identity column is NUMERIC (SQLAlchemy gives Decimal)",
        "no_pk": "no primary key: a row is known by all its values",
        "datetime_key": "the key is DATETIME (SQLAlchemy gives datetime)"}

WANTED = [
    {"email": frozenset({"alice@example.com"})},
    {"email": frozenset({"alice@example.com", "bob@example.com", "zoë@example.com"})},
    {"customer_id": frozenset({"1042", "abc", " 7", "01042"})},
    {"phone": frozenset({"+442079460958"})},
    {"phone": frozenset({"+442079460958", "+447700900123"})},
    {"phone": frozenset({f"+4420794609{n:02d}" for n in range(50, 62)} | {"+447700900123"})},  # > 8: one pass
    {"email": frozenset({"carol@example.com"}), "customer_id": frozenset({"1042"}), "phone": frozenset({"+442079460959"})},
]


@pytest.fixture
def inventory(tmp_path):
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.executescript(ROWS_SQL)
    return load(tmp_path, SYSTEM)


def located(inventory, collection: str, wanted, *, contents: bool):
    """(what a search reads of each record, whether SQLAlchemy ran)."""
    system = inventory.systems["crm"]
    with open_connector(system, inventory) as connector:
        try:
            seen = [(r.key, r.identities, r.matched, r.location)
                    for r in connector.locate(system.collections[collection], wanted, lookup_only=not contents)]
        except DsarError as exc:
            seen = (type(exc).__name__, str(exc), exc.exit_status)
        return seen, connector._engine is not None


@pytest.mark.parametrize("wanted", WANTED, ids=lambda w: "+".join(sorted(w)))
@pytest.mark.parametrize("collection", sorted(FAST | set(SLOW)))
def test_both_paths_find_the_same_records_in_the_same_order(inventory, collection, wanted):
    exact, used_sqlalchemy = located(inventory, collection, wanted, contents=True)
    assert used_sqlalchemy
    fast, fast_used_sqlalchemy = located(inventory, collection, wanted, contents=False)
    assert fast == exact
    assert fast_used_sqlalchemy is (collection in SLOW), SLOW.get(collection, "plain types: stdlib path")


def test_the_comparison_finds_something_everywhere(inventory):
    """The test above would pass on two empty answers: make sure each collection yields records."""
    for collection in FAST | set(SLOW):
        found = [located(inventory, collection, w, contents=False)[0] for w in WANTED]
        assert any(isinstance(f, list) and f for f in found), collection
    people = located(inventory, "people", WANTED[1], contents=False)[0]
    assert [key for key, *_ in people] == [(1,), (4,), (5,), (6,), (7,)]  # Zoë twice: composed and decomposed
    digits_pass = located(inventory, "tel_int", WANTED[5], contents=False)[0]
    assert [key for key, *_ in digits_pass] == [(1,), (2,), (3,)]


def test_a_stored_value_that_does_not_fit_its_declared_type(inventory):
    """SQLite keeps any value in any column: SQLAlchemy cannot convert 'not a date' from a DATETIME
    column. That collection fails with one clear line (exit 3), not a traceback; `find`, which does not
    read that column, still finds the record."""
    exact, _ = located(inventory, "garbage", WANTED[0], contents=True)
    assert exact[0] == "SourceError" and exact[2] == 3
    # the stored value itself stays out of the message (it may be personal data: f0f7e32)
    assert "cannot read a row of table 'garbage'" in exact[1] and "not a date" not in exact[1], exact
    fast, used_sqlalchemy = located(inventory, "garbage", WANTED[0], contents=False)
    assert [key for key, *_ in fast] == [(1,)] and not used_sqlalchemy


def test_records_of_the_fast_path_hold_only_identity_and_key_fields(inventory):
    system = inventory.systems["crm"]
    with open_connector(system, inventory) as connector:
        [record] = [r for r in connector.locate(system.collections["people"], WANTED[3], lookup_only=True)
                    if r.key == (1,)]
    assert record.data == {"E-Mail": "Alice@Example.COM ", "CustomerId": 1042, "phone": "020 7946 0958", "pk": 1}


@pytest.mark.parametrize("damage, words", [
    ("DROP TABLE tel_int", "table 'tel_int' not found in the database"),
    ("ALTER TABLE people RENAME COLUMN phone TO telephone", "column 'phone' is not in table 'people'"),
    ("ALTER TABLE no_pk RENAME COLUMN name TO full_name", "key column 'name' is not in table 'no_pk'"),
])
def test_errors_are_the_same_words(inventory, tmp_path, damage, words):
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute(damage)
    collection = {"tel_int": "tel_int", "people": "people", "no_pk": "no_pk_keyed"}[damage.split()[2]]
    exact, _ = located(inventory, collection, WANTED[3] | WANTED[0], contents=True)
    fast, _ = located(inventory, collection, WANTED[3] | WANTED[0], contents=False)
    assert fast == exact and words in exact[1] and exact[0] == "MismatchError", exact


@pytest.mark.parametrize("kind", ["missing", "not a database"])
def test_a_missing_or_broken_file_fails_the_same_way(inventory, tmp_path, kind):
    path = tmp_path / "crm.db"
    if kind == "missing":
        path.unlink()
    else:
        path.write_bytes(b"this is not SQLite" * 100)
    exact, _ = located(inventory, "people", WANTED[0], contents=True)
    fast, _ = located(inventory, "people", WANTED[0], contents=False)
    assert fast == exact and exact[0] == "SourceError", exact
    assert not path.exists() or "file is not a database" in exact[1]


@pytest.mark.parametrize("declared, expected", [
    ("INTEGER", "integer"), ("int", "integer"), ("UNSIGNED BIG INT", "integer"), ("bigint", "integer"),
    ("TEXT", "text"), ("varchar(200)", "text"), ("NVARCHAR(10)", "text"), ("CLOB", "text"), ("character(20)", "text"),
    ("", "none"), ("MYBLOB", "none"),
    ("BLOB", "other"), ("NUMERIC", "other"), ("DECIMAL(10,2)", "other"), ("DATETIME", "other"), ("DATE", "other"),
    ("BOOLEAN", "other"), ("JSON", "other"), ("REAL", "other"), ("DOUBLE PRECISION", "other"), ("MONEY", "other"),
    ("FLOAT", "other"), ("TIMESTAMP", "other"),
])
def test_declared_types_resolve_as_sqlalchemy_resolves_them(declared, expected, tmp_path):
    """`affinity` says "integer"/"text"/"none" only where SQLAlchemy's reflected type leaves values alone."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE t (id INTEGER PRIMARY KEY, c {declared})")
    column = sa.Table("t", sa.MetaData(), autoload_with=engine).c.c
    engine.dispose()
    passes_through = isinstance(column.type, (sa.Integer, sa.String, sa.types.NullType)) and \
        not isinstance(column.type, (sa.Numeric, sa.Boolean, sa.Date, sa.DateTime, sa.Time, sa.JSON))
    assert affinity(declared) == expected
    assert (expected != "other") == passes_through, repr(column.type)


def _find_both_ways(inventory, subjects):
    from dsarctl.identity import parse_identifier
    from dsarctl.search import find_subject

    compared = 0
    for subject in subjects:
        ids = [parse_identifier(s, inventory.identities) for s in subject]
        exact = find_subject(inventory, ids)
        light = find_subject(inventory, ids, contents=False)
        assert light.to_dict() == exact.to_dict(), subject
        assert [(r.ref, r.location, r.identities, r.matched) for r in light.records()] == \
               [(r.ref, r.location, r.identities, r.matched) for r in exact.records()], subject
        compared += exact.total
    return compared


def test_find_reports_the_same_with_and_without_contents_on_the_demo_company(demo_inventory):
    subjects = [["alice@example.com"], ["bob@example.net"], ["+442079460958"], ["customer_id:1001"],
                ["ALICE@EXAMPLE.COM", "customer_id:1002"], ["nobody@example.org"]]
    assert _find_both_ways(demo_inventory, subjects) > 10


def test_find_reports_the_same_with_and_without_contents_on_the_benchmark_company(tmp_path):
    planted = benchmark_company(tmp_path)
    from dsarctl.inventory import load_inventory

    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:10]
    subjects = [[s["email"]] for s in planted["subjects"]] + [[s] for s in ordinary]
    subjects += [[f"customer_id:{s['customer_id']}"] for s in planted["subjects"]]
    assert _find_both_ways(inventory, subjects) >= 3 * 15
