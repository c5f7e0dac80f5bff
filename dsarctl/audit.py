"""The audit log: an append-only, hash-chained SQLite record of everything dsarctl did.

One file (the inventory's `audit.path`) holds requests, their lifecycle events, every find/export/erase
run (per system status, counts and hashes, never the personal data itself), manual processor tasks, the
suppression list and the erasure record used to replay erasures after a backup restore.

Every state change writes its row and an event in one `BEGIN IMMEDIATE` transaction, so two operators
at once serialise instead of interleaving. Events are chained: each event's hash covers the previous
event's hash, and a one-row `chain_head` table holds the last seq and hash, so `verify()` can tell an
edited, deleted or reordered event, and events cut off the end. Schema and guarantees: docs/audit.md.

Reading and appending use the standard library's sqlite3 only: `find` records every run here and
`overdue` runs every morning, and neither should pay for importing sqlite-utils (with its plugin
machinery). sqlite-utils is imported when the schema must be created or migrated (its `Migrations`) and
for the `db` property.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import DsarError, UsageError

if TYPE_CHECKING:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

GENESIS = "0" * 64  # prev_hash of the first event
BUSY_TIMEOUT_S = 30  # how long a writer waits for another one before giving up
RUN_KINDS = ("find", "export", "erase")
MIGRATION_SET = "dsarctl.audit"

# The schema's migrations, in order. Each is registered with sqlite-utils' Migrations (applied once, in a
# transaction) when the log needs migrating; `migrations` below is that Migrations object.
_MIGRATIONS: list[Callable[["Database"], None]] = []


def _migration(fn: Callable[["Database"], None]) -> Callable[["Database"], None]:
    _MIGRATIONS.append(fn)
    return fn


def migration_set() -> "Migrations":
    """The sqlite-utils Migrations of the audit schema (imports sqlite-utils)."""
    global _migration_set
    if _migration_set is None:
        from sqlite_utils.migrations import Migrations

        _migration_set = Migrations(MIGRATION_SET)
        for fn in _MIGRATIONS:
            _migration_set()(fn)
    return _migration_set


_migration_set: "Migrations | None" = None


def __getattr__(name: str) -> Any:
    if name == "migrations":  # `from dsarctl.audit import migrations`, built on first use
        return migration_set()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_is_current(conn: sqlite3.Connection) -> bool:
    """Whether every migration is recorded as applied: one indexed query, no sqlite-utils."""
    try:
        applied = {name for (name,) in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET])}
    except sqlite3.OperationalError as exc:
        if "no such" in str(exc):  # a new file (no table yet), or an older layout of the table
            return False
        raise
    return all(fn.__name__ in applied for fn in _MIGRATIONS)


@_migration
def m001_initial(db: "Database") -> None:
    db["events"].create(
        {"seq": int, "at": str, "kind": str, "request_id": str, "operator": str, "data": str,
         "prev_hash": str, "hash": str},
        pk="seq", not_null={"at", "kind", "operator", "data", "prev_hash", "hash"},
    )
    db["events"].create_index(["request_id", "seq"])
    db["chain_head"].create({"id": int, "seq": int, "hash": str}, pk="id", not_null={"seq", "hash"})
    db["requests"].create(
        {"id": str, "subject": str, "identifiers": str, "type": str, "status": str, "regime": str,
         "timezone": str, "calendar": str, "custom": str, "received_at": str, "channel": str,
         "note": str, "due_date": str, "extension_notice_due": str, "confirm_receipt_due": str,
         "verified_at": str, "verify_method": str, "pauses": str, "extended": int,
         "extension_reason": str, "created_at": str, "created_by": str, "closed_at": str, "outcome": str},
        pk="id",
        not_null={"subject", "identifiers", "type", "status", "regime", "timezone", "received_at",
                  "due_date", "pauses", "extended", "created_at", "created_by"},
    )
    db["requests"].create_index(["status", "due_date"])
    db["requests"].create_index(["status", "extension_notice_due"])
    db["request_identifiers"].create({"request_id": str, "identifier": str},
                                     pk=("request_id", "identifier"))
    db["request_identifiers"].create_index(["identifier"])
    db["runs"].create(
        {"id": int, "request_id": str, "kind": str, "at": str, "operator": str, "summary": str},
        pk="id", not_null={"kind", "at", "operator", "summary"},
    )
    db["runs"].create_index(["request_id"])
    db["tasks"].create(
        {"id": int, "request_id": str, "system": str, "processor": str, "instructions": str,
         "status": str, "created_at": str, "created_by": str, "confirmed_by": str,
         "confirmed_at": str, "note": str},
        pk="id", not_null={"system", "status", "created_at", "created_by"},
    )
    db["tasks"].create_index(["status"])
    db["tasks"].create_index(["request_id"])
    db["suppressions"].create(
        {"hash": str, "kind": str, "system": str, "request_id": str, "created_at": str},
        pk=("hash", "system"), not_null={"created_at"},
    )
    db["erasures"].create(
        {"id": int, "request_id": str, "at": str, "operator": str, "identifier_hashes": str, "plan": str},
        pk="id", not_null={"at", "operator", "identifier_hashes", "plan"},
    )


@_migration
def m002_log_identity(db: "Database") -> None:
    """A random id of this log, which the inventory's folder remembers (audit_marker): a log missing, or
    another log standing at its path, is then told from a log never created."""
    import secrets

    db["log_identity"].create({"id": int, "log_id": str}, pk="id", not_null={"log_id"})
    db["log_identity"].insert({"id": 1, "log_id": secrets.token_hex(16)})


@_migration
def m003_request_links(db: "Database") -> None:
    """An appeal's link to the refused request it appeals, and the date a CCPA access request reaches
    back to (`request new --appeal-of`, `--since`)."""
    db["requests"].add_column("appeal_of", str)
    db["requests"].add_column("since", str)


@_migration
def m004_events_by_kind(db: "Database") -> None:
    """Events by kind, in order: `overdue` finds the latest event that wrote a request row (and the count of
    active requests it records) with one index lookup per kind, whatever the size of the log."""
    db["events"].create_index(["kind", "seq"])


# Columns added to a tracked table after its first version: left empty, they are left out of the row's
# digest, so the digest of a row written before they existed still matches it (`audit verify`).
_LATER_COLUMNS = ("appeal_of", "since")


# --- small helpers --------------------------------------------------------------------------------------


def utc_iso(at: datetime) -> str:
    """An aware datetime as UTC ISO 8601 to the second: the form every timestamp in the log takes."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime {at.isoformat()} has no time zone offset")
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same text (and hash)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, seq: int, at: str, kind: str, request_id: str | None, operator: str,
               data: Any) -> str:
    """sha256(prev_hash + canonical JSON of [seq, at, kind, request_id, operator, data])."""
    import hashlib  # here: reading the log (the morning `overdue`) needs no hashing

    body = canonical_json([seq, at, kind, request_id, operator, data])
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def row_digest(row: dict) -> str:
    """sha256 of a stored row, as read back: what an event remembers about the row it wrote."""
    import hashlib

    row = {k: v for k, v in row.items() if not (v is None and k in _LATER_COLUMNS)}
    return hashlib.sha256(canonical_json(row).encode("utf-8")).hexdigest()


def _dicts(cursor: sqlite3.Cursor) -> list[dict]:
    """The rows of an executed query as dicts keyed by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _sql_value(value: Any) -> Any:
    """A Python value as stored, the way sqlite-utils stored it (JSON for containers, ISO for dates)."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=repr, ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


@dataclass
class VerifyResult:
    """What `audit verify` found: `ok` only when `problems` is empty."""

    ok: bool
    checked: int  # events checked
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0  # the last event (write it down elsewhere to detect a rewrite of the whole file)
    head_hash: str = GENESIS

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "problems": list(self.problems),
                "head_seq": self.head_seq, "head_hash": self.head_hash}


# The statuses of a request whose clock runs (requests.ACTIVE), and the kinds of the events that write a
# request's row (RequestBook._save): each records the row's `status` and `due_date`, and `active_requests`,
# how many requests the log records as active once it is written (see `logged_active_count`).
ACTIVE = ("open", "verified", "paused")
REQUEST_ROW_KINDS = ("request.new", "request.verified", "request.paused", "request.resumed", "request.extended",
                     "request.closed", "request.denied")

# Mutable tables whose rows each event records (table -> key column). Verify compares every row with the
# digest in the latest event that wrote it, so an edit outside dsarctl is caught even though rows change.
_TRACKED = {"requests": "id", "tasks": "id", "runs": "id", "erasures": "id"}


class AuditLog:
    """The audit database. Open with `AuditLog.open(path)`; timestamps are always passed in (`at`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None):
        self.conn = conn
        self.path = path
        self._depth = 0
        self._db: "Database | None" = None

    @property
    def db(self) -> "Database":
        """The log as a sqlite-utils Database over the same connection (imports sqlite-utils)."""
        if self._db is None:
            from sqlite_utils import Database

            self._db = Database(self.conn)
        return self._db

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        """Rows of a read query, as dicts."""
        return _dicts(self.conn.execute(sql, list(params)))

    # --- opening ---------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> "AuditLog":
        """Open the log at `path`, in WAL mode, migrated: creating it and its 0700 directory if needed, or
        with `create=False` only when the file exists (DsarError otherwise). Which commands may create the
        log of an inventory is decided by `audit_marker.open_audit`."""
        path = Path(path)
        try:
            if create:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            else:  # SQLite's read-write mode never creates the file
                conn = sqlite3.connect(path.absolute().as_uri() + "?mode=rw", uri=True,
                                       timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DsarError(f"{path}: cannot open the audit log ({exc})") from None
        import time as clock

        # Switching a new file to WAL can fail at once with "database is locked" while another process
        # is doing the same (SQLite does not always call the busy handler there): retry until the busy
        # timeout instead of failing the second operator.
        deadline = clock.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode; a crash loses no committed event
                log = cls(conn, path)
                if not schema_is_current(conn):
                    with log.transaction():  # two processes opening a new log apply the migrations once
                        migration_set().apply(log.db)
                return log
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    if clock.monotonic() < deadline:
                        clock.sleep(0.05)
                        continue
                conn.close()
                raise DsarError(f"{path}: not a usable audit log ({exc})") from None
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise DsarError(f"{path}: not a usable audit log ({exc})") from None

    @classmethod
    def empty(cls, path: Path) -> "AuditLog":
        """An empty log in memory standing for `path`, where no log exists yet: what a command that only
        reads answers from, without creating a file."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        log = cls(conn, Path(path))
        with log.transaction():
            migration_set().apply(log.db)
        return log

    def log_id(self) -> str | None:
        """This log's random id (set when it was created, or first opened by a version that has ids)."""
        row = self.conn.execute("SELECT log_id FROM log_identity WHERE id = 1").fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator["AuditLog"]:
        """A write transaction (`BEGIN IMMEDIATE`: other writers wait); nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise DsarError(f"{self.path}: the audit log stayed locked for {BUSY_TIMEOUT_S} s "
                            f"(another dsarctl is writing?): {exc}") from None
        self._depth = 1
        try:
            yield self
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._depth = 0

    # --- events ------------------------------------------------------------------------------------------

    def append(self, kind: str, data: dict | None = None, *, request_id: str | None = None,
               operator: str, at: datetime) -> int:
        """Append one event to the chain and return its seq. `data` must be JSON and hold no personal data."""
        if not operator:
            raise ValueError("an event needs an operator")
        data = {} if data is None else data
        at_text = utc_iso(at)
        with self.transaction():
            head = self.conn.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
            prev_seq, prev_hash = head if head else (0, GENESIS)
            seq = prev_seq + 1
            digest = event_hash(prev_hash, seq, at_text, kind, request_id, operator, data)
            self.conn.execute(
                "INSERT INTO events (seq, at, kind, request_id, operator, data, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, at_text, kind, request_id, operator, canonical_json(data), prev_hash, digest],
            )
            self.conn.execute(
                "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                [seq, digest],
            )
        return seq

    def events(self, request_id: str | None = None, *, since: str | None = None, limit: int | None = None,
               newest_first: bool = False, kind_prefix: str | None = None) -> Iterator[dict]:
        """Events in order (seq, at, kind, request_id, operator, data as a dict, prev_hash, hash): oldest
        first unless `newest_first`; only those at or after `since` (a UTC timestamp as `utc_iso` writes
        it), whose kind starts with `kind_prefix`; with `limit`, the `limit` most recent of them."""
        clauses: list[str] = []
        params: list = []
        if request_id is not None:
            clauses.append("request_id = ?")
            params.append(request_id)
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        if kind_prefix is not None:
            clauses.append("substr(kind, 1, ?) = ?")
            params.extend([len(kind_prefix), kind_prefix])
        sql = "SELECT * FROM events" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        descending = newest_first or limit is not None  # the most recent `limit`, then put in order
        sql += " ORDER BY seq DESC" if descending else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows: Iterable = cursor
        if descending and not newest_first:
            rows = reversed(cursor.fetchall())
        for values in rows:
            row = dict(zip(names, values))
            row["data"] = json.loads(row["data"])
            yield row

    def request_subjects(self, ids: Iterable[str]) -> dict[str, str]:
        """{request id: its subject} for the requests among `ids` (what `audit log` shows beside an id)."""
        wanted = sorted({i for i in ids if i})
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # within SQLite's limit of bound parameters
            chunk = wanted[start:start + 500]
            out.update(self.conn.execute(
                f"SELECT id, subject FROM requests WHERE id IN ({', '.join('?' for _ in chunk)})", chunk))
        return out

    def record(self, table: str, row: dict, kind: str, data: dict | None = None, *,
               request_id: str | None = None, operator: str, at: datetime) -> tuple[Any, int]:
        """Insert or replace `row` in a tracked table and log `kind` for it, atomically.

        The event's data gains `row: {table, key, sha256}` (the row as stored), which `verify()` compares
        with the table. Returns (the row's key, the event's seq).
        """
        key_col = _TRACKED[table]
        if table == "requests" and kind not in REQUEST_ROW_KINDS:
            raise ValueError(f"a request's row is written by one of {', '.join(REQUEST_ROW_KINDS)}, not {kind!r}")
        with self.transaction():
            counted = None
            if table == "requests" and data is not None and "status" in data:
                counted = self._active_after(row.get(key_col), data["status"])
            if row.get(key_col) is None:
                cols = [k for k in row if k != key_col]
                key = self.conn.execute(
                    f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
                    f"VALUES ({', '.join('?' for _ in cols)})",
                    [_sql_value(row[c]) for c in cols]).lastrowid
            else:
                key = row[key_col]
                cols = list(row)
                updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in cols if c != key_col)
                self.conn.execute(
                    f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
                    f"VALUES ({', '.join('?' for _ in cols)}) "
                    f"ON CONFLICT([{key_col}]) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"),
                    [_sql_value(row[c]) for c in cols])
            stored = self.query(f"SELECT * FROM [{table}] WHERE [{key_col}] = ?", [key])[0]
            event = dict(data or {})
            event["row"] = {"table": table, "key": key, "sha256": row_digest(stored)}
            if counted is not None:
                event["active_requests"] = counted
            seq = self.append(kind, event, request_id=request_id, operator=operator, at=at)
        return key, seq

    def untrusted_requests(self) -> list[dict]:
        """The requests whose stored row is not what the log recorded, among those the morning must see:
        an active row (open, verified, paused) whose status or due date is not what the latest event that
        wrote it (a `request.*` event with `row.table` "requests") recorded, or that no event wrote; and a
        request the log records as active whose row is no longer active (set to closed or denied) or is
        gone (deleted). Edited or deleted outside dsarctl: `{id, subject, status, due_date, logged_status,
        logged_due_date, problem}` by id (a deleted row's own values are null).

        What the morning `overdue` can afford: one indexed lookup per active row, two values compared in
        SQL, no hashing (`verify()` checks every row in full). The requests whose row left the active ones
        are found through a count: every event that writes a request's row records how many requests the
        log holds as active (`active_requests`); when the active rows that agree with the log are as many
        as the latest event counts, none is missing, and only otherwise (something was edited, or the
        log is older than the count) is every request's last logged state read, in one SQL query. A due
        date moved past the horizon, a status edited, or a row deleted cannot make `overdue` drop a request
        silently.
        """
        marks = ", ".join("?" for _ in ACTIVE)
        rows = self.query(
            "SELECT r.id, r.subject, r.status, r.due_date, e.seq AS logged_seq, "
            "CASE WHEN json_valid(e.data) THEN json_extract(e.data, '$.status') END AS logged_status, "
            "CASE WHEN json_valid(e.data) THEN json_extract(e.data, '$.due_date') END AS logged_due_date "
            "FROM requests r LEFT JOIN events e ON e.seq = ("
            "  SELECT max(seq) FROM events WHERE request_id = r.id AND kind LIKE 'request.%' "
            "  AND json_valid(data) AND json_extract(data, '$.row.table') = 'requests') "
            f"WHERE r.status IN ({marks}) "
            "AND (e.seq IS NULL OR logged_status IS NOT r.status OR logged_due_date IS NOT r.due_date) "
            "ORDER BY r.id", ACTIVE)
        for row in rows:
            row["problem"] = ("not in the audit log (written outside dsarctl)" if row.pop("logged_seq") is None
                              else "its stored row differs from what the audit log recorded (edited outside dsarctl)")
        # Every active row that the log also holds as active is one of the requests the log counts; if
        # they are as many as it counts, no request the log holds as active has lost its active row.
        active_rows, counted = self.conn.execute(
            f"SELECT (SELECT count(*) FROM requests WHERE status IN ({marks})), "
            f"({self._LATEST_COUNT})", [*ACTIVE, *REQUEST_ROW_KINDS]).fetchone()
        agreeing = active_rows - sum(1 for r in rows if r["logged_status"] not in ACTIVE)
        if counted is None or agreeing != counted:
            rows.extend(self._active_in_log_only())
            rows.sort(key=lambda r: r["id"])
        return rows

    # The `active_requests` count recorded by the latest event that wrote a request's row: the latest event
    # of each such kind is one step down the (kind, seq) index. Null when that event records no count (a
    # log written before dsarctl counted).
    _LATEST_COUNT = (
        "SELECT CASE WHEN json_valid(data) THEN json_extract(data, '$.active_requests') END FROM events "
        "WHERE seq = (SELECT max(" + ", ".join(
            "coalesce((SELECT max(seq) FROM events WHERE kind = ?), 0)" for _ in REQUEST_ROW_KINDS) + "))")

    def logged_active_count(self) -> int | None:
        """How many requests the log records as active, as the latest event that wrote a request's row
        counted them; None when it did not count (written by a dsarctl before the count existed)."""
        value = self.conn.execute(self._LATEST_COUNT, REQUEST_ROW_KINDS).fetchone()
        return value[0] if value and isinstance(value[0], int) else None

    # Each request's last logged state: the latest event that wrote its row, read from the whole log.
    _LAST_LOGGED = (
        "SELECT last.request_id AS id, json_extract(e.data, '$.status') AS logged_status, "
        "json_extract(e.data, '$.due_date') AS logged_due_date FROM ("
        "  SELECT request_id, max(seq) AS seq FROM events WHERE kind LIKE 'request.%' AND json_valid(data) "
        "  AND json_extract(data, '$.row.table') = 'requests' GROUP BY request_id) last "
        "JOIN events e ON e.seq = last.seq")

    def _active_in_log_only(self) -> list[dict]:
        """The requests whose last logged state is active but whose row is not (closed or denied outside
        dsarctl) or is gone: read from every request's last event, in SQL."""
        marks = ", ".join("?" for _ in ACTIVE)
        rows = self.query(
            f"SELECT l.id, r.subject, r.status, r.due_date, l.logged_status, l.logged_due_date, "
            f"r.id IS NULL AS deleted FROM ({self._LAST_LOGGED}) l LEFT JOIN requests r ON r.id = l.id "
            f"WHERE l.logged_status IN ({marks}) AND (r.id IS NULL OR r.status NOT IN ({marks})) ORDER BY l.id",
            [*ACTIVE, *ACTIVE])
        for row in rows:
            row["problem"] = ("its row was deleted outside dsarctl (the audit log records it)" if row.pop("deleted")
                              else "its stored row differs from what the audit log recorded (edited outside dsarctl)")
        return rows

    def _active_after(self, request_id: str, status: str) -> int:
        """How many requests the log will record as active once `request_id` is logged with `status`: the
        latest count, less this request if its previous logged state was active, plus it if `status` is.
        A log without a count yet (written before dsarctl counted) is counted once, in SQL."""
        previous = self.conn.execute(
            "SELECT CASE WHEN json_valid(data) THEN json_extract(data, '$.status') END FROM events "
            "WHERE request_id = ? AND kind LIKE 'request.%' AND json_valid(data) "
            "AND json_extract(data, '$.row.table') = 'requests' ORDER BY seq DESC LIMIT 1",
            [request_id]).fetchone()
        count = self.logged_active_count()
        if count is None:
            marks = ", ".join("?" for _ in ACTIVE)
            count = self.conn.execute(f"SELECT count(*) FROM ({self._LAST_LOGGED}) WHERE logged_status IN ({marks})",
                                      ACTIVE).fetchone()[0]
        return count - (previous is not None and previous[0] in ACTIVE) + (status in ACTIVE)

    # --- runs, tasks, suppressions, erasures ----------------------------------------------------------------

    def record_run(self, kind: str, request_id: str | None, summary: dict, *, operator: str,
                   at: datetime) -> int:
        """Record a find/export/erase run; `summary` holds per-system status, counts and SHA-256 hashes.

        Never put the records themselves (or any exported value) in `summary`: it is kept forever.
        Returns the run id.
        """
        if kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r} (one of: {', '.join(RUN_KINDS)})")
        row = {"request_id": request_id, "kind": kind, "at": utc_iso(at), "operator": operator,
               "summary": canonical_json(summary)}
        run_id, _ = self.record("runs", row, f"run.{kind}", {"summary": summary},
                                request_id=request_id, operator=operator, at=at)
        return run_id

    def runs(self, request_id: str | None = None) -> list[dict]:
        """Recorded runs, oldest first, with `summary` parsed."""
        where, params = (" WHERE request_id = ?", [request_id]) if request_id else ("", [])
        out = self.query(f"SELECT * FROM runs{where} ORDER BY id", params)
        for row in out:
            row["summary"] = json.loads(row["summary"])
        return out

    def add_task(self, request_id: str | None, system: str, *, processor: str | None = None,
                 instructions: str | None = None, operator: str, at: datetime) -> int:
        """Open a manual task (a processor dsarctl cannot reach) and return its id."""
        row = {"request_id": request_id, "system": system, "processor": processor,
               "instructions": instructions, "status": "open", "created_at": utc_iso(at),
               "created_by": operator}
        task_id, _ = self.record("tasks", row, "task.added",
                                 {"system": system, "processor": processor},
                                 request_id=request_id, operator=operator, at=at)
        return task_id

    def confirm_task(self, task_id: int, *, operator: str, at: datetime, note: str | None = None) -> dict:
        """Mark a manual task done by `operator` at `at`; UsageError if unknown or already done."""
        with self.transaction():
            row = self._task(task_id)
            if row["status"] == "done":
                raise UsageError(f"task {task_id} was already confirmed by {row['confirmed_by']} "
                                 f"at {row['confirmed_at']}")
            row.update(status="done", confirmed_by=operator, confirmed_at=utc_iso(at), note=note)
            self.record("tasks", row, "task.confirmed", {"system": row["system"], "note": note},
                        request_id=row["request_id"], operator=operator, at=at)
        return row

    def _task(self, task_id: int) -> dict:
        rows = self.query("SELECT * FROM tasks WHERE id = ?", [task_id])
        if not rows:
            raise UsageError(f"unknown task id '{task_id}'")
        return rows[0]

    def tasks(self, *, status: str | None = None, request_id: str | None = None) -> list[dict]:
        """Manual tasks, oldest first, optionally only `status` (open|done) or one request's."""
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        if request_id:
            clauses.append("request_id = ?")
            params.append(request_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self.query(f"SELECT * FROM tasks{where} ORDER BY id", params)

    def open_tasks(self) -> list[dict]:
        """Tasks nobody has confirmed yet, oldest first."""
        return self.tasks(status="open")

    def add_suppressions(self, hashes: Iterable[str], system: str, request_id: str | None, *,
                         kind: str | None = None, operator: str, at: datetime) -> int:
        """Add keyed hashes (keys.keyed_hash) to `system`'s suppression list; returns how many were new."""
        wanted = sorted(set(hashes))
        with self.transaction():
            new = [h for h in wanted if not self.is_suppressed(h, system)]
            if new:
                created = utc_iso(at)
                self.conn.executemany(
                    "INSERT INTO suppressions (hash, kind, system, request_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    [(h, kind, system, request_id, created) for h in new])
                self.append("suppression.added", {"system": system, "kind": kind, "hashes": new},
                            request_id=request_id, operator=operator, at=at)
        return len(new)

    def is_suppressed(self, hash: str, system: str | None = None) -> bool:
        """Whether `hash` is on `system`'s suppression list (any system's when `system` is None)."""
        if system is None:
            sql, params = "SELECT 1 FROM suppressions WHERE hash = ? LIMIT 1", [hash]
        else:
            sql, params = "SELECT 1 FROM suppressions WHERE hash = ? AND system = ?", [hash, system]
        return self.conn.execute(sql, params).fetchone() is not None

    def record_erasure(self, request_id: str | None, identifier_hashes: Iterable[str], plan: dict, *,
                       operator: str, at: datetime) -> int:
        """Remember an erasure for replay after a backup restore: keyed hashes and plan, no identifiers."""
        hashes = sorted(set(identifier_hashes))
        row = {"request_id": request_id, "at": utc_iso(at), "operator": operator,
               "identifier_hashes": canonical_json(hashes), "plan": canonical_json(plan)}
        erasure_id, _ = self.record("erasures", row, "erasure.recorded",
                                    {"identifier_hashes": hashes, "plan": plan},
                                    request_id=request_id, operator=operator, at=at)
        return erasure_id

    def erasures(self) -> list[dict]:
        """Every recorded erasure, oldest first (to replay after restoring a backup)."""
        out = self.query("SELECT * FROM erasures ORDER BY id")
        for row in out:
            row["identifier_hashes"] = json.loads(row["identifier_hashes"])
            row["plan"] = json.loads(row["plan"])
        return out

    # --- verification -------------------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Check the hash chain, the chain head, and every tracked row against its latest event."""
        if self.conn.in_transaction:
            return self._verify()
        self.conn.execute("BEGIN")  # one snapshot: a writer appending meanwhile is not a "deletion"
        try:
            return self._verify()
        finally:
            self.conn.execute("ROLLBACK")

    def _verify(self) -> VerifyResult:
        problems: list[str] = []
        light: list[tuple[int, str, str, bool]] = []  # seq, prev_hash, hash, content matches hash
        latest: dict[tuple[str, Any], str] = {}  # (table, key) -> digest logged last
        suppressed: set[tuple[str, str]] = set()
        cursor = self.conn.execute(
            "SELECT seq, at, kind, request_id, operator, data, prev_hash, hash FROM events ORDER BY seq"
        )
        for seq, at, kind, request_id, operator, data_text, prev_hash, stored in cursor:
            try:
                data = json.loads(data_text)
            except (TypeError, ValueError):
                data = None
            ok = data is not None and event_hash(prev_hash, seq, at, kind, request_id, operator,
                                                 data) == stored
            light.append((seq, prev_hash, stored, ok))
            if isinstance(data, dict):
                row = data.get("row")
                if isinstance(row, dict) and row.get("table") in _TRACKED:
                    latest[(row["table"], row.get("key"))] = row.get("sha256")
                if kind == "suppression.added":
                    suppressed.update((h, data.get("system")) for h in data.get("hashes", []))

        moved = self._diagnose_moves(light)
        prev_seq, prev_hash = 0, GENESIS
        for seq, link, stored, ok in light:
            gap = seq != prev_seq + 1
            if gap:
                problems.append(_missing(prev_seq + 1, seq - 1, "deleted"))
            if seq in moved:
                problems.append(f"event {seq}: reordered: it was written as event {moved[seq]}")
            elif not ok:
                problems.append(f"event {seq}: edited: its contents no longer match its hash")
            # A gap or a moved event (this one or the one before) already explains a broken link.
            if link != prev_hash and not gap and seq not in moved and prev_seq not in moved:
                if prev_seq == 0:
                    problems.append(f"event {seq}: bad first link: it does not start from the genesis hash")
                else:
                    problems.append(f"event {seq}: does not link to event {prev_seq} (an event between "
                                    f"them was removed, or event {prev_seq} was rewritten)")
            prev_seq, prev_hash = seq, stored

        head = self.conn.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
        head_seq, head_hash = head if head else (0, GENESIS)
        if head is None and light:
            problems.append("chain head missing: the log's last event cannot be confirmed")
        elif head_seq > prev_seq:
            problems.append(_missing(prev_seq + 1, head_seq, "deleted from the end of the log"))
        elif head_seq < prev_seq:
            problems.append(f"events {head_seq + 1}..{prev_seq} were added outside dsarctl "
                            f"(the chain head is event {head_seq})")
        elif head_hash != prev_hash:
            problems.append(f"event {prev_seq}: does not match the chain head (the last event was rewritten)")

        problems.extend(self._check_rows(latest, suppressed))
        return VerifyResult(not problems, len(light), problems, head_seq, head_hash)

    def _diagnose_moves(self, light: list[tuple[int, str, str, bool]]) -> dict[int, int]:
        """{current seq: seq it was written as} for events whose content only fits another position.

        The original position of an event follows from the links: the event that links to the genesis was
        event 1, the one linking to it event 2, and so on, whatever the seq column says now.
        """
        suspects = [i for i, (_, _, _, ok) in enumerate(light) if not ok]
        if not suspects:
            return {}
        by_hash = {h: i for i, (_, _, h, _) in enumerate(light)}
        original: dict[int, int | None] = {}

        def original_seq(i: int) -> int | None:
            path: list[int] = []
            seen: set[int] = set()
            j: int | None = i
            known: int | None = None
            while j is not None:
                if j in original:
                    known = original[j]
                    break
                path.append(j)
                seen.add(j)
                link = light[j][1]
                if link == GENESIS:
                    known = 0
                    break
                j = by_hash.get(link)
                if j is None or j in seen:  # predecessor deleted, or a cycle: position unknown
                    known = None
                    break
            for n, idx in enumerate(reversed(path)):
                original[idx] = None if known is None else known + n + 1
            return original[i]

        moved: dict[int, int] = {}
        for i in suspects:
            seq = light[i][0]
            was = original_seq(i)
            if was is None or was == seq:
                continue
            row = self.conn.execute("SELECT at, kind, request_id, operator, data, prev_hash, hash "
                                  "FROM events WHERE seq = ?", [seq]).fetchone()
            at, kind, request_id, operator, data_text, link, stored = row
            try:
                if event_hash(link, was, at, kind, request_id, operator, json.loads(data_text)) == stored:
                    moved[seq] = was
            except (TypeError, ValueError):
                pass
        return moved

    def _check_rows(self, latest: dict[tuple[str, Any], str], suppressed: set[tuple[str, str]]) -> list[str]:
        problems = []
        for table, key_col in _TRACKED.items():
            seen = set()
            for row in self.query(f"SELECT * FROM [{table}]"):
                key = row[key_col]
                seen.add(key)
                logged = latest.get((table, key))
                if logged is None:
                    problems.append(f"{table} {key}: not in the event log (written outside dsarctl)")
                elif logged != row_digest(row):
                    problems.append(f"{table} {key}: differs from its last logged state "
                                    "(edited outside dsarctl)")
            for (t, key) in latest:
                if t == table and key not in seen:
                    problems.append(f"{table} {key}: deleted (the event log records it)")
        rows = set(self.conn.execute("SELECT hash, system FROM suppressions"))
        for system in sorted({s for _, s in suppressed - rows}, key=str):
            n = sum(1 for _, s in suppressed - rows if s == system)
            problems.append(f"suppressions: {n} entr{'y' if n == 1 else 'ies'} of system {system} deleted "
                            "(erased data could be re-imported)")
        extra = rows - suppressed
        if extra:
            problems.append(f"suppressions: {len(extra)} entr{'y' if len(extra) == 1 else 'ies'} "
                            "not in the event log (added outside dsarctl)")
        return problems


def _missing(first: int, last: int, how: str) -> str:
    if first == last:
        return f"event {first}: missing ({how})"
    return f"events {first}..{last}: missing ({how})"
