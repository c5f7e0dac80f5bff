"""Every built-in source passes the conformance suite a plugin runs (dsarctl.testing): SQLite and the live
PostgreSQL and MariaDB, CSV, JSON lines, mbox, Maildir, a live IMAP mailbox (Dovecot), and a source that
cannot erase. Each fixture writes the suite's people in the source's own format and reads them back
without dsarctl (sqlite3/SQLAlchemy, csv, json, the mailbox module, IMAPClient) as the oracle."""

from __future__ import annotations

import csv
import email
import email.utils
import json
import mailbox
import shutil
import sqlite3
import uuid
from email.message import EmailMessage

import pytest

from dsarctl.connectors import registry
from dsarctl.sources import KeySpec, Record, Source
from dsarctl.testing import CONTROLLER_DOMAIN, SourceTests

COLUMNS = ["id", "email", "name", "note"]
MAILBOX_ADDRESS = f"support@{CONTROLLER_DOMAIN}"


def rows(people) -> list[dict]:
    """One row per label: id, e-mail as stored, name, the label as the note."""
    out = []
    for person in people:
        for label in person.labels:
            out.append({"id": len(out) + 1, "email": person.email, "name": person.name, "note": label})
    return out


def mine(person, items, address=lambda item: item["email"]):
    return [item for item in items if address(item).lower() == person.email.lower()]


# -- SQL --------------------------------------------------------------------------------------------------

class SqliteFixture:
    masked_field = "name"

    def make(self, folder, people):
        self.path = folder / "people.db"
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, name TEXT, note TEXT)")
            db.executemany("INSERT INTO people VALUES (:id, :email, :name, :note)", rows(people))
        db.close()
        return {"connector": "sql", "url": f"sqlite:///{self.path}",
                "collections": {"people": {"identities": {"email": "email"}}}}

    def records_of(self, person):
        with sqlite3.connect(self.path) as db:
            stored = db.execute("SELECT id, email, name, note FROM people ORDER BY id").fetchall()
        db.close()
        return [row for row in stored if row[1].lower() == person.email.lower()]

    def break_source(self):
        self.path.unlink()


class ServerFixture:
    """A table of its own (a unique name) on a live server; every table made is dropped at the end."""

    masked_field = "name"

    def __init__(self, url):
        from sqlalchemy import create_engine

        self.url, self.engine, self.tables = url, create_engine(url), []

    def make(self, folder, people):
        from sqlalchemy import Column, Integer, MetaData, String, Table

        self.table = Table(f"t_{uuid.uuid4().hex[:10]}", MetaData(), Column("id", Integer, primary_key=True),
                           *(Column(name, String(100)) for name in COLUMNS[1:]))
        self.table.create(self.engine)
        self.tables.append(self.table)
        with self.engine.begin() as db:
            db.execute(self.table.insert(), rows(people))
        return {"connector": "sql", "url": self.url,
                "collections": {"people": {"table": self.table.name, "identities": {"email": "email"}}}}

    def records_of(self, person):
        with self.engine.connect() as db:
            stored = [tuple(row) for row in db.execute(self.table.select().order_by(self.table.c.id))]
        return [row for row in stored if row[1].lower() == person.email.lower()]

    def break_source(self):
        self.table.drop(self.engine)
        self.tables.remove(self.table)

    def close(self):
        for table in self.tables:
            table.drop(self.engine, checkfirst=True)
        self.engine.dispose()


class TestSqlite(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return SqliteFixture()


class TestPostgres(SourceTests):
    @pytest.fixture
    def source_fixture(self, postgres_url):
        fixture = ServerFixture(postgres_url)
        yield fixture
        fixture.close()


class TestMariadb(SourceTests):
    @pytest.fixture
    def source_fixture(self, mysql_url):
        fixture = ServerFixture(mysql_url)
        yield fixture
        fixture.close()


# -- line files ---------------------------------------------------------------------------------------------

class CsvFixture:
    masked_field = "name"

    def make(self, folder, people):
        self.path = folder / "people.csv"
        with self.path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, COLUMNS)
            writer.writeheader()
            writer.writerows(rows(people))
        return {"connector": "csv", "path": "people.csv", "identities": {"email": "email"}}

    def records_of(self, person):
        with self.path.open(newline="", encoding="utf-8") as source:
            return mine(person, list(csv.DictReader(source)))

    def break_source(self):
        self.path.unlink()


class JsonlFixture:
    masked_field = "name"

    def make(self, folder, people):
        self.path = folder / "people.jsonl"
        self.path.write_text("".join(json.dumps(row) + "\n" for row in rows(people)), encoding="utf-8")
        return {"connector": "jsonl", "path": "people.jsonl", "identities": {"email": "email"}}

    def records_of(self, person):
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return mine(person, [json.loads(line) for line in lines if line.strip()])

    def break_source(self):
        self.path.unlink()


class TestCsv(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return CsvFixture()


class TestJsonl(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return JsonlFixture()


# -- mailboxes --------------------------------------------------------------------------------------------

def messages(people) -> list[EmailMessage]:
    """One message per label, from the person to the controller's mailbox, the label as its Subject."""
    out = []
    for person in people:
        for label in person.labels:
            message = EmailMessage()
            message["From"] = email.utils.formataddr((person.name, person.email))
            message["To"] = MAILBOX_ADDRESS
            message["Subject"] = label
            message["Date"] = "Mon, 02 Mar 2026 09:15:05 +0000"
            message["Message-ID"] = f"<{label}@example.org>"
            message.set_content(f"A message from {person.name}.\n")
            out.append(message)
    return out


def sender(message) -> str:
    return email.utils.parseaddr(message["From"])[1]


MAIL_KEYS = {"address": MAILBOX_ADDRESS, "identities": {"email": ["from", "to", "cc", "reply-to"]}}


class MboxFixture:
    def make(self, folder, people):
        self.path = folder / "support.mbox"
        box = mailbox.mbox(self.path)
        for message in messages(people):
            box.add(message)
        box.close()
        return {"connector": "mbox", "path": "support.mbox", **MAIL_KEYS}

    def records_of(self, person):
        box = mailbox.mbox(self.path, create=False)
        try:
            return [message.as_bytes() for message in mine(person, list(box), sender)]
        finally:
            box.close()

    def break_source(self):
        self.path.unlink()


class MaildirFixture:
    def make(self, folder, people):
        self.path = folder / "support"
        box = mailbox.Maildir(self.path, create=True)
        for message in messages(people):
            box.add(message)
        return {"connector": "maildir", "path": "support", **MAIL_KEYS}

    def records_of(self, person):
        box = mailbox.Maildir(self.path, create=False)
        return sorted(message.as_bytes() for message in mine(person, list(box), sender))

    def break_source(self):
        shutil.rmtree(self.path)


class TestMbox(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return MboxFixture()


class TestMaildir(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return MaildirFixture()


@pytest.fixture(scope="module")
def dovecot():
    from dovecot import Dovecot, dovecot_binary

    server = Dovecot(dovecot_binary())
    try:
        server.start()
        yield server
    finally:
        server.remove()


class ImapFixture:
    """An account of its own on the test Dovecot per `make`, its INBOX filled over APPEND."""

    password = "Conformance-Pa55-9c1"

    def __init__(self, server):
        self.server = server

    def session(self):
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", self.server.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def make(self, folder, people):
        self.user = f"conformance-{uuid.uuid4().hex[:8]}@test.example"
        self.server.add_user(self.user, self.password)
        with self.session() as client:
            for message in messages(people):
                client.append("INBOX", message.as_bytes())
        return {"connector": "imap", "host": "127.0.0.1", "port": self.server.port, "tls": "none",
                "username": self.user, "password": self.password, **MAIL_KEYS}

    def records_of(self, person):
        with self.session() as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["NOT", "DELETED"])
            stored = [item[b"BODY[]"] for item in client.fetch(uids, [b"BODY.PEEK[]"]).values()] if uids else []
        return sorted(raw for raw in stored if sender(email.message_from_bytes(raw)).lower() == person.email.lower())

    def break_source(self):
        from dovecot import free_port

        return {"port": free_port()}  # nothing listens there: the connection is refused


class TestImap(SourceTests):
    @pytest.fixture
    def source_fixture(self, dovecot):
        return ImapFixture(dovecot)


# -- a source that cannot erase -----------------------------------------------------------------------------

class ReadOnlyRows(Source):
    """Rows of a JSON file that dsarctl can search and export but not change (a vendor's read-only API)."""

    name = "conformance-readonly"
    system_keys = {"file": KeySpec("path", "The JSON file of rows.", required=True)}

    def locate(self, collection, wanted, *, lookup_only=False):
        path = collection.options["file"]
        if not path.exists():
            raise self.fail(f"no such file: {path}")
        for row in json.loads(path.read_text(encoding="utf-8")):
            address = self.inventory.identities["email"].normalise(row["email"])
            if address in wanted.get("email", ()):
                yield Record(self.system.name, collection.name, row["id"], row, {"email": {address}},
                             {("email", address)}, f"row {row['id']}")


class ReadOnlyFixture:
    masked_field = "name"

    def make(self, folder, people):
        self.path = folder / "rows.json"
        self.path.write_text(json.dumps(rows(people)), encoding="utf-8")
        return {"connector": ReadOnlyRows.name, "file": "rows.json", "identities": {"email": "email"}}

    def records_of(self, person):
        return mine(person, json.loads(self.path.read_text(encoding="utf-8")))

    def break_source(self):
        self.path.unlink()


class TestReadOnlySource(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        registry.register(ReadOnlyRows)
        try:
            yield ReadOnlyFixture()
        finally:
            registry.unregister(ReadOnlyRows.name)
