"""SQL databases through SQLAlchemy: SQLite, PostgreSQL, MariaDB/MySQL and anything with a dialect.

Lookups are pushed down as `WHERE column IN (...)` with bound parameters, one query per identity field,
so an index on the column serves them. Comparison is type-aware: a string identifier is bound as an
integer for an integer column (and skipped when it is not a number). E-mail columns are compared as
`lower(trim(column))`; `inventory check --connect` advises the matching expression index. Phone numbers
are written in too many ways to compare in SQL: their columns are read and normalised in Python.
Every row SQL returns is matched again in Python with the same rules as every other connector.

SQLAlchemy is imported only when an SQL source is used, so commands that do not touch one start fast.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..sources import EraseOutcome, Erasable, Finding, KeySpec, Record, Source, Wanted
from ..wording import plural
from .matching import FieldMatcher

_BATCH = 500  # values per IN (...) list, below every database's parameter limit

# SQLAlchemy cannot reflect SQLite expression indexes (lower(trim(email)), which `inventory check --connect`
# advises) nor column types its dialect does not know (read as untyped, as dsarctl reads them), and says so
# with an SAWarning on every reflection. Both are expected: the filter is installed once, here, for the whole
# process. warnings.catch_warnings() around each reflection is not thread-safe (it swaps the process's filter
# list; an erase reflects its systems on several threads) and let the warning through at random. SAWarning
# is a RuntimeWarning, matched by its text: SQLAlchemy stays unimported until a source uses it.
_EXPECTED_WARNINGS = r"(Skipped unsupported reflection of expression-based index|Did not recognize type) "
warnings.filterwarnings("ignore", message=_EXPECTED_WARNINGS, category=RuntimeWarning)


def resolve_url(url: str, base_dir) -> str:
    """Make a relative SQLite path relative to the inventory's folder; pick an installed Postgres driver."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///"):]
        path, sep, query = rest.partition("?")
        if path and path != ":memory:" and not os.path.isabs(path):
            url = "sqlite:///" + os.path.join(str(base_dir), path) + sep + query
    if url.startswith(("postgresql://", "postgres://")):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("mysql://") or url.startswith("mariadb://"):
        import importlib.util

        if importlib.util.find_spec("MySQLdb") is None and importlib.util.find_spec("pymysql") is not None:
            url = url.split("://", 1)[0] + "+pymysql://" + url.split("://", 1)[1]
    return url


class SqlConnector(Source, Erasable):
    name = "sql"
    system_keys = {"url": KeySpec("url", "SQLAlchemy URL, e.g. ${CRM_DATABASE_URL} or sqlite:///demo/crm.db.", required=True)}
    collection_keys = {
        "table": KeySpec("str", "Table name when it differs from the collection's (schema.table accepted)."),
        "schema": KeySpec("str", "Database schema of the table."),
        "key": KeySpec("strlist", "Columns identifying a row when the table has no primary key."),
    }
    implicit_collection = False

    def __init__(self, system, inventory):
        super().__init__(system, inventory)
        # again, at the end of the list, in case the filters were reset since the import (pytest does for
        # each test): when the filter is already there, append leaves the list as it is
        warnings.filterwarnings("ignore", message=_EXPECTED_WARNINGS, category=RuntimeWarning, append=True)
        self._engine = None
        self._tables: dict[str, Any] = {}
        self._sqlite = None  # stdlib connection of the lookup path (sqlite_lookup)
        self._lookups: dict[str, Any] = {}

    # -- connection ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return resolve_url(self.system.url, self.inventory.base_dir)

    def engine(self):
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.exc import ArgumentError, NoSuchModuleError

            url = self.url
            if url.startswith("sqlite:///"):
                path = url[len("sqlite:///"):].partition("?")[0]
                if path and path != ":memory:" and not os.path.exists(path):
                    raise self.fail(f"database file not found: {self._shown(path)}")
            try:
                self._engine = create_engine(url)
            except (ArgumentError, NoSuchModuleError, ValueError) as exc:
                raise self.fail(f"cannot use database URL {self.system.display_url()}: {exc}") from None
            except ImportError as exc:
                raise self.fail(
                    f"the database driver is not installed ({exc.name}); install dsarctl[postgres] or dsarctl[mysql]"
                ) from None
        return self._engine

    def _shown(self, path: str) -> str:
        try:
            return os.path.relpath(path, self.inventory.base_dir)
        except ValueError:
            return path

    def _error(self, exc: Exception, what: str) -> Exception:
        orig = getattr(exc, "orig", None)
        args = getattr(orig, "args", ())
        if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):  # PyMySQL: (code, message)
            orig = args[1]
        message = str(orig or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return self.fail(f"{what}: {_values_hidden(message)}")

    def table(self, collection):
        """The reflected table of a collection, or a SourceError naming the inventory line."""
        if collection.name not in self._tables:
            from sqlalchemy import MetaData, Table
            from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

            name = collection.table or collection.name
            shown = f"{collection.schema}.{name}" if collection.schema else name
            try:
                with self.engine().connect() as conn:
                    table = Table(name, MetaData(), schema=collection.schema, autoload_with=conn)
            except NoSuchTableError:
                raise self.mismatch(collection.key_path, f"table '{shown}' not found in the database") from None
            except SQLAlchemyError as exc:
                raise self._error(exc, f"cannot read table '{shown}'") from None
            except OSError as exc:
                raise self.fail(f"cannot connect: {exc}") from None
            self._check_columns(collection, set(table.columns.keys()), shown)
            self._tables[collection.name] = table
        return self._tables[collection.name]

    def _check_columns(self, collection, columns: set[str], shown: str) -> None:
        """Every identity field and `key:` column of the collection is a column of the table."""
        for kind, fields in collection.identities.items():
            for field in fields:
                if field not in columns:
                    raise self.mismatch(
                        collection.key_path + ("identities", kind),
                        f"column '{field}' is not in table '{shown}' (columns: {', '.join(sorted(columns))})",
                    )
        for field in collection.key or []:
            if field not in columns:
                raise self.mismatch(collection.key_path + ("key",), f"key column '{field}' is not in table '{shown}'")

    def key_columns(self, collection) -> list[str]:
        table = self.table(collection)
        if collection.key:
            return list(collection.key)
        return [c.name for c in table.primary_key.columns]

    # -- locate --------------------------------------------------------------------------------------
    def _conditions(self, collection, table, wanted: Wanted) -> list["Condition"]:
        """The lookup's conditions on a reflected table (see `conditions`)."""
        return conditions(collection, self.inventory, wanted, lambda field: _column_type(table.c[field]))

    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> Iterator[Record]:
        # only the identity and key fields are needed: SQLite files answer without SQLAlchemy
        lookup = self._lookup_table(collection) if lookup_only else None
        if lookup is not None:
            yield from self._locate_sqlite(collection, lookup, wanted)
            return
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        table = self.table(collection)
        matcher = FieldMatcher(collection, self.inventory)
        keys = self.key_columns(collection)
        seen: set = set()
        try:
            with self.engine().connect() as conn:
                for condition in self._conditions(collection, table, wanted):
                    digits = frozenset(condition.values) if condition.how == "digits" else None
                    if digits is not None:
                        field, sizes = condition.field, tuple(sorted({len(d) for d in digits}))
                        rows = self._digit_rows(conn, table, keys, table.c[field], digits, sizes)
                    else:
                        rows = self._rows(conn.execute(select(table).where(condition.clause(table))), table.name)
                    for row in rows:
                        if digits is not None and not _holds_digits(row._mapping[field], digits, sizes):
                            continue
                        data = dict(row._mapping)
                        ids = matcher.identities(data)
                        hits = matcher.matches(ids, wanted)
                        if not hits:
                            continue
                        key = tuple(data[k] for k in keys) if keys else tuple(sorted(data.items(), key=lambda kv: kv[0]))
                        if key in seen:
                            continue
                        seen.add(key)
                        shown = ", ".join(f"{k}={data[k]}" for k in keys) if keys else "row"
                        yield Record(self.system.name, collection.name, key, data, ids, hits,
                                     f"{collection.table or collection.name} ({shown})")
        except SQLAlchemyError as exc:
            raise self._error(exc, f"query on '{collection.table}' failed") from None

    def _digit_rows(self, conn, table, keys: list[str], column, digits: frozenset, sizes: tuple) -> Iterator[Any]:
        """The rows whose `column` holds one of the wanted digit strings (a batch of phone numbers): the
        one pass over the table reads only the key and the number of each row; whole rows are then read
        by key for the few that hold one, and given in the order of that pass."""
        from sqlalchemy import select, tuple_

        def every_row():
            return self._rows(conn.execute(select(table).where(column.is_not(None))), table.name)

        if not keys:  # nothing to read rows back by
            yield from every_row()
            return
        columns = [table.c[k] for k in keys]
        result = conn.execute(select(*columns, column).where(column.is_not(None)))
        if all(c.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None) is None
               for c in (*columns, column)):
            pairs = _driver_rows(result)  # values as the driver gives them are the values: skip Row objects
        else:
            pairs = self._rows(result, table.name)
        order = list(dict.fromkeys(tuple(row[:-1]) for row in _rows_holding(pairs, digits, sizes)))
        if any(v is None for key in order for v in key):  # IN (...) cannot find a NULL key: read them all
            yield from every_row()
            return
        whole: dict[tuple, list] = {}
        step = max(1, _BATCH // len(columns))
        for i in range(0, len(order), step):
            chunk = order[i:i + step]
            where = columns[0].in_([k[0] for k in chunk]) if len(columns) == 1 else tuple_(*columns).in_(chunk)
            for row in self._rows(conn.execute(select(table).where(where)), table.name):
                whole.setdefault(tuple(row._mapping[k] for k in keys), []).append(row)
        for key in order:
            yield from whole.get(key, ())

    def _rows(self, result, name: str) -> Iterator[Any]:
        """The rows of a result; a stored value SQLAlchemy cannot convert to its column's declared type
        (SQLite keeps 'not a date' in a DATETIME column) fails the collection in one line, without the
        value (Python's message quotes it)."""
        rows = iter(result)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except (ValueError, TypeError, OverflowError) as exc:
                raise self.fail(f"cannot read a row of table '{name}': a stored value does not fit its "
                                f"column's declared type ({_values_hidden(str(exc))})") from None
            yield row

    # -- locate through the standard library (SQLite files, callers that need no contents) -----------
    def _lookup_table(self, collection):
        """The table as `sqlite_lookup` reads it when that path may answer `locate`, else None; raises the
        errors `table()` raises (missing file, table or column) in the same words."""
        if collection.schema:
            return None
        if collection.name in self._lookups:
            return self._lookups[collection.name]
        from . import sqlite_lookup

        path = sqlite_lookup.plain_path(self.url)
        if path is None:
            return None
        name = collection.table or collection.name
        try:
            if self._sqlite is None:
                self._sqlite = sqlite_lookup.connect(path)
            table = sqlite_lookup.read_table(self._sqlite, name)
        except FileNotFoundError:
            raise self.fail(f"database file not found: {self._shown(path)}") from None
        except sqlite_lookup.sqlite3.Error as exc:
            raise self._error(exc, f"cannot read table '{name}'") from None
        if table is None:
            raise self.mismatch(collection.key_path, f"table '{name}' not found in the database")
        self._check_columns(collection, set(table.columns), name)
        table.keys = list(collection.key or table.primary_key)
        table.fields = [f for fields in collection.identities.values() for f in fields]
        plain = table.keys and all(sqlite_lookup.affinity(table.columns[c]) in ("integer", "text", "none")
                                   for c in table.fields + table.keys)
        self._lookups[collection.name] = table if plain else None
        return self._lookups[collection.name]

    def _locate_sqlite(self, collection, table, wanted: Wanted) -> Iterator[Record]:
        from .sqlite_lookup import affinity, select_rows, sqlite3

        matcher = FieldMatcher(collection, self.inventory)
        keys = table.keys
        kept = list(dict.fromkeys(table.fields + keys))
        seen: set = set()
        try:
            types = {field: _AFFINITY_TYPES[affinity(table.columns[field])] for field in table.fields}
            for condition in conditions(collection, self.inventory, wanted, types.__getitem__):
                digits = frozenset(condition.values) if condition.how == "digits" else None
                if digits is not None:
                    field, sizes = condition.field, tuple(sorted({len(d) for d in digits}))
                where, params = condition.sql_text()
                for data in select_rows(self._sqlite, table, where, params):
                    if digits is not None and not _holds_digits(data[field], digits, sizes):
                        continue
                    ids = matcher.identities(data)
                    hits = matcher.matches(ids, wanted)
                    if not hits:
                        continue
                    key = tuple(data[k] for k in keys)
                    if key in seen:
                        continue
                    seen.add(key)
                    shown = ", ".join(f"{k}={data[k]}" for k in keys)
                    yield Record(self.system.name, collection.name, key, {k: data[k] for k in kept}, ids, hits,
                                 f"{collection.table or collection.name} ({shown})")
        except sqlite3.Error as exc:
            raise self._error(exc, f"query on '{collection.table}' failed") from None

    # -- erase ---------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        table = self.table(collection)
        matcher = FieldMatcher(collection, self.inventory)
        keys = self.key_columns(collection)
        try:
            with self.engine().connect() as conn:
                for row in self._rows(conn.execute(select(table)), table.name):
                    data = dict(row._mapping)
                    key = tuple(data[k] for k in keys) if keys else tuple(sorted(data.items(), key=lambda kv: kv[0]))
                    yield Record(self.system.name, collection.name, key, data, matcher.identities(data), set(),
                                 collection.table or collection.name)
        except SQLAlchemyError as exc:
            raise self._error(exc, f"reading '{table.name}' failed") from None

    def _key_condition(self, table, keys: list[str], key):
        from sqlalchemy import and_

        pairs = list(zip(keys, key)) if keys else [tuple(kv) for kv in key]
        return and_(*[table.c[name] == value if value is not None else table.c[name].is_(None) for name, value in pairs])

    def _unique_key(self, collection, table, keys: list[str]) -> bool:
        """Whether rows are keyed by one column the database holds unique (the primary key): then a
        DELETE of many keys deletes one row per key found, and its row count says how many were missing."""
        return (not collection.key and len(keys) == 1 and len(table.primary_key.columns) == 1
                and keys[0] == next(iter(table.primary_key.columns)).name)

    def _erase_by_many_keys(self, conn, table, key: str, targets, masker, outcome: EraseOutcome) -> list:
        """Delete and mask the rows of a one-column unique key 500 keys a statement: one DELETE ... IN per
        500 keys (its row count gives the missing ones), one SELECT ... IN per 500 rows to mask, and one
        UPDATE ... IN per set of rows that take the same new values (redact and null give every row the
        same). Returns the targets left for the row-by-row way: a NULL key, a key met twice."""
        from sqlalchemy import delete as sql_delete
        from sqlalchemy import select, update

        column = table.c[key]
        left, seen, deleting, masking = [], set(), [], []
        for target in targets:
            value = target.key[0]
            if value is None or value in seen:
                left.append(target)
                continue
            seen.add(value)
            (deleting if target.action == "delete" else masking).append(target)
        for i in range(0, len(deleting), _BATCH):
            chunk = [t.key[0] for t in deleting[i:i + _BATCH]]
            count = conn.execute(sql_delete(table).where(column.in_(chunk))).rowcount
            outcome.deleted += count
            outcome.missing += len(chunk) - count
        for i in range(0, len(masking), _BATCH):
            chunk = masking[i:i + _BATCH]
            rows = {row._mapping[key]: row for row in
                    self._rows(conn.execute(select(table).where(column.in_([t.key[0] for t in chunk]))), table.name)}
            same: dict[tuple, list] = {}  # the new values -> the keys of the rows taking them
            for target in chunk:
                changes = _counted_changes(table, rows.get(target.key[0]), target.fields, masker, outcome)
                if not changes:
                    continue
                values = tuple(changes.items())
                try:
                    same.setdefault(values, []).append(target.key[0])
                except TypeError:  # a new value that cannot be a key (a JSON list): this row alone
                    conn.execute(update(table).where(column == target.key[0]).values(changes))
            for changes, keys in same.items():
                conn.execute(update(table).where(column.in_(keys)).values(dict(changes)))
        return left

    def erase_system(self, work, context) -> dict:
        """Every collection of the system in one transaction, touching only the planned rows (by key)."""
        masker, checkpoint = context.masker, context.checkpoint
        from sqlalchemy import select, update
        from sqlalchemy import delete as sql_delete
        from sqlalchemy.exc import SQLAlchemyError

        outcomes: dict[str, EraseOutcome] = {}
        for collection, _targets in work:
            # reflect every table before the transaction: a reflection on another connection would wait
            # for the transaction's own write lock (SQLite) and fail with "database is locked"
            self.key_columns(collection)
        try:
            with self.engine().begin() as conn:
                for collection, targets in work:
                    table = self.table(collection)
                    keys = self.key_columns(collection)
                    outcome = outcomes[collection.name] = EraseOutcome()
                    if self._unique_key(collection, table, keys):  # a batch: 500 keys a statement
                        targets = self._erase_by_many_keys(conn, table, keys[0], targets, masker, outcome)
                    for target in targets:
                        condition = self._key_condition(table, keys, target.key)
                        if target.action == "delete":
                            count = conn.execute(sql_delete(table).where(condition)).rowcount
                            outcome.deleted += count
                            outcome.missing += 0 if count else 1
                            continue
                        row = next(self._rows(conn.execute(select(table).where(condition)), table.name), None)
                        changes = _counted_changes(table, row, target.fields, masker, outcome)
                        if changes:
                            conn.execute(update(table).where(condition).values(changes))
                    checkpoint("sql.collection")
                checkpoint("sql.before-commit")
        except SQLAlchemyError as exc:
            raise self._error(exc, "erase failed, transaction rolled back") from None
        return outcomes

    def read_records(self, collection, keys: list) -> dict | None:
        """The rows with `keys` that are still there, by key (500 keys a statement where one column keys
        the table and no key is NULL, else row by row)."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        table = self.table(collection)
        columns = self.key_columns(collection)
        if not columns:
            return None  # rows known by their whole content: the search says what is still there
        wanted = [tuple(k) for k in keys]
        out: dict = {}
        try:
            with self.engine().connect() as conn:
                if len(columns) == 1 and all(k[0] is not None for k in wanted):
                    column = table.c[columns[0]]
                    chunks = [column.in_([k[0] for k in wanted[i:i + _BATCH]]) for i in range(0, len(wanted), _BATCH)]
                else:
                    chunks = [self._key_condition(table, columns, k) for k in wanted]
                for condition in chunks:
                    for row in self._rows(conn.execute(select(table).where(condition)), table.name):
                        data = dict(row._mapping)
                        out[tuple(data[k] for k in columns)] = data
        except SQLAlchemyError as exc:
            raise self._error(exc, f"reading '{table.name}' failed") from None
        return out

    def mask_problems(self, collection) -> list[tuple[str, str]]:
        """The erase rule's fields checked against the reflected columns (see `_mask_problem`)."""
        rule = collection.erase
        if rule is None or not rule.fields:
            return []
        table = self.table(collection)
        out = []
        for field, op in rule.fields.items():
            why = self._mask_problem(collection, table, field, op)
            if why:
                out.append((field, why))
        return out

    def _mask_problem(self, collection, table, field: str, op: str) -> str | None:
        """Why the column cannot take `op`, or None: it does not exist; `null` on a primary-key, `key:` or
        NOT NULL column; `redact`/`hash` on a column that holds no text (a number, a date, an enum) or
        too little of it (VARCHAR(8)); `redact` on a column of unique values (every row would hold the
        same placeholder)."""
        from ..erase.mask import REDACTED, text_length, written

        if field not in table.c:
            return f"column '{field}' is not in table '{table.fullname}'"
        column = table.c[field]
        if op == "null":
            if column.primary_key:
                return f"column '{field}' is part of the primary key of '{table.fullname}'"
            if field in (collection.key or ()):
                return f"column '{field}' is part of the key that identifies the rows (key:)"
            if not column.nullable:
                return f"column '{field}' is NOT NULL"
            return None
        what = written(op)
        declared = self._type_name(column)
        if not _holds_text(column) or _is_enum(column):
            return f"column '{field}' is {declared}, which cannot hold {what}"
        length = getattr(column.type, "length", None)
        if isinstance(length, int) and length < text_length(op):
            return f"column '{field}' is {declared}, too short for {what}"
        if op == "redact" and _unique_alone(table, field):
            return (f"column '{field}' holds unique values, and every redacted row would hold the same "
                    f"placeholder '{REDACTED}'")
        return None

    def _type_name(self, column) -> str:
        try:
            return column.type.compile(dialect=self.engine().dialect)
        except Exception:  # a type the dialect cannot write out: its class name says enough
            return type(column.type).__name__.upper()

    # -- check ---------------------------------------------------------------------------------------
    def check(self, collection) -> list[Finding]:
        from sqlalchemy import inspect
        from sqlalchemy.exc import SQLAlchemyError

        findings: list[Finding] = []
        table = self.table(collection)
        try:
            indexes = inspect(self.engine()).get_indexes(table.name, schema=collection.schema)
        except SQLAlchemyError as exc:
            raise self._error(exc, "cannot inspect indexes") from None
        pk = [c.name for c in table.primary_key.columns]
        findings.append(Finding("info", self.system.name, f"table {table.fullname}: {len(table.columns)} columns"))
        if not pk and not collection.key:
            findings.append(Finding("warning", self.system.name,
                                    f"table {table.fullname} has no primary key: give 'key:' so erase can target rows",
                                    self.inventory.where(collection.key_path)))
        for kind_name, fields in collection.searched.items():  # a field never searched by needs no index
            kind = self.inventory.identities[kind_name]
            for field in fields:
                where = self.inventory.where(collection.key_path + ("identities", kind_name))
                advice = self._index_advice(table, field, kind.type, indexes, pk)
                if advice:
                    findings.append(Finding("warning", self.system.name, advice, where))
                if not kind.unique and field not in pk:
                    link = self._link_advice(collection, table, kind_name, field)
                    if link:
                        findings.append(Finding(link[0], self.system.name, link[1], where))
        return findings

    def _link_advice(self, collection, table, kind_name: str, field: str) -> tuple[str, str] | None:
        """Advice to make `field` a one-way link when its values repeat across rows: searched backwards, a
        value many rows share (an address, a product) leads one person's search into other people's rows.
        A warning when rows sharing a value carry different values of a unique kind (different people), else
        a note to judge."""
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        column = table.c[field]
        owners = [table.c[f] for k, fs in collection.identities.items() if self.inventory.identities[k].unique
                  for f in fs if f != field and f in table.c]
        try:
            with self.engine().connect() as conn:
                most = conn.execute(select(func.count()).where(column.isnot(None)).group_by(column)
                                    .order_by(func.count().desc()).limit(1)).scalar()
                if not most or most < 2:
                    return None
                shared = 0
                for owner in owners:
                    per_value = (select(column).where(column.isnot(None), owner.isnot(None)).group_by(column)
                                 .having(func.count(owner.distinct()) > 1).subquery())
                    shared = max(shared, conn.execute(select(func.count()).select_from(per_value)).scalar() or 0)
        except SQLAlchemyError as exc:
            raise self._error(exc, f"cannot measure {table.fullname}.{field}") from None
        fix = f"declare it {{field: {field}, search: false}} so the collection is never searched by it"
        if shared:
            who = ", ".join(o.name for o in owners)
            return ("warning", f"{table.fullname}.{field} ({kind_name}): {plural(shared, 'value')} {'is' if shared == 1 else 'are'} shared by rows of "
                               f"different people (different {who}); searched backwards, one person's search reaches "
                               f"the others' rows: {fix}")
        if owners:
            return None  # the rows sharing a value belong to one person (same unique identifier)
        return ("info", f"{table.fullname}.{field} ({kind_name}): a value repeats in up to {most} rows; if those rows "
                        f"can belong to different people (a product, an address), {fix}")

    def _index_advice(self, table, field: str, kind_type: str, indexes, pk) -> str | None:
        if kind_type == "phone":
            return None  # compared in Python: an index would not be used
        dialect = self.engine().dialect.name
        expression = kind_type == "email" and dialect in ("sqlite", "postgresql")
        if expression and dialect == "sqlite":
            indexes = indexes + self._sqlite_expression_indexes(table.name)
        for index in indexes:
            columns = [c for c in index.get("column_names") or [] if c]
            expressions = [e for e in index.get("expressions") or [] if e]
            if expression:
                if expressions and field in str(expressions[0]) and "lower" in str(expressions[0]).lower():
                    return None
            elif columns and columns[0] == field:
                return None
        if not expression and pk and pk[0] == field:
            return None
        name = f"ix_{table.name}_{field}".replace(" ", "_")
        if expression:
            return (f"no index for e-mail lookups on {table.fullname}.{field}; create one: "
                    f"CREATE INDEX {name}_lower ON {table.fullname} (lower(trim({field})))")
        return f"no index on {table.fullname}.{field}; create one: CREATE INDEX {name} ON {table.fullname} ({field})"

    def _sqlite_expression_indexes(self, table_name: str) -> list[dict]:
        """SQLAlchemy does not reflect SQLite expression indexes; read their SQL from sqlite_master."""
        from sqlalchemy import text

        with self.engine().connect() as conn:
            rows = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"),
                                {"t": table_name}).fetchall()
        out = []
        for (sql,) in rows:
            inside = sql[sql.index("(") + 1:sql.rindex(")")] if "(" in sql else ""
            out.append({"column_names": [], "expressions": [inside]})
        return out

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _counted_changes(table, row, fields: dict[str, str], masker, outcome: EraseOutcome) -> dict:
    """{column: new value} of a row's masked fields that change, counted in `outcome`: the row missing
    (None), unchanged, or masked (the caller writes the changes). What a column cannot hold was refused
    when the erase was planned (`mask_problems`); what the database still refuses rolls the system back."""
    if row is None:
        outcome.missing += 1
        return {}
    data = dict(row._mapping)
    masked = masker.mask(data, fields)
    changes = {}
    for name in fields:
        if name not in data:
            continue
        if masked[name] != data[name]:
            changes[table.c[name]] = masked[name]
    if changes:
        outcome.masked += 1
    else:
        outcome.unchanged += 1
    return changes


def _national_digits(e164: str) -> str | None:
    """The national significant number of an E.164 value (+442079460958 -> 2079460958), or None."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    digits = phonenumbers.national_significant_number(number)
    return digits if len(digits) >= 6 and digits.isdigit() else None


_NOT_DIGITS = re.compile(r"\D")
_MANY_PHONES = 8  # more phone numbers than this are looked up in one pass over the column

# -- the lookup's conditions: the matching rules, in one place -------------------------------------
@dataclass(frozen=True)
class Condition:
    """One lookup query's condition on one column, described once and rendered both ways: for SQLAlchemy
    (`clause`) and as SQL text for the standard-library SQLite path (`sql_text`)."""

    how: str  # in | email (lower(trim(column)) IN) | like | digits (a pass, digits checked in Python) | scan
    field: str
    values: tuple = ()  # in, email: the values bound (at most _BATCH); like: the pattern; digits: digit strings
    cast: bool = False  # like: the column does not hold text, compare it cast to text

    def clause(self, table):
        """The condition on a reflected SQLAlchemy table."""
        from sqlalchemy import String, cast, func

        column = table.c[self.field]
        if self.how == "in":
            return column.in_(list(self.values))
        if self.how == "email":
            return func.lower(func.trim(column)).in_(list(self.values))
        if self.how == "like":
            return (cast(column, String) if self.cast else column).like(self.values[0])
        return column.is_not(None)  # digits, scan: the values are matched in Python

    def sql_text(self) -> tuple[str, list]:
        """The condition as SQLite text and its parameters, as SQLAlchemy renders `clause` there."""
        from .sqlite_lookup import quote

        column = quote(self.field)
        marks = ", ".join("?" for _ in self.values)
        if self.how == "in":
            return f"{column} IN ({marks})", list(self.values)
        if self.how == "email":
            return f"lower(trim({column})) IN ({marks})", list(self.values)
        if self.how == "like":
            return f"{f'CAST({column} AS VARCHAR)' if self.cast else column} LIKE ?", list(self.values)
        return f"{column} IS NOT NULL", []


def conditions(collection, inventory, wanted: Wanted, column_type: Callable[[str], str]) -> list[Condition]:
    """The conditions that look the wanted values up in a collection's table, in the order they run.
    `column_type(field)` says how a column compares: integer | numeric | text | other (neither)."""
    out: list[Condition] = []
    for kind_name, fields in collection.searched.items():
        values = wanted.get(kind_name)
        if not values:
            continue
        kind = inventory.identities[kind_name]
        for field in fields:
            type_ = column_type(field)
            if kind.type == "phone":
                # Phone numbers are stored in many formats, but every spelling of a number holds its
                # national digits in order (separators, a country code or a trunk 0 around them): filter
                # on that in SQL with LIKE '%2%0%7%...' (one cheap pass, no index can serve it), then
                # match exactly in Python.
                digits = sorted({_national_digits(v) for v in values})
                if all(digits) and len(digits) > _MANY_PHONES:
                    out.append(Condition("digits", field, tuple(digits)))  # a batch: one pass over the numbers
                elif all(digits):
                    out.extend(Condition("like", field, ("%" + "%".join(d) + "%",), cast=type_ != "text")
                               for d in digits)
                else:
                    out.append(Condition("scan", field))
                continue
            bound = _bound(values, type_)
            if not bound:
                continue
            if kind.type == "email" and not all(str(v).isascii() for v in bound):
                # SQL lower() folds ASCII only (SQLite) and never like casefold() (ß -> ss), and a stored
                # address may be decomposed: read the column and compare in Python.
                out.append(Condition("scan", field))
                continue
            how = "email" if kind.type == "email" else "in"
            out.extend(Condition(how, field, tuple(bound[i:i + _BATCH])) for i in range(0, len(bound), _BATCH))
    return out


def _bound(values, type_: str) -> list:
    """The values as a column of `type_` is compared with them (an integer column with the numbers only)."""
    if type_ == "integer":
        return sorted({int(v) for v in values if _is_int(v)})
    if type_ == "numeric":
        from decimal import Decimal, InvalidOperation

        bound = []
        for v in values:
            try:
                bound.append(Decimal(v))
            except InvalidOperation:
                pass
        return bound
    return sorted(values)


def _column_type(column) -> str:
    """How `conditions` compares a reflected column: integer | numeric | text | other."""
    from sqlalchemy import Integer, Numeric

    if isinstance(column.type, Integer):
        return "integer"
    if isinstance(column.type, Numeric):
        return "numeric"
    return "text" if _holds_text(column) else "other"


# the standard-library path reads only columns whose values SQLAlchemy passes through (sqlite_lookup.affinity)
_AFFINITY_TYPES = {"integer": "integer", "text": "text", "none": "text"}



_NOT_ASCII_DIGITS = bytes(c for c in range(256) if not 0x30 <= c <= 0x39)


def _holds_digits(value, wanted: frozenset[str], sizes: tuple[int, ...]) -> bool:
    """Whether the digits of `value`, in order, hold one of the wanted digit strings (of `sizes`)."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():  # the common case, several times faster than the pattern (a batch's pass over a table)
        digits = text.encode("ascii").translate(None, _NOT_ASCII_DIGITS).decode("ascii")
    else:
        digits = _NOT_DIGITS.sub("", text)
    return _window_in(digits, wanted, sizes)


def _rows_holding(rows, wanted: frozenset[str], sizes: tuple[int, ...]) -> Iterator[tuple]:
    """The rows (the number last) whose number holds one of the wanted digit strings, as `_holds_digits`
    says row by row. The common case is checked a block of rows at a time in C: numbers that are all
    ASCII text are joined, stripped of everything but digits and newlines in one `translate`, and each
    (size, start) window of every number is looked up with `map` (a batch's pass over 600k numbers:
    0.9 s row by row, then 0.7 s inlined, now ~0.2 s); a block holding anything else (a number
    stored as an integer, non-ASCII digits, a newline, a very long value) is checked row by row."""
    by_size = {size: frozenset(w.encode("ascii") for w in wanted if len(w) == size) for size in sizes}
    block: list = []
    for row in rows:
        block.append(row)
        if len(block) == _BLOCK_ROWS:
            yield from _block_holding(block, wanted, sizes, by_size)
            block = []
    if block:
        yield from _block_holding(block, wanted, sizes, by_size)


_BLOCK_ROWS = 4096
_LAST = operator.itemgetter(-1)
_LONGEST_DIGITS = 40  # longer numbers (a block's windows are as many as its longest number allows) go row by row
_NOT_DIGITS_OR_NEWLINE = bytes(c for c in range(256) if not (0x30 <= c <= 0x39 or c == 0x0A))


def _block_holding(block: list, wanted: frozenset[str], sizes: tuple[int, ...],
                   by_size: dict[int, frozenset[bytes]]) -> list:
    values = list(map(_LAST, block))
    try:
        text = "\n".join(values)
    except TypeError:  # a value that is not text
        text = None
    if text is not None:
        if text.isascii() and text.count("\n") == len(values) - 1:
            numbers = text.encode("ascii").translate(None, _NOT_DIGITS_OR_NEWLINE).split(b"\n")
            longest = max(map(len, numbers))
            if longest <= _LONGEST_DIGITS:
                index = range(len(numbers))
                kept: set[int] = set()
                for size, targets in by_size.items():
                    for start in range(longest - size + 1):
                        window = operator.itemgetter(slice(start, start + size))
                        kept.update(itertools.compress(index, map(targets.__contains__, map(window, numbers))))
                return [block[i] for i in sorted(kept)]
    return [row for row in block if _holds_digits(row[-1], wanted, sizes)]


def _window_in(digits, wanted: frozenset, sizes: tuple[int, ...]) -> bool:
    """Whether a stretch of `digits` (str or bytes, as `wanted`) of one of `sizes` is wanted (plain
    loops: a generator expression under any() costs a third more over 600k numbers)."""
    for size in sizes:
        for i in range(len(digits) - size + 1):
            if digits[i:i + size] in wanted:
                return True
    return False


def _driver_rows(result) -> Iterator[tuple]:
    """The rows of a result straight from the DB-API cursor, for columns whose type converts nothing."""
    cursor = result.cursor
    try:
        while rows := cursor.fetchmany(5000):
            yield from rows
    finally:
        result.close()


def _is_int(value: str) -> bool:
    text = value.strip()
    if text.startswith(("-", "+")):
        text = text[1:]
    return text.isdigit()


def _is_enum(column) -> bool:
    from sqlalchemy import Enum

    return isinstance(column.type, Enum)


def _unique_alone(table, field: str) -> bool:
    """Whether the database holds the column's values unique on their own (a one-column primary key,
    unique constraint or unique index)."""
    from sqlalchemy import UniqueConstraint

    if [c.name for c in table.primary_key.columns] == [field]:
        return True
    if any(isinstance(c, UniqueConstraint) and [col.name for col in c.columns] == [field] for c in table.constraints):
        return True
    return any(index.unique and [col.name for col in index.columns] == [field] for index in table.indexes)


def _holds_text(column) -> bool:
    try:
        return column.type.python_type is str
    except NotImplementedError:
        return True


_NAMED = re.compile(r"""(?i)\b(column|key|table|constraint|index|relation|schema|database|function|type|role|user)\s*$""")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'" + r'|"(?:[^"\\]|\\.)*"')


def _values_hidden(message: str) -> str:
    """A database's error message without the row values it quotes (MariaDB's "Duplicate entry
    'alice@example.com' for key ...", PostgreSQL's 'invalid input syntax ...: "Alice"'): they are the
    subject's or someone else's data, and the message reaches the report, the journal and the audit log.
    What names a column, key, table or constraint stays."""
    def hide(match: re.Match) -> str:
        if _NAMED.search(message[:match.start()]):
            return match.group(0)
        quote = match.group(0)[0]
        return f"{quote}…{quote}"

    return _QUOTED.sub(hide, message)

