"""The SQL connector on SQLite and on the live PostgreSQL and MariaDB servers."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st
import sqlalchemy as sa

from helpers import find, load, records


def sql_system(url: str, table: str, extra: str = "") -> str:
    return f"""
crm:
  connector: sql
  url: {url}
  collections:
    people:
      table: {table}
      identities: {{email: "E-Mail", customer_id: CustomerId, phone: phone}}
      {extra}
"""


def create_people(engine, table: str, schema: str | None = None) -> None:
    """A table whose names need quoting (mixed case, a dash) and whose id column is an integer."""
    meta = sa.MetaData()
    people = sa.Table(
        table, meta,
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("CustomerId", sa.Integer, index=True),
        sa.Column("E-Mail", sa.String(200)),
        sa.Column("phone", sa.String(40)),
        sa.Column("note", sa.Text),
        schema=schema,
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), [
            {"pk": 1, "CustomerId": 1042, "E-Mail": "Alice@Example.COM", "phone": "020 7946 0958", "note": "<b>hi</b>"},
            {"pk": 2, "CustomerId": 1043, "E-Mail": "xalice@example.com", "phone": None, "note": "alice@example.com"},
            {"pk": 3, "CustomerId": 10420, "E-Mail": "alice@example.com.au", "phone": "+44 20 7946 0959", "note": ""},
            {"pk": 4, "CustomerId": 1044, "E-Mail": "' OR 1=1 --", "phone": None, "note": "sql-looking"},
        ])


def check_matching(inv) -> None:
    hit = records(find(inv, "alice@example.com", expand=False), "crm", "people")
    assert [r.data["pk"] for r in hit] == [1]
    # a string identifier matches the integer column, and only exactly
    by_id = records(find(inv, "customer_id:1042", expand=False), "crm", "people")
    assert [r.data["pk"] for r in by_id] == [1]
    assert records(find(inv, "customer_id:abc", expand=False), "crm", "people") == []
    by_phone = records(find(inv, "+442079460958", expand=False), "crm", "people")
    assert [r.data["pk"] for r in by_phone] == [1]
    # values are bound, never spliced into SQL
    sneaky = find(inv, "customer_id:1 OR 1=1", expand=False)
    assert sneaky.failures == [] and records(sneaky, "crm", "people") == []
    quoted = find(inv, "email:o'brien@example.com", expand=False)
    assert quoted.failures == [] and records(quoted, "crm", "people") == []
    # expansion: e-mail -> customer id -> the same row, reported once
    full = find(inv, "alice@example.com")
    assert [r.data["pk"] for r in records(full, "crm", "people")] == [1]
    assert {str(i) for i in full.identifiers} == {"email:alice@example.com", "customer_id:1042", "phone:+442079460958"}


def test_sqlite(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    create_people(engine, "People")
    inv = load(tmp_path, sql_system("sqlite:///crm.db", "People"))
    check_matching(inv)


def test_sqlite_missing_file_is_not_created(tmp_path):
    inv = load(tmp_path, sql_system("sqlite:///nothing.db", "People"))
    result = find(inv, "alice@example.com")
    assert result.failures == [("crm", "people", "database file not found: nothing.db")]
    assert not (tmp_path / "nothing.db").exists()


def test_missing_table_and_column_name_the_inventory_line(tmp_path):
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute('CREATE TABLE "People" (pk INTEGER PRIMARY KEY, "E-Mail" TEXT, phone TEXT)')
    inv = load(tmp_path, sql_system("sqlite:///crm.db", "People"))
    [(_, _, error)] = find(inv, "alice@example.com").failures
    assert error.startswith("inventory.yaml:18: systems.crm.collections.people.identities.customer_id: "
                            "column 'CustomerId' is not in table 'People'")
    inv = load(tmp_path, sql_system("sqlite:///crm.db", "Persons"))
    [(_, _, error)] = find(inv, "alice@example.com").failures
    assert error == "inventory.yaml:16: systems.crm.collections.people: table 'Persons' not found in the database"


def test_unexpected_column_types_are_compared_safely(tmp_path):
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute('CREATE TABLE "People" (pk INTEGER PRIMARY KEY, "CustomerId" REAL, "E-Mail" BLOB, phone INTEGER)')
        db.execute('INSERT INTO "People" VALUES (1, 1042.0, X\'616C69636540\', 2079460958)')
    inv = load(tmp_path, sql_system("sqlite:///crm.db", "People"))
    result = find(inv, "customer_id:1042", expand=False)
    assert result.failures == []
    assert [r.data["pk"] for r in records(result, "crm", "people")] == [1]



def test_a_stored_value_that_does_not_fit_its_type_fails_without_the_value(tmp_path, cli):
    """SQLite keeps any text in a DATE column; Python's message quotes the value (a birth date here),
    which must reach neither the report nor the audit log."""
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute('CREATE TABLE "People" (pk INTEGER PRIMARY KEY, "E-Mail" TEXT, "CustomerId" TEXT, phone TEXT, '
                   'born DATE)')
        db.execute("INSERT INTO \"People\" VALUES (1, 'alice@example.com', '1042', NULL, '12 March 1980')")
    db.close()
    from helpers import write_inventory

    path = write_inventory(tmp_path, sql_system("sqlite:///crm.db", "People"))
    r = cli("-i", str(path), "export", "alice@example.com", "-o", str(tmp_path / "out.zip"))
    assert r.code == 3, r
    assert "does not fit its column's declared type" in r.err + r.out
    assert "March" not in r.err + r.out
    for log in tmp_path.rglob("*.db"):
        if log.name != "crm.db":
            assert b"March" not in log.read_bytes(), log


@pytest.mark.postgres
def test_postgres(tmp_path, postgres_url, unique_name):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{unique_name}"'))
    try:
        create_people(engine, "People", schema=unique_name)
        inv = load(tmp_path, sql_system(postgres_url, "People", extra=f"schema: {unique_name}"))
        check_matching(inv)
        # schema-qualified through the dotted form too
        inv = load(tmp_path, sql_system(postgres_url, f"{unique_name}.People"))
        check_matching(inv)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{unique_name}" CASCADE'))
        engine.dispose()


@pytest.mark.mysql
def test_mariadb(tmp_path, mysql_url, unique_name):
    engine = sa.create_engine(mysql_url)
    try:
        create_people(engine, unique_name + "_People")
        inv = load(tmp_path, sql_system(mysql_url, unique_name + "_People"))
        check_matching(inv)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS `{unique_name}_People`"))
        engine.dispose()


def test_server_urls_without_driver_suffix_pick_the_installed_driver(tmp_path):
    from dsarctl.connectors.sql import resolve_url

    assert resolve_url("postgresql://u@h/db", tmp_path).startswith(("postgresql+psycopg://", "postgresql://"))
    assert resolve_url("mysql://u@h/db", tmp_path).startswith(("mysql+pymysql://", "mysql://"))
    assert resolve_url("sqlite:///rel/x.db", tmp_path) == f"sqlite:///{tmp_path}/rel/x.db"
    assert resolve_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"


def test_check_connect_on_servers_advises_index(cli, tmp_path, server_url, unique_name):
    engine = sa.create_engine(server_url)
    table = unique_name + "_People"
    try:
        create_people(engine, table)
        path = tmp_path / "inventory.yaml"
        from helpers import write_inventory

        write_inventory(tmp_path, sql_system(server_url, table))
        result = cli("-i", str(path), "inventory", "check", "--connect", "--json")
        assert result.code == 0, result
        warnings = [f["message"] for f in result.json()["findings"] if f["level"] == "warning"]
        assert any("E-Mail" in w and "CREATE INDEX" in w for w in warnings), warnings
        assert not any("CustomerId" in w for w in warnings)  # it has an index
    finally:
        sa.Table(table, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()


def test_phone_numbers_in_any_format_are_found_by_the_sql_prefilter(tmp_path):
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute('CREATE TABLE "People" (pk INTEGER PRIMARY KEY, "CustomerId" INTEGER, "E-Mail" TEXT, phone TEXT)')
        spellings = ["020 7946 0958", "+44 (0)20 7946 0958", "020/7946.0958", "0044-20-7946-0958",
                     "+442079460958", "(020) 7946-0958 ext. 12", "020 7946 0959", "2079460958 7", None]
        db.executemany('INSERT INTO "People" (pk, phone) VALUES (?, ?)', list(enumerate(spellings, 1)))
    inv = load(tmp_path, sql_system("sqlite:///crm.db", "People"))
    found = records(find(inv, "+44 20 7946 0958", expand=False), "crm", "people")
    # every spelling of the number, and not its neighbour nor a longer number that merely contains it
    assert sorted(r.data["pk"] for r in found) == [1, 2, 3, 4, 5, 6]


def test_phone_in_a_numeric_column_on_servers(tmp_path, server_url, unique_name):
    """Phone numbers kept as digits in a numeric column are found (the LIKE prefilter casts to text)."""
    engine = sa.create_engine(server_url)
    table = unique_name + "_Phones"
    meta = sa.MetaData()
    phones = sa.Table(table, meta, sa.Column("pk", sa.Integer, primary_key=True), sa.Column("phone", sa.BigInteger))
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(phones.insert(), [{"pk": 1, "phone": 2079460958}, {"pk": 2, "phone": 2079460959}])
        inv = load(tmp_path, f"""
crm:
  connector: sql
  url: {server_url}
  collections:
    phones:
      table: {table}
      identities: {{phone: phone}}
""")
        result = find(inv, "+442079460958", expand=False)
        assert result.failures == []
        assert [r.data["pk"] for r in records(result, "crm", "phones")] == [1]
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_many_phone_numbers_are_looked_up_in_one_pass(tmp_path):
    """A batch looks up many phone numbers at once: one pass over the column with a digits check, the
    same answer as one lookup per number."""
    import sqlite3

    from dsarctl.identity import Identifier
    from dsarctl.search import find_subjects

    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE people (pk INTEGER PRIMARY KEY, phone TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?)",
                       [(n, f"020 7946 {n:04d}" if n % 2 else f"+44 (0)20-7946-{n:04d}") for n in range(1, 60)])
    inv = load(tmp_path, """
crm:
  connector: sql
  url: sqlite:///crm.db
  collections:
    people:
      identities: {phone: phone}
""")
    subjects = [[Identifier("phone", f"+44207946{n:04d}")] for n in range(1, 40, 3)] + [[Identifier("phone", "+447700900123")]]
    together = find_subjects(inv, subjects, expand=False)
    assert [[r.data["pk"] for r in result.records()] for result in together] == [[n] for n in range(1, 40, 3)] + [[]]
    for ids, result in zip(subjects, together):
        alone = find(inv, str(ids[0]), expand=False)
        assert [r.key for r in alone.records()] == [r.key for r in result.records()]


PHONE_PEOPLE = [(n, f"020 7946 {n:04d}" if n % 2 else f"+44 (0)20-7946-{n:04d}") for n in range(1, 60)]
PHONE_SUBJECTS = [f"+44207946{n:04d}" for n in range(1, 40, 3)] + ["+447700900123"]


def _phone_batch(inv, collection: str = "people") -> list[list[int]]:
    from dsarctl.identity import Identifier
    from dsarctl.search import find_subjects

    together = find_subjects(inv, [[Identifier("phone", p)] for p in PHONE_SUBJECTS], expand=False)
    for phone, result in zip(PHONE_SUBJECTS, together):  # a batch answers as a search of its own would
        alone = find(inv, phone, expand=False)
        assert [r.key for r in alone.records()] == [r.key for r in result.records()]
    return [sorted(r.data["n"] for r in result.records()) for result in together]


def _statements():
    """The SQL statements run meanwhile (every engine's)."""
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    sa.event.listen(Engine, "before_cursor_execute", listen)
    return seen, lambda: sa.event.remove(Engine, "before_cursor_execute", listen)


@pytest.mark.parametrize("shape", ["composite key", "declared key with a NULL", "no key"])
def test_a_phone_batch_reads_whole_rows_only_for_the_numbers_found(tmp_path, shape):
    """The one pass over a table for a batch of phone numbers reads the key and the number of each row;
    whole rows are read back by key for the rows that hold one. A NULL key value or a table without
    a key falls back to reading whole rows; every shape gives what a search per number gives."""
    with sqlite3.connect(tmp_path / "crm.db") as db:
        if shape == "composite key":
            db.execute("CREATE TABLE people (a TEXT, n INTEGER, phone TEXT, note TEXT, PRIMARY KEY (a, n))")
            db.executemany("INSERT INTO people VALUES (?, ?, ?, 'x')", [(f"k{n % 3}", n, p) for n, p in PHONE_PEOPLE])
        else:
            db.execute("CREATE TABLE people (ref INTEGER, n INTEGER, phone TEXT, note TEXT)")
            db.executemany("INSERT INTO people VALUES (?, ?, ?, 'x')",
                           [(None if n == 7 else n, n, p) for n, p in PHONE_PEOPLE])
    key = "key: [ref]" if shape == "declared key with a NULL" else ""
    inv = load(tmp_path, f"""
crm:
  connector: sql
  url: sqlite:///crm.db
  collections:
    people:
      identities: {{phone: phone}}
      {key}
""")
    seen, stop = _statements()
    try:
        found = _phone_batch(inv)
    finally:
        stop()
    assert found == [[n] for n in range(1, 40, 3)] + [[]]
    narrow = [s for s in seen if "IS NOT NULL" in s and "note" not in s]
    if shape == "composite key":
        assert narrow and all("IN" not in s for s in narrow)  # the pass: keys and numbers only
        assert any("note" in s and " IN " in s for s in seen)  # whole rows, by key
    elif shape == "no key":
        assert not narrow  # nothing to read rows back by: whole rows in the pass


def test_a_phone_batch_on_servers(tmp_path, server_url, unique_name):
    engine = sa.create_engine(server_url)
    table = unique_name + "_batch"
    meta = sa.MetaData()
    people = sa.Table(table, meta, sa.Column("pk", sa.Integer, primary_key=True), sa.Column("n", sa.Integer),
                      sa.Column("phone", sa.String(40)), sa.Column("note", sa.Text))
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(people.insert(), [{"pk": 100 + n, "n": n, "phone": p, "note": "x"} for n, p in PHONE_PEOPLE])
        inv = load(tmp_path, f"""
crm:
  connector: sql
  url: {server_url}
  collections:
    people:
      table: {table}
      identities: {{phone: phone}}
""")
        assert _phone_batch(inv) == [[n] for n in range(1, 40, 3)] + [[]]
    finally:
        meta.drop_all(engine)
        engine.dispose()


NOISE = st.text(alphabet="0123456789 +-()x\u0663\u00e9", max_size=6)


@settings(max_examples=400, deadline=None)
@given(wanted=st.frozensets(st.text(alphabet="0123456789", min_size=3, max_size=6), min_size=1, max_size=4),
       data=st.data())
def test_a_phone_pass_keeps_the_rows_holding_a_number_as_a_row_by_row_check_does(wanted, data):
    from dsarctl.connectors.sql import _holds_digits, _rows_holding

    def spelt(digits: str) -> str:  # the number with separators between its digits, as people write them
        return "".join(d + data.draw(st.sampled_from(["", "", " ", "-", ") "])) for d in digits)

    value = st.one_of(
        st.tuples(NOISE, st.sampled_from(sorted(wanted)).map(spelt), NOISE).map("".join),  # holds one
        NOISE,
        st.sampled_from(sorted(wanted)).map(lambda w: w[:-1]),  # one digit short
        st.sampled_from(sorted(wanted)),  # exactly one
        st.integers(min_value=0, max_value=10**13),
        st.sampled_from(sorted(wanted)).map(int),
    )
    rows = list(enumerate(data.draw(st.lists(value, max_size=20))))
    sizes = tuple(sorted({len(w) for w in wanted}))
    kept = list(_rows_holding(rows, wanted, sizes))
    assert kept == [r for r in rows if _holds_digits(r[1], wanted, sizes)]


def test_a_phone_pass_over_many_blocks_keeps_what_a_row_by_row_check_keeps():
    """Blocks of rows checked at once (sql._BLOCK_ROWS): rows at block edges, blocks that must go row by
    row (an integer, non-ASCII digits, a newline inside a value, a very long number), windows at every
    place in a number."""
    import random

    from dsarctl.connectors.sql import _BLOCK_ROWS, _holds_digits, _rows_holding

    rng = random.Random(7)
    wanted = frozenset({"2079460958", "7700900123", "0123456", "98765"})
    sizes = tuple(sorted({len(w) for w in wanted}))

    def number(i: int):
        kind = i % 11
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 14)))
        if kind == 0:
            digits = rng.choice(["+44 ", "0", "0044", "", "1"]) + rng.choice(sorted(wanted)) + rng.choice(["", " x12", "9"])
        return " ".join(digits[j:j + 3] for j in range(0, len(digits), 3))

    rows = [(i, number(i)) for i in range(6 * _BLOCK_ROWS + 17)]
    special = {
        _BLOCK_ROWS - 1: "020 7946 0958",  # the last row of a block
        _BLOCK_ROWS: "(0)20-7946-0958",  # the first of the next
        2 * _BLOCK_ROWS + 5: 7700900123,  # this block goes row by row
        3 * _BLOCK_ROWS + 3: "\u0662\u0660\u0667\u0669\u0664\u0666\u0660\u0669\u0665\u0668",  # and this one
        4 * _BLOCK_ROWS + 9: "0123\n456",  # a newline: the digits run on (and the block goes row by row)
        5 * _BLOCK_ROWS + 2: "1" * 60 + "98765",  # too long for windows at once
    }
    for i, value in special.items():
        rows[i] = (i, value)
    kept = list(_rows_holding(rows, wanted, sizes))
    expected = [r for r in rows if _holds_digits(r[1], wanted, sizes)]
    assert kept == expected and len(expected) > 300
    assert set(special) - {3 * _BLOCK_ROWS + 3} <= {i for i, _ in kept}  # Arabic-Indic digits are not ASCII ones


def _masking_run(tmp_path, url: str, name: str, batched: bool, monkeypatch):
    """An erase_system over a table of notes: masks with a hash (a new value per row), redact and null,
    a row already masked, a key no longer there, a key given twice, and deletes."""
    from dsarctl.connectors import open_connector
    from dsarctl.sources import EraseContext, EraseTarget
    from dsarctl.connectors.sql import SqlConnector
    from dsarctl.erase.mask import REDACTED, Masker

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(name, meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.String(200)),
                     sa.Column("note", sa.String(200)), sa.Column("score", sa.Integer))
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "email": f"p{i}@example.com", "note": f"n{i}", "score": i}
                                      for i in range(1, 1201)])
        conn.execute(table.update().where(table.c.id == 7).values(note=REDACTED))
    engine.dispose()
    inv = load(tmp_path, f"""
crm:
  connector: sql
  url: {url}
  collections:
    notes:
      table: {name}
      identities: {{email: email}}
""")
    if not batched:
        monkeypatch.setattr(SqlConnector, "_unique_key", lambda *a: False)
    masker = Masker(b"k" * 32)
    fields = {"email": "hash", "note": "redact", "score": "null"}
    targets = [EraseTarget((i,), None, "anonymize", fields) for i in range(1, 1101)]
    targets.insert(5, EraseTarget((3,), None, "anonymize", fields))  # twice (in one block): masked, then unchanged
    targets += [EraseTarget((7,), None, "anonymize", {"note": "redact"}),  # already masked: unchanged
                EraseTarget((5000,), None, "anonymize", fields)]  # gone
    system = inv.systems["crm"]
    connector = open_connector(system, inv)
    try:
        outcome = connector.erase_system([(system.collections["notes"], targets)], EraseContext(masker))["notes"]
        deleted = connector.erase_system([(system.collections["notes"], [EraseTarget((i,), None, "delete")
                                                                         for i in (1150, 1151, 9999)])],
                                         EraseContext(masker))["notes"]
    finally:
        connector.close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    meta.drop_all(engine)
    engine.dispose()
    return outcome.to_dict(), deleted.to_dict(), rows


def test_masking_by_many_keys_a_statement_gives_what_row_by_row_gives(tmp_path, monkeypatch):
    runs = {}
    for batched in (True, False):
        folder = tmp_path / str(batched)
        folder.mkdir()
        runs[batched] = _masking_run(folder, f"sqlite:///{folder / 'crm.db'}", "notes", batched, monkeypatch)
        monkeypatch.undo()
    assert runs[True] == runs[False]
    outcome, deleted, rows = runs[True]
    assert outcome == {"deleted": 0, "masked": 1100, "unchanged": 2, "missing": 1}
    assert deleted["deleted"] == 2 and deleted["missing"] == 1
    assert len({r[1] for r in rows[:1100]}) == 1100  # every e-mail hashed to its own value
    assert rows[1100][1:] == ("p1101@example.com", "n1101", 1101)  # not a target: as it was


def test_masking_by_many_keys_on_servers(tmp_path, server_url, unique_name, monkeypatch):
    runs = {}
    for batched in (True, False):
        folder = tmp_path / str(batched)
        folder.mkdir()
        runs[batched] = _masking_run(folder, server_url, unique_name, batched, monkeypatch)
        monkeypatch.undo()
    assert runs[True] == runs[False]
