"""The erase report says what happened, record by record (issue 17): impossible masks are refused before
anything is written; a system rolled back by its database reports its records `not erased` with the
database's reason; a masked record that no longer holds its masked values is `not erased` (exit 3),
never `anonymized` or `already done`. The oracle is the database itself (plain SQL) and the files.

Every test runs against SQLite, PostgreSQL and MariaDB (live servers: DSARCTL_TEST_POSTGRES_URL /
DSARCTL_TEST_MYSQL_URL, skipped with the reason when unset, see conftest.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

TICKETS = ("id INTEGER PRIMARY KEY, person_id INTEGER, body VARCHAR(500), ref VARCHAR(100), code INTEGER, "
           "opened DATE, note VARCHAR(200) NOT NULL, short VARCHAR(8)")
ANONYMIZED = "anonymized; the record still carries an identifier the rule does not mask"
FIELDS = {"body": "redact", "ref": "hash"}  # what the tickets rule masks unless a test says otherwise


class Company:
    """A small company in one database (people deleted, tickets anonymized, orders retained with a masked
    phone) and a CSV list of contacts (anonymized), with its inventory."""

    def __init__(self, url: str, prefix: str, folder):
        from sqlalchemy import create_engine

        self.url, self.folder = url, folder
        self.engine = create_engine(url)
        self.people, self.tickets, self.orders = (f"{prefix}people", f"{prefix}tickets", f"{prefix}orders")
        self.inventory = folder / "inventory.yaml"
        self.contacts = folder / "contacts.csv"

    def create(self, tickets_extra: str = "") -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {self.people} (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL, "
                              f"name VARCHAR(200))"))
            conn.execute(text(f"CREATE TABLE {self.tickets} ({TICKETS}{tickets_extra})"))
            conn.execute(text(f"CREATE UNIQUE INDEX ux_{self.tickets}_ref ON {self.tickets} (ref)"))
            conn.execute(text(f"CREATE TABLE {self.orders} (id INTEGER PRIMARY KEY, email VARCHAR(200), "
                              f"phone VARCHAR(50), created_at DATE)"))
            conn.execute(text(f"INSERT INTO {self.people} VALUES (1, 'alice@example.com', 'Alice'), "
                              f"(2, 'bob@example.net', 'Bob')"))
            conn.execute(text(f"INSERT INTO {self.tickets} VALUES "
                              f"(10, 1, 'hi from alice', 'A-1', 7, '2024-01-02', 'n', 'x'), "
                              f"(11, 2, 'hi from bob', 'B-1', 8, '2024-01-03', 'n', 'y'), "
                              f"(12, 1, 'again from alice', 'A-2', 9, '2024-01-04', 'n', 'z')"))
            conn.execute(text(f"INSERT INTO {self.orders} VALUES (100, 'alice@example.com', '0123', '2024-03-05'), "
                              f"(101, 'bob@example.net', '0456', '2024-04-01')"))
        self.contacts.write_text("email,name,city\nalice@example.com,Alice,Bristol\nbob@example.net,Bob,Leeds\n")

    def write_inventory(self, fields: dict[str, str] = FIELDS) -> None:
        lines = "\n".join(f"            {name}: {op}" for name, op in fields.items())
        self.inventory.write_text(f"""\
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
        table: {self.people}
        identities: {{email: email, person_id: id}}
        erase: delete
      tickets:
        table: {self.tickets}
        identities: {{person_id: person_id}}
        erase:
          action: anonymize
          fields:
{lines}
      orders:
        table: {self.orders}
        identities: {{email: email}}
        erase:
          action: retain
          reason: tax records
          fields:
            phone: null
  contacts:
    connector: csv
    path: contacts.csv
    identities: {{email: email}}
    erase: {{action: anonymize, fields: {{email: hash, name: redact}}}}
""")

    def line_of(self, field: str) -> int:
        """The inventory line of a field under the tickets rule's `fields:`."""
        lines = self.inventory.read_text().splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == f"table: {self.tickets}")
        return next(i for i, line in enumerate(lines) if i > start and line.strip().startswith(f"{field}:")) + 1

    def rows(self) -> dict[str, dict]:
        """Every row of every table, by id: the oracle."""
        from sqlalchemy import text

        out = {}
        with self.engine.connect() as conn:
            for table in (self.people, self.tickets, self.orders):
                out[table] = {r[0]: tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))}
        return out

    def execute(self, sql: str) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(sql))

    def load(self):
        from dsarctl.inventory import load_inventory

        return load_inventory(self.inventory)

    def drop(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            for table in (self.people, self.tickets, self.orders):
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        self.engine.dispose()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database(request, tmp_path, unique_name, monkeypatch) -> str:
    """(url, table prefix): a file database, or a live server (tables named for this test alone)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}", ""
    return request.getfixturevalue(f"{request.param}_url"), f"{unique_name}_"


@pytest.fixture
def company(database, tmp_path, monkeypatch):
    url, prefix = database
    monkeypatch.setenv("TEST_DB_URL", url)
    monkeypatch.delenv("DSARCTL_INVENTORY", raising=False)
    made = Company(url, prefix, tmp_path)
    yield made
    made.drop()


def identifiers():
    from dsarctl.identity import Identifier

    return [[Identifier("email", "alice@example.com")]]


def by_place(remaining: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for entry in remaining:
        out.setdefault((entry["system"], entry["collection"]), []).append(entry)
    return out


def statuses(remaining: list[dict], system: str, collection: str) -> dict[str, int]:
    return {e["status"]: e["count"] for e in by_place(remaining).get((system, collection), [])}


# -- impossible masks: refused before anything is written ---------------------------------------------

IMPOSSIBLE = [
    ("id", "null", "column 'id' is part of the primary key"),
    ("note", "null", "column 'note' is NOT NULL"),
    ("code", "hash", "which cannot hold the keyed hash"),
    ("short", "hash", "VARCHAR(8), too short for the keyed hash (64 characters)"),
    ("short", "redact", "VARCHAR(8), too short for the placeholder '[redacted]' (10 characters)"),
    ("opened", "redact", "DATE, which cannot hold the placeholder '[redacted]'"),
    ("ref", "redact", "column 'ref' holds unique values"),
    ("nothere", "null", "column 'nothere' is not in table"),
]


@pytest.mark.parametrize("field,op,why", IMPOSSIBLE, ids=[f"{f}-{o}" for f, o, _ in IMPOSSIBLE])
def test_an_impossible_mask_is_refused_at_plan_time_and_nothing_is_written(company, cli, field, op, why):
    company.create()
    company.write_inventory({**FIELDS, field: op})
    before = company.rows()
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 2, r
    message = r.err.strip()
    assert "\n" not in message  # one line
    assert f"inventory.yaml:{company.line_of(field)}: db.tickets.{field}: {op} is impossible: " in message
    assert why in message
    assert company.rows() == before  # Alice's account was not deleted either
    assert "alice@example.com" in company.contacts.read_text()


@pytest.mark.parametrize("field,op,why", IMPOSSIBLE, ids=[f"{f}-{o}" for f, o, _ in IMPOSSIBLE])
def test_inventory_check_connect_reports_an_impossible_mask_at_its_line(company, cli, field, op, why):
    company.create()
    company.write_inventory({**FIELDS, field: op})
    r = cli("-i", str(company.inventory), "inventory", "check", "--connect", "--json")
    assert r.code == 2, r
    errors = [f for f in r.json()["findings"] if f["level"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["where"] == f"inventory.yaml:{company.line_of(field)}"
    assert f"db.tickets.{field}: {op} is impossible: " in errors[0]["message"] and why in errors[0]["message"]


def test_possible_masks_pass_the_check(company, cli):
    company.create()
    company.write_inventory({**FIELDS, "person_id": "null", "short": "null"})
    r = cli("-i", str(company.inventory), "inventory", "check", "--connect", "--json")
    assert r.code == 0, r
    assert [f for f in r.json()["findings"] if f["level"] == "error"] == []


def test_a_mask_of_a_csv_column_that_is_not_in_the_header_is_refused(company, cli):
    company.create()
    company.write_inventory()
    company.inventory.write_text(company.inventory.read_text().replace("name: redact}", "nmae: redact}"))
    before = company.contacts.read_bytes()
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 2, r
    assert "contacts.contacts.nmae: redact is impossible: column 'nmae' is not in the header of contacts.csv" in r.err
    assert company.contacts.read_bytes() == before


# -- a system its database rolls back -------------------------------------------------------------------

def _collide(company) -> str:
    """Bob's ticket already holds the keyed hash that Alice's ref 'A-1' would take: the unique index on
    ref refuses the erase's UPDATE, which the plan cannot foresee."""
    from dsarctl.erase.apply import install_key
    from dsarctl.keys import keyed_hash

    taken = keyed_hash(install_key(company.load()), "anonymize", "A-1")
    company.execute(f"UPDATE {company.tickets} SET ref = '{taken}' WHERE id = 11")
    return taken


def test_a_rolled_back_system_reports_its_records_not_erased_with_the_reason(company, cli):
    company.create()
    company.write_inventory()
    taken = _collide(company)
    before = company.rows()
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    # the database quotes the row's value in its message (MariaDB: Duplicate entry '...'): it is data,
    # and reaches neither the report nor the audit log
    assert taken not in r.out and taken not in r.err
    for log in company.inventory.parent.rglob("*.db"):
        assert taken.encode() not in log.read_bytes(), log
    assert company.rows() == before  # one transaction: nothing of it stayed
    data = r.json()
    unit = next(u for u in data["run"]["units"] if u["system"] == "db")
    assert unit["status"] == "failed" and "transaction rolled back" in unit["error"]
    remaining = data["remaining"]
    assert statuses(remaining, "db", "people") == {"not erased": 1}
    assert statuses(remaining, "db", "tickets") == {"not erased": 2}  # never "anonymized"
    assert statuses(remaining, "db", "orders") == {"not erased": 1}  # its phone was to be masked: not "retained"
    for entry in remaining:
        if entry["system"] == "db":
            assert entry["reason"] == unit["error"]
    assert all(e["status"] != "anonymized" for e in remaining)
    # the other system was still erased, and says so
    assert statuses(remaining, "contacts", "contacts") == {}
    assert "alice@example.com" not in company.contacts.read_text()


def test_a_rolled_back_system_in_the_text_report(company, cli):
    company.create()
    company.write_inventory()
    _collide(company)
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 3, r
    text = " ".join(r.out.split())  # long database messages wrap
    assert "db: FAILED — erase failed, transaction rolled back: " in text, r.out
    what = text[text.index("What remains: "):]
    for line in ("db.people: 1 record not erased — erase failed, transaction rolled back: ",
                 "db.tickets: 2 records not erased — erase failed, transaction rolled back: ",
                 "db.orders: 1 record not erased — erase failed, transaction rolled back: "):
        assert line in what, r.out
    assert "anonymized" not in r.out and "retained" not in r.out


# -- a record that changed between the search and the erase ---------------------------------------------

def _erase_with_change(company, change):
    """prepare, then `change` the sources, then carry out the plan (what a concurrent writer does
    between the search and the erase)."""
    from dsarctl.erase import carry_out, prepare

    inventory = company.load()
    plan = prepare(inventory, identifiers(), now=NOW)
    change()
    return carry_out(inventory, plan, operator="test", now=NOW)


def test_a_sql_row_whose_key_changed_after_the_search_is_not_erased(company):
    company.create()
    company.write_inventory()
    result = _erase_with_change(company, lambda: company.execute(f"UPDATE {company.tickets} SET id = 99 WHERE id = 10"))
    tickets = company.rows()[company.tickets]
    assert tickets[99][2] == "hi from alice"  # the plaintext is still there
    assert tickets[12][2] == "[redacted]"
    outcome = next(u for u in result.run.units if u.system == "db").outcomes["tickets"]
    assert (outcome.masked, outcome.unchanged, outcome.missing) == (1, 0, 1)
    entries = by_place(result.remaining)[("db", "tickets")]
    assert sorted((e["status"], e["count"], e["records"], e["reason"]) for e in entries) == [
        ("anonymized", 1, [f"{company.tickets} (id=12)"], ANONYMIZED),  # masked, still carries person_id
        ("not erased", 1, [f"{company.tickets} (id=99)"],
         "not masked as planned (body, ref): the record changed or appeared after the search")]
    assert not result.ok and any("db.tickets" in p for p in result.problems)


def test_a_csv_record_changed_after_the_search_is_not_erased(company):
    company.create()
    company.write_inventory()

    def change():
        company.contacts.write_text(company.contacts.read_text().replace("Alice,Bristol", "Alice,Bath"))

    result = _erase_with_change(company, change)
    assert "alice@example.com,Alice,Bath" in company.contacts.read_text()
    outcome = next(u for u in result.run.units if u.system == "contacts").outcomes["contacts"]
    assert (outcome.masked, outcome.unchanged, outcome.missing) == (0, 0, 1)
    assert statuses(result.remaining, "contacts", "contacts") == {"not erased": 1}
    assert not result.ok


def test_a_change_between_plan_and_erase_on_the_command_line(company, cli, monkeypatch):
    """The text report never says `already done` of a record the erase did not find as planned."""
    import dsarctl.erase as erase

    company.create()
    company.write_inventory()
    plan_it = erase.prepare

    def prepare_then_change(*args, **kwargs):
        plan = plan_it(*args, **kwargs)
        company.execute(f"UPDATE {company.tickets} SET id = 99 WHERE id = 10")
        return plan

    monkeypatch.setattr(erase, "prepare", prepare_then_change)
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 3, r
    assert "already done" not in r.out
    assert "db.tickets: 0 deleted, 1 masked, 1 not found as planned (gone, or changed since the search)" in r.out
    assert "  db.tickets: 1 record not erased — not masked as planned (body, ref)" in r.out
    assert company.rows()[company.tickets][99][2] == "hi from alice"


def test_a_masked_row_written_back_after_the_erase_is_read_again_by_its_key(company):
    """The rule nulls the identity too: searching again cannot find the row, reading it by key does."""
    from dsarctl.erase import prepare, verify
    from dsarctl.erase.apply import execute

    company.create()
    company.write_inventory({**FIELDS, "person_id": "null"})
    inventory = company.load()
    plan = prepare(inventory, identifiers(), now=NOW)
    run = execute(inventory, plan, operator="test", now=NOW)
    assert company.rows()[company.tickets][10][1:3] == (None, "[redacted]")
    company.execute(f"UPDATE {company.tickets} SET body = 'hi from alice' WHERE id = 10")  # a sync writes it back
    remaining = verify(inventory, plan, run)
    assert [(e["status"], e["records"]) for e in by_place(remaining)[("db", "tickets")]] == [
        ("not erased", [f"{company.tickets} (id=10)"])]


def test_a_clean_erase_still_reports_what_it_did(company, cli):
    company.create()
    company.write_inventory()
    r = cli("-i", str(company.inventory), "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 0, r
    rows = company.rows()
    assert 1 not in rows[company.people]
    assert [rows[company.tickets][i][2] for i in (10, 11, 12)] == ["[redacted]", "hi from bob", "[redacted]"]
    assert rows[company.orders][100][2] is None
    remaining = r.json()["remaining"]
    assert statuses(remaining, "db", "tickets") == {"anonymized": 2}  # person_id is not masked: still found
    assert statuses(remaining, "db", "orders") == {"retained": 1}
    assert [e for e in remaining if e["status"] in ("not erased", "failed")] == []
