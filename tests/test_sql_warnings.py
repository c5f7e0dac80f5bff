"""SQLAlchemy's SAWarning about SQLite expression indexes (`Skipped unsupported reflection of
expression-based index`) never reaches stderr, also when several threads reflect at once (an erase runs
its systems side by side). It used to be hidden by warnings.catch_warnings() around each reflection, which
swaps the process's one filter list: a thread leaving its block put back a list without the filter while
another thread was still reflecting, and the warning came through at random."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import write_inventory

# Two threads reflect a table with an expression index each, in the order that made the old code leak: the
# second starts reflecting while the first is inside its reflection, and reads its indexes only after the
# first has finished.
_RACE = textwrap.dedent("""
    import sys, threading
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect
    from dsarctl.connectors.sql import SqlConnector
    from dsarctl.inventory import load_inventory

    inventory = load_inventory(sys.argv[1])
    first_in, second_in, first_done = threading.Event(), threading.Event(), threading.Event()
    get_columns, get_indexes = SQLiteDialect.get_columns, SQLiteDialect.get_indexes

    def columns(self, *args, **kwargs):
        (first_in if threading.current_thread().name == "first" else second_in).set()
        return get_columns(self, *args, **kwargs)

    def indexes(self, *args, **kwargs):
        if threading.current_thread().name == "first":
            assert second_in.wait(60)
        else:
            assert first_done.wait(60)
        return get_indexes(self, *args, **kwargs)

    SQLiteDialect.get_columns, SQLiteDialect.get_indexes = columns, indexes

    def reflect(name, done=None):
        system = inventory.systems[name]
        connector = SqlConnector(system, inventory)
        connector.table(system.collections["customers"])
        if done is not None:
            done.set()

    first = threading.Thread(target=reflect, args=("one", first_done), name="first")
    second = threading.Thread(target=reflect, args=("two",), name="second")
    first.start()
    assert first_in.wait(60)
    second.start()
    first.join(120)
    second.join(120)
    print("reflected")
""")


def _database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);
        CREATE INDEX ix_customers_email_lower ON customers (lower(trim(email)));
        INSERT INTO customers VALUES (1, 'alice@example.com');
    """)
    db.close()


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "CRM_DATABASE_URL", "DSARCTL_INVENTORY")}
    return {**env, "NO_COLOR": "1"}


def test_threads_reflecting_at_once_print_no_sawarning(tmp_path):
    for name in ("one", "two"):
        _database(tmp_path / f"{name}.db")
    inventory = write_inventory(tmp_path, """
        one:
          connector: sql
          url: sqlite:///one.db
          collections:
            customers: {identities: {email: email}}
        two:
          connector: sql
          url: sqlite:///two.db
          collections:
            customers: {identities: {email: email}}
    """)
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", _RACE, str(inventory)], capture_output=True, text=True,
                              timeout=300, env=_env())
        assert proc.returncode == 0 and proc.stdout == "reflected\n", proc.stderr
        assert proc.stderr == "", proc.stderr


def test_erase_and_find_on_databases_with_expression_indexes_print_no_warning(demo_dir):
    """The demo's CRM and order databases both have expression indexes; erase reflects them on two threads."""
    base = [sys.executable, "-m", "dsarctl", "-i", str(demo_dir / "inventory.yaml")]
    for args in (["find", "alice@example.com"], ["erase", "alice@example.com", "--yes"],
                 ["erase", "bob@example.com", "--yes"], ["inventory", "check", "--connect"]):
        proc = subprocess.run(base + args, capture_output=True, text=True, timeout=120, env=_env())
        assert proc.returncode in (0, 1), proc
        assert "Warning" not in proc.stderr and "expression-based index" not in proc.stderr, proc.stderr
