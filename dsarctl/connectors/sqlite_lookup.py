"""Lookups in SQLite files through the standard library, for searches that only ask where records are.

Importing SQLAlchemy costs about 0.18 s, as much as the greps of a whole `find` over a 300k-record
company. `find` reads of each record only its identity values and its key (to follow identifiers and to
say where the record is), never the rest of the row, so for a plain SQLite file the SQL connector can
answer it with the `sqlite3` module: the same queries (`lower(trim(col)) IN (...)` served by the same
indexes, `LIKE '%2%0%7…%'` for phones, the same batching), the same row order, the same errors.

Exactness: SQLAlchemy converts values by the column's declared type (NUMERIC to Decimal, DATETIME to
datetime, BOOLEAN to bool, JSON parsed). This path is taken only when every identity column and every
key column has a declared type that SQLAlchemy passes through unchanged (integer, text, or no type/BLOB,
resolved as SQLAlchemy's SQLite dialect resolves them), when the table has a primary key (or `key:`),
and when the URL is a plain `sqlite:///FILE`; otherwise the connector uses SQLAlchemy. Records found
here hold only those columns in `data`. `tests/test_sqlite_lookup.py` checks that both paths return
the same records, keys, identities, locations and errors.
"""

from __future__ import annotations

import os
import re
import sqlite3
from typing import Any, Iterator

# SQLAlchemy's names for SQLite column types (sqlalchemy.dialects.sqlite.base.ischema_names), by what its
# result processing does with the values: "integer" and "text" pass them through; "other" converts.
_INTEGER = {"BIGINT", "INT", "INTEGER", "SMALLINT"}
_TEXT = {"CHAR", "NCHAR", "NVARCHAR", "TEXT", "VARCHAR"}
_OTHER = {"BLOB", "BOOL", "BOOLEAN", "DATE", "DATE_CHAR", "DATETIME", "DATETIME_CHAR", "DOUBLE", "DECIMAL",
          "FLOAT", "JSON", "JSONB", "NUMERIC", "REAL", "TIME", "TIME_CHAR", "TIMESTAMP"}
_TYPE_RE = re.compile(r"([\w ]+)(\(.*?\))?")


def affinity(declared: str) -> str:
    """How SQLAlchemy reads a SQLite column declared `declared`: integer | text | none | other."""
    match = _TYPE_RE.match(declared.upper())
    name = match.group(1) if match else ""
    if name in _INTEGER:
        return "integer"
    if name in _TEXT:
        return "text"
    if name == "BLOB":
        return "other"  # LargeBinary
    if name in _OTHER:
        return "other"
    if "INT" in name:
        return "integer"
    if "CHAR" in name or "CLOB" in name or "TEXT" in name:
        return "text"
    if "BLOB" in name or not name:
        return "none"  # no type: values as stored
    return "other"  # REAL/FLOAT/DOUBLE affinity (Float) or NUMERIC affinity (Decimal)


def plain_path(url: str) -> str | None:
    """The file of a plain `sqlite:///FILE` URL (already resolved), else None."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix):]
            if path and path != ":memory:" and "?" not in path and not path.startswith("file:"):
                return path
    return None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Table:
    """What the lookup needs of a table: its columns (declared types) and primary key, from PRAGMA."""

    def __init__(self, name: str, columns: dict[str, str], primary_key: list[str]):
        self.name = name
        self.columns = columns  # column -> declared type, in table order
        self.primary_key = primary_key
        self.keys: list[str] = []  # what identifies a row: the collection's `key:`, else the primary key
        self.fields: list[str] = []  # the collection's identity fields


def read_table(conn: sqlite3.Connection, name: str) -> Table | None:
    rows = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    if not rows:
        return None
    columns = {row[1]: row[2] or "" for row in rows}
    primary_key = [row[1] for row in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
    return Table(name, columns, primary_key)


def connect(path: str) -> sqlite3.Connection:
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return sqlite3.connect(path)


def select_rows(conn: sqlite3.Connection, table: Table, where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    """`SELECT` every column (as SQLAlchemy does, so SQLite plans and orders the rows the same way)."""
    columns = list(table.columns)
    sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} WHERE {where}"
    for row in conn.execute(sql, params):
        yield dict(zip(columns, row))
