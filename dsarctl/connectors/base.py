"""The connector interface: every source of personal data is a small class behind it.

A connector locates a subject's records in one system (`locate`), hands their full content to the
export (`export_files`), and — when it has the `erase` capability — applies an erase plan. Connectors
declare the inventory keys they accept, so the inventory loader validates them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator

from ..keyspec import KeySpec as KeySpec  # re-exported: connectors declare their keys with it

if TYPE_CHECKING:
    from ..inventory.model import Collection, Inventory, System

Wanted = dict[str, frozenset[str]]  # identity kind -> normalised values searched for


@dataclass
class Record:
    """One record of a subject found in a collection."""

    system: str
    collection: str
    key: Any  # what identifies the record inside its source: primary key, row number, message key
    data: dict[str, Any]  # every field (mail: the main headers; the raw message via the connector)
    identities: dict[str, set[str]]  # identity kind -> normalised values carried by this record
    matched: set[tuple[str, str]] = field(default_factory=set)  # (kind, value) that led here
    location: str | None = None  # human pointer: "demo/newsletter.csv:4", "cur/1700000000.M1.host"
    digest: str | None = None  # file records: SHA-256 of the stored text, when known from the search

    @property
    def ref(self) -> tuple[str, str, Any]:
        return (self.system, self.collection, self.key)


@dataclass(frozen=True)
class Finding:
    """An outcome of `inventory check --connect`."""

    level: str  # error | warning | info
    system: str
    message: str
    where: str | None = None  # inventory file:line of the key concerned
    exit_status: int = 0  # for errors: 2 the inventory names what the source lacks, 3 the source failed

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "system": self.system, "message": self.message, "where": self.where}


@dataclass(frozen=True)
class ExportFile:
    """A file of the access package: its name inside data/<system>/ and its content in chunks."""

    name: str
    chunks: Callable[[], Iterable[bytes]]


@dataclass
class EraseTarget:
    """One record an erase acts on. SQL rows are found by `key` (primary key); file records by `digest`
    (SHA-256 of the record's stored bytes), so a file changed since the plan is never mis-edited."""

    key: Any
    digest: str | None
    action: str  # delete | mask | redact (a shared message: the subject taken out of it)
    fields: dict[str, str] = field(default_factory=dict)  # mask: field -> null | redact | hash
    subject: tuple[str, ...] = ()  # redact: keyed hashes (kind:value) of the subject's identifiers


@dataclass
class EraseOutcome:
    """What an erase did to one collection."""

    deleted: int = 0
    masked: int = 0
    unchanged: int = 0  # already as planned: an earlier, interrupted run did it
    missing: int = 0  # not there any more: deleted by an earlier run
    sha256: str | None = None  # files: the rewritten file's hash
    redacted: int = 0  # shared messages kept with the subject taken out of them

    def to_dict(self) -> dict[str, Any]:
        out = {"deleted": self.deleted, "masked": self.masked, "unchanged": self.unchanged, "missing": self.missing}
        if self.redacted:
            out["redacted"] = self.redacted
        if self.sha256:
            out["sha256"] = self.sha256
        return out


class StartedSearch:
    """A search of one collection begun by `Connector.start_locate`: calling it yields the records;
    `close()` releases what it started (a grep) when it is not called."""

    def __init__(self, run: Callable[[], Iterator[Record]], jobs: Iterable[Any] = ()):
        self.run = run
        self.jobs = list(jobs)

    def __call__(self) -> Iterator[Record]:
        return self.run()

    def close(self) -> None:
        for job in self.jobs:
            job.close()


class Connector:
    """Base class. Subclasses set `name`, the key declarations and the capability flags."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    system_keys: ClassVar[dict[str, KeySpec]] = {}
    collection_keys: ClassVar[dict[str, KeySpec]] = {}
    can_locate: ClassVar[bool] = True
    can_erase: ClassVar[bool] = True
    is_file: ClassVar[bool] = False  # a file source: rewritten atomically on erase
    is_mailbox: ClassVar[bool] = False
    implicit_collection: ClassVar[bool] = True  # the system's own keys may describe its single collection
    default_erase: ClassVar[str | None] = None  # erase action when the inventory names none
    default_expand: ClassVar[bool] = True  # whether identifiers found in its records are followed
    # False when the caller of `locate` reads of each record only where it is (key, location) and the
    # identities it carries, never the rest of `data` (`find`): a connector may then return records
    # whose `data` holds only the identity and key fields (the SQL connector answers from SQLite files
    # without SQLAlchemy). Set on the instance by the search.
    needs_contents: bool = True

    def __init__(self, system: "System", inventory: "Inventory"):
        self.system = system
        self.inventory = inventory

    @classmethod
    def option_problems(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for each of a system's keys that does not go with the others (a mail server's
        unencrypted connection to another host than localhost): the inventory then fails to load, naming
        that key's file:line."""
        return []

    # -- searching ---------------------------------------------------------------------------------
    def locate(self, collection: "Collection", wanted: Wanted) -> Iterator[Record]:
        """Yield every record of `collection` whose identity fields hold a wanted value."""
        raise NotImplementedError

    def start_locate(self, collection: "Collection", wanted: Wanted) -> StartedSearch:
        """Begin `locate` so that its slow I/O runs in the background while other collections are
        searched (the file connectors start grep here); the search yields the records when called."""
        return StartedSearch(lambda: self.locate(collection, wanted))

    def check(self) -> list[Finding]:
        """Reach the source and compare it with the inventory (tables, columns, files, indexes)."""
        from ..errors import DsarError

        findings: list[Finding] = []
        for collection in self.system.collections.values():
            try:
                findings.extend(self.check_collection(collection))
                findings.extend(Finding("error", self.system.name, message, where, 2)
                                for where, message in self.impossible_masks(collection))
            except DsarError as exc:
                from ..errors import ExitStatus, MismatchError

                # checking the inventory against the source: a missing table or column is bad input
                status = ExitStatus.BAD_INPUT if isinstance(exc, MismatchError) else exc.exit_status
                findings.append(Finding("error", self.system.name, getattr(exc, "reason", str(exc)),
                                        self.inventory.where(collection.key_path), int(status)))
            except OSError as exc:
                findings.append(Finding("error", self.system.name, self.inventory.redact(str(exc)),
                                        self.inventory.where(collection.key_path), 3))
        return findings

    def check_collection(self, collection: "Collection") -> list[Finding]:
        """Findings for one collection; raise a SourceError/MismatchError when it cannot be read."""
        return []

    def mask_problems(self, collection: "Collection") -> list[tuple[str, str]]:
        """(field, why) for each field of the collection's erase rule that the source cannot take as the
        rule says (nulling a NOT NULL column, a hash in an INTEGER column, a column that does not exist).
        Sources whose fields take any value have none. Raise a SourceError when it cannot be read."""
        return []

    def impossible_masks(self, collection: "Collection") -> list[tuple[str, str]]:
        """(inventory file:line, one line naming system.collection.field and why) for every field of
        `mask_problems`: what both `erase` (refusing at plan time) and `inventory check --connect` say."""
        rule = collection.erase
        if rule is None or not rule.fields:
            return []
        path = collection.key_path + ("erase",)
        if path not in self.inventory.lines:  # the system's erase rule, inherited
            path = self.system.key_path + ("erase",)
        out = []
        for name, why in self.mask_problems(collection):
            where = self.inventory.where(path + ("fields", name))
            out.append((where, f"{where}: {self.system.name}.{collection.name}.{name}: "
                               f"{rule.fields[name]} is impossible: {why}"))
        return out

    def read_records(self, collection: "Collection", keys: list[Any]) -> dict[Any, dict[str, Any]] | None:
        """The current fields of the records with `keys` that are still there (by key), for the check
        after an erase; None when the source cannot read a record by its key (files: their records are
        known by their content), and the check relies on searching again."""
        return None

    # -- export ------------------------------------------------------------------------------------
    def export_files(self, collection: "Collection", records: list[Record]) -> list[ExportFile]:
        """Extra files for the access package beyond JSON and CSV of `records` (mail: .eml files)."""
        return []

    # -- erase -------------------------------------------------------------------------------------
    def scan(self, collection: "Collection") -> Iterator[Record]:
        """Every record of `collection` with its identities (erase resume and replay match them by hash)."""
        raise NotImplementedError

    def sharing(self, collection: "Collection", record: Record, subject: Any) -> tuple[int, str] | None:
        """When a record names people other than the subject (a mail message to several people): how
        many, and what an erase does with it (redact | delete | keep). None: the record is the subject's
        alone. `subject` tells the subject's identifiers (shared_mail.SubjectTest)."""
        return None

    def record_digests(self, collection: "Collection", keys: list[Any]) -> dict[Any, str]:
        """SHA-256 of the stored bytes of the records with `keys` (file sources identify records by it)."""
        return {}

    def erase(self, collection: "Collection", targets: list[EraseTarget], masker: Any,
              checkpoint: Callable[[str], None]) -> EraseOutcome:
        """Apply `targets` to one collection; idempotent (a missing or already masked record is no error)."""
        raise NotImplementedError

    def erase_system(self, work: list[tuple["Collection", list[EraseTarget]]], masker: Any,
                     checkpoint: Callable[[str], None]) -> dict[str, EraseOutcome]:
        """Apply every collection's targets; SQL does it in one transaction per system."""
        return {collection.name: self.erase(collection, targets, masker, checkpoint) for collection, targets in work}

    def close(self) -> None:
        """Release connections and file handles."""

    # -- helpers for subclasses ------------------------------------------------------------------
    def fail(self, message: str) -> "Exception":
        from ..errors import SourceError

        return SourceError(self.inventory.redact(message), system=self.system.name)

    def mismatch(self, key_path: tuple, message: str) -> "Exception":
        """The source lacks what the inventory at `key_path` names: message starts with file:line and key."""
        from ..errors import MismatchError
        from ..inventory.model import dotted

        where = f"{self.inventory.where(key_path)}: {dotted(key_path)}"
        return MismatchError(self.inventory.redact(f"{where}: {message}"), system=self.system.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
