"""Secrets: a database password that reaches the inventory through `${VAR}` never appears in any
output, error, export zip, audit log, journal or other file dsarctl writes — whether the server
refuses the connection or accepts it."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

PASSWORD = "S3cretPw-7f2c"
ENCODED = "S3cret@Pw:7f2c/x"  # a password that must be %-encoded in the URL


def _file_bytes(folder: Path):
    """Every file under folder, with the members of zip files decompressed."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        yield str(path), data
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    yield f"{path}!{info.filename}", archive.read(info)


def assert_nowhere(secrets: list[str], folder: Path, outputs: list[str]) -> None:
    for secret in secrets:
        for number, text in enumerate(outputs):
            assert secret not in text, f"output {number} shows the password: {text[:2000]}"
        for name, data in _file_bytes(folder):
            assert secret.encode() not in data, f"{name} holds the password"


def _every_command(cli, inventory: Path, out: Path, subject: str) -> list:
    results = [
        cli("-i", str(inventory), "find", subject),
        cli("-i", str(inventory), "find", subject, "--json"),
        cli("-i", str(inventory), "export", subject, "-o", str(out / "export.zip")),
        cli("-i", str(inventory), "export", subject, "-o", str(out / "export-json.zip"), "--json"),
        cli("-i", str(inventory), "erase", subject, "--dry-run"),
        cli("-i", str(inventory), "erase", subject, "--yes", "--json"),
        cli("-i", str(inventory), "erase", subject, "--yes"),
        cli("-i", str(inventory), "inventory", "check", "--connect"),
        cli("-i", str(inventory), "inventory", "check", "--connect", "--json"),
        cli("-i", str(inventory), "inventory", "show"),
        cli("-i", str(inventory), "inventory", "show", "--json"),
        cli("-i", str(inventory), "audit", "log", "--json"),
        cli("-i", str(inventory), "audit", "verify"),
    ]
    for r in results:
        assert "Traceback" not in r.err and "internal error" not in r.err, r
    return results


@pytest.mark.parametrize("password", [PASSWORD, ENCODED])
def test_refused_connection_never_shows_the_password(cli, demo_dir, monkeypatch, password):
    monkeypatch.setenv("CRM_DATABASE_URL", f"postgresql+psycopg://postgres:{quote(password, safe='')}@127.0.0.1:1/x")
    results = _every_command(cli, demo_dir / "inventory.yaml", demo_dir, "alice@example.com")
    codes = [r.code for r in results]
    assert codes[0] == codes[1] == codes[2] == 3  # the CRM failed, the rest still answered
    assert codes[5] == 3 and codes[7] != 0  # erase and the connection check name the failing source
    assert "crm" in results[5].err + results[5].out
    assert (demo_dir / "export.zip").exists()
    secrets = [password, quote(password, safe="")]
    assert_nowhere(secrets, demo_dir, [r.out + r.err for r in results])


@pytest.fixture
def live_with_password(server_url, unique_name, tmp_path, monkeypatch):
    """A live server reached through a URL that carries a password (PostgreSQL here trusts local
    connections and ignores it; on MariaDB a user is created with that password)."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(server_url)
    admin = create_engine(server_url)
    user = None
    if url.get_backend_name() == "mysql":
        user = f"u{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'"))
            conn.execute(text(f"GRANT ALL ON `{url.database}`.* TO '{user}'@'%'"))
        secret_url = url.set(username=user, password=PASSWORD)
    else:
        secret_url = url.set(password=PASSWORD)
    table = f"{unique_name}_people"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email VARCHAR(200), note VARCHAR(200))"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1, 'alice@example.com', 'hi'), (2, 'bob@example.net', 'yo')"))
    (tmp_path / "inventory.yaml").write_text(f"""
version: 1
controller: {{name: Test Ltd, contact: privacy@test.example}}
audit: {{path: .dsarctl/audit.db}}
identities:
  email: {{type: email}}
systems:
  db:
    connector: sql
    url: ${{TEST_DB_URL}}
    collections:
      people:
        table: {table}
        identities: {{email: email}}
        erase: {{action: anonymize, fields: {{note: hash}}}}
      missing:
        table: {table}_does_not_exist
        identities: {{email: email}}
""")
    monkeypatch.setenv("TEST_DB_URL", secret_url.render_as_string(hide_password=False))
    yield tmp_path / "inventory.yaml"
    with admin.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        if user:
            conn.execute(text(f"DROP USER '{user}'@'%'"))
    admin.dispose()


def test_live_server_with_password_never_shows_it(cli, live_with_password, tmp_path):
    results = _every_command(cli, live_with_password, tmp_path, "alice@example.com")
    find = json.loads(results[1].out)
    assert {s["system"]: s["count"] for s in find["systems"]}["db"] == 1  # the password worked
    assert [f["collection"] for f in find["failures"]] == ["missing"]  # and a server error was reported
    assert_nowhere([PASSWORD], tmp_path, [r.out + r.err for r in results])


def test_wrong_password_error_does_not_echo_it(cli, mysql_url, tmp_path, monkeypatch):
    """The server's own 'access denied' message must not carry the password either."""
    from sqlalchemy import make_url

    url = make_url(mysql_url).set(username="nobody_here", password=PASSWORD)
    (tmp_path / "inventory.yaml").write_text("""
version: 1
controller: {name: Test Ltd, contact: privacy@test.example}
identities:
  email: {type: email}
systems:
  db:
    connector: sql
    url: ${TEST_DB_URL}
    collections:
      people: {table: people, identities: {email: email}}
""")
    monkeypatch.setenv("TEST_DB_URL", url.render_as_string(hide_password=False))
    results = _every_command(cli, tmp_path / "inventory.yaml", tmp_path, "alice@example.com")
    assert results[1].code == 3 and "db" in results[1].out
    assert_nowhere([PASSWORD], tmp_path, [r.out + r.err for r in results])


def test_an_unexpected_error_is_printed_without_the_password(cli, demo_dir, monkeypatch):
    """Even the last-resort 'internal error' line must not carry a database password."""
    import dsarctl.search

    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+psycopg://app:Unexp3ctedPw@127.0.0.1:1/x")

    def boom(*args, **kwargs):
        raise RuntimeError("driver said: cannot use postgresql://app:Unexp3ctedPw@127.0.0.1:1/x")

    monkeypatch.setattr(dsarctl.search, "find_subject", boom)
    result = cli("-i", str(demo_dir / "inventory.yaml"), "find", "alice@example.com")
    assert result.code == 70
    assert result.err.startswith("dsarctl: error: internal error: RuntimeError")
    assert "Unexp3ctedPw" not in result.err + result.out
