"""The source contract, version 2: the one module a plugin author reads.

A *source* reaches the place where one system of the inventory keeps personal data (a database, a
file, a mailbox, a vendor's API). It is a small class; one instance serves one system for one
operation (a search, an export, one erase unit, a check) and is closed afterwards.

    from dsarctl.sources import Erasable, KeySpec, Record, Source

    class Shop(Source, Erasable):                 # Erasable only if it can change records
        name = "shop"                             # what `connector: shop` names in inventory.yaml
        system_keys = {"url": KeySpec("url", "Where the shop's API is.", required=True)}

        def locate(self, collection, wanted, *, lookup_only=False): ...   # the subject's records
        def scan(self, collection): ...                                   # every record
        def erase(self, collection, targets, context): ...                # delete / mask / redact

and in the plugin's pyproject.toml:

    [project.entry-points."dsarctl.sources.v2"]
    shop = "dsarctl_shop:Shop"

`Source` is searched, exported and checked. `Erasable` adds what `erase` needs; the inventory loader
refuses an erase rule that changes records (`delete`, `anonymize`, `retain` with `fields`) on a system
whose source is not Erasable (exit 2, naming the rule's file:line). `retain` without fields changes
nothing and needs no capability.

What the core guarantees every source:

- `system` and `inventory` are the loaded inventory's objects; `collection.options` holds the values of
  the keys the source declared (system keys merged under collection keys), already validated and typed.
- One thread uses an instance at a time; `close()` is called once, however the operation ended.
- Any exception a method raises (a `SourceError` from `self.fail(...)`, an `OSError`, or a bug:
  `KeyError`, `NotImplementedError`, ...) fails that system, or that collection, and nothing else:
  the other systems still run, the command exits 3 and prints one line `system: message` (an exception
  other than dsarctl's own as `ExceptionClass: message`), with secrets of the inventory taken out. It
  never becomes a crash, and a failed erase is retried by the next `erase`, never blocking it.
  `DSARCTL_DEBUG=1` prints the traceback of such a bug to stderr.
- Identity values arrive normalised (`wanted`): e-mail addresses trimmed and case-folded, phone numbers
  in E.164. A record must carry its identity values normalised the same way: `self.record(collection,
  key, data, wanted)` builds a Record with its `identities` and `matched` read as the built-in sources
  read them.

Compatibility: plugins of version 1 (`dsarctl.connectors.Connector`, entry-point group
`dsarctl.connectors`) still load for one version, with a warning, for search, export and check only;
they cannot erase until they move to this module and the `dsarctl.sources.v2` group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator

from .keyspec import KeySpec

if TYPE_CHECKING:
    from pathlib import Path

    from .erase.mask import Masker
    from .inventory.model import Collection, Inventory, System

__all__ = [
    "API_VERSION", "ENTRY_POINT_GROUP", "Source", "Erasable", "Record", "Finding", "ExportFile",
    "EraseTarget", "EraseOutcome", "EraseContext", "KeySpec", "KeyProblem", "StartedSearch", "Wanted",
]
# (checked_records, checked_outcomes, checked_read_records, at the end: the core's, not a plugin's)

API_VERSION = 2
ENTRY_POINT_GROUP = f"dsarctl.sources.v{API_VERSION}"

Wanted = dict[str, frozenset[str]]  # identity kind -> normalised values searched for


@dataclass
class Record:
    """One record of a subject, as a source found it."""

    system: str
    collection: str
    key: Any  # the source's own reference to the record (primary key, line number, byte range, file
    #           name): opaque to the core, which hands it back (EraseTarget.key, read_records) unchanged,
    #           except that it may pass through JSON (a tuple comes back a tuple, a list as a tuple)
    data: dict[str, Any]  # every field: the export hands it to the subject (mail: the main headers)
    identities: dict[str, set[str]]  # identity kind -> normalised values this record carries
    matched: set[tuple[str, str]] = field(default_factory=set)  # (kind, value) of `wanted` that led here
    location: str | None = None  # for people: "demo/newsletter.csv:4", "cur/1700000000.M1.host"
    digest: str | None = None  # SHA-256 of the record's stored bytes, for sources whose records are found
    #                            by their content (`local_files`): the erase acts only on a record
    #                            with it
    people: dict[str, set[str]] | None = None  # identity kind -> normalised values of every person the
    #                            record names (a ticket's requester, people in CC, authors of comments),
    #                            the controller's own staff left out; None: not asked, or the source cannot
    #                            tell. Set by `Erasable.find_people` when an erase plans: it leaves a record
    #                            naming anyone other than the subject as it is (shared). Never followed.

    @property
    def ref(self) -> tuple[str, str, Any]:
        return (self.system, self.collection, self.key)


@dataclass(frozen=True)
class Finding:
    """An outcome of `inventory check --connect`."""

    level: str  # error | warning | info
    system: str
    message: str
    where: str | None = None  # inventory file:line of the key concerned (`inventory.where(key_path)`)
    exit_status: int = 0  # for errors: 2 the inventory names what the source lacks, 3 the source failed

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "system": self.system, "message": self.message, "where": self.where}


@dataclass(frozen=True)
class ExportFile:
    """A file of the access package: its name inside data/<system>/<collection>/ and its content in
    chunks, read only while the package is written."""

    name: str
    chunks: Callable[[], Iterable[bytes]]


@dataclass
class EraseTarget:
    """One record an erase acts on: the record the search found, by its `key` and, for sources whose
    records are found by content (`local_files`), its `digest`, so that a record changed since the plan
    is never mis-edited."""

    key: Any  # Record.key; None only for a `local_files` source after a crash (find it by `digest`)
    digest: str | None  # Record.digest
    action: str  # delete | mask | redact (a shared message: the subject taken out of it)
    fields: dict[str, str] = field(default_factory=dict)  # mask: field -> null | redact | hash
    subject: tuple[str, ...] = ()  # redact: keyed hashes (kind:value) of the subject's identifiers
    resumed: bool = False  # from the journal of an interrupted run, not this process's search: that run may
    #                        have changed or removed the record already (a `local_files` key is then a
    #                        hint): a target not found as planned is `missing`, not a sign of another writer


@dataclass
class EraseOutcome:
    """What an erase did to one collection. Each target counts once."""

    deleted: int = 0
    masked: int = 0
    unchanged: int = 0  # already as planned: an earlier, interrupted run did it
    missing: int = 0  # not there any more, or changed since the search (not the record it found)
    sha256: str | None = None  # a rewritten file's hash
    redacted: int = 0  # shared messages kept with the subject taken out of them

    def to_dict(self) -> dict[str, Any]:
        out = {"deleted": self.deleted, "masked": self.masked, "unchanged": self.unchanged, "missing": self.missing}
        if self.redacted:
            out["redacted"] = self.redacted
        if self.sha256:
            out["sha256"] = self.sha256
        return out


class EraseContext:
    """What the core hands to `Erasable.erase`: the masker, the places where a unit may stop, and where a
    `local_files` source says that it replaces a collection's file."""

    def __init__(self, masker: "Masker", checkpoint: Callable[[str], None] | None = None,
                 replacing: Callable[["Collection"], None] | None = None,
                 replaced: Callable[["Collection"], None] | None = None):
        self.masker = masker  # .mask(data, fields) -> a masked copy; .value(op, value); .key
        self._checkpoint = checkpoint
        self._replacing = replacing
        self._replaced = replaced

    def checkpoint(self, point: str) -> None:
        """Call between steps of an erase, where stopping leaves the source consistent (before a commit,
        before a rename, after each deleted message). It raises when the unit must stop (another unit of
        the run failed hard, or the operator interrupted it): let the exception pass. Crash tests kill
        the process at named points (`sql.before-commit`, `file.renamed`); it carries nothing else."""
        if self._checkpoint is not None:
            self._checkpoint(point)

    def replacing(self, collection: "Collection") -> None:
        """A `local_files` source calls this right before it renames a rewritten file over the
        collection's file, holding the file's lock and having read all of it; and `replaced` right after
        the rename. The verification after the erase then knows the file holds what the erase wrote and
        need not read it again. Not calling them is safe: the file is searched again."""
        if self._replacing is not None:
            self._replacing(collection)

    def replaced(self, collection: "Collection") -> None:
        """See `replacing`."""
        if self._replaced is not None:
            self._replaced(collection)


class StartedSearch:
    """A search of one collection begun by `Source.start_locate`: calling it yields the records;
    `close()` releases what it started (a grep) when it is not called."""

    def __init__(self, run: Callable[[], Iterable[Record]], jobs: Iterable[Any] = ()):
        self.run = run
        self.jobs = list(jobs)

    def __call__(self) -> Iterable[Record]:
        return self.run()

    def close(self) -> None:
        for job in self.jobs:
            job.close()


class Source:
    """A source that can be searched, exported and checked. Subclasses set `name`, declare their keys,
    and implement `locate`. Every capability below is a class attribute the core reads."""

    name: ClassVar[str] = ""  # the inventory's `connector:` value
    system_keys: ClassVar[dict[str, KeySpec]] = {}  # the keys a system of this source takes
    collection_keys: ClassVar[dict[str, KeySpec]] = {}  # the keys each of its collections takes
    # The system's own keys may describe its one collection (`identities:` at the system's level, the
    # collection named after the system); False: it needs `collections:`.
    implicit_collection: ClassVar[bool] = True
    # Whether identifiers found in its records lead on to other records (False: a mailbox, whose
    # messages name several people); `expand:` in the inventory overrides it.
    default_expand: ClassVar[bool] = True
    # A processor dsarctl cannot reach: never searched nor erased; each request gives the operator a
    # task with the system's `processor:` and `instructions:` and the identifiers of the kinds it lists.
    manual: ClassVar[bool] = False
    # Each collection is a local file or folder at `path:` (required by the loader). The erase's
    # verification compares its state (inode, size, times) with the state the search read, and does not
    # read it again when nothing can have changed. Its erase finds targets by `EraseTarget.digest`,
    # its keys (line numbers, byte ranges, file names in a folder) are places that name no one: the
    # journal keeps them as hints, and a resumed run may pass `key=None`.
    local_files: ClassVar[bool] = False
    # A mailbox: its records are mail messages, their identity fields address headers. The loader refuses
    # link directions on it. A message naming people other than the subject (and the controller) is
    # shared: the collection's `shared:` key (redact | delete | keep, with an `address:` key for the
    # mailbox's own address; declare both, see dsarctl.connectors.mail) says what the erase does, and
    # `redact` reaches `erase` as an EraseTarget with action "redact".
    mailbox: ClassVar[bool] = False
    # Its records may name other people than the one they were found for (a ticket with people in CC):
    # before an erase deletes or masks records, the core calls `find_people` (see Erasable).
    names_people: ClassVar[bool] = False

    def __init__(self, system: "System", inventory: "Inventory"):
        self.system = system
        self.inventory = inventory

    @classmethod
    def implied_collections(cls, options: dict[str, Any], base_dir: "Path") -> dict[str, dict[str, Any]]:
        """Collections the source defines itself, from what its keys name (an `http` system's definition
        file): collection name -> the mapping an inventory collection would hold (`identities`,
        `categories`, `erase`, `description`). The inventory then needs no `collections:`; where it gives
        some, each must be one of these, and its keys (not `identities`) go over them. `base_dir` is the
        inventory's folder. Raise `KeyProblem` for a system key at fault (named at its file:line), or an
        `InventoryError` naming a file of the source's own (a definition's file:line). Default: none."""
        return {}

    @classmethod
    def implied_identities(cls, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Identity kinds the collections of `implied_collections` use, kind -> {type: email | phone |
        string, unique: bool}: the inventory need not declare them (where it does, its declaration wins).
        Called after `implied_collections`. Default: none."""
        return {}

    @classmethod
    def collection_problems(cls, collection: "Collection") -> list[tuple[tuple, str]]:
        """(key path under the collection, why) for what the loaded collection asks that this source
        cannot do (an erase rule `delete` where its definition has no delete request): the inventory then
        fails to load, naming that key's file:line. Default: none."""
        return []

    @classmethod
    def option_problems(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for each of a system's keys that does not go with the others (a mail server's
        unencrypted connection to another host than localhost): the inventory then fails to load, naming
        that key's file:line. `options` holds the system's declared keys, typed."""
        return []

    # -- searching ---------------------------------------------------------------------------------
    def locate(self, collection: "Collection", wanted: Wanted, *, lookup_only: bool = False) -> Iterable[Record]:
        """Every record of `collection` whose searched identity fields (`collection.searched`: kind ->
        field names) hold a value of `wanted` (kind -> normalised values; only kinds the collection
        has), with `matched` the (kind, value) pairs that hit and `identities` every identity value the
        record carries (`collection.identities`). Matching is exact on normalised values:
        `zoe@example.org` never matches `xzoe@example.org.uk`. Records may be yielded lazily; the core
        reads them all, or closes the generator.

        `lookup_only=True`: the caller reads of each record only its key, location, matched and
        identities, never the rest of `data` (`find`): a source may then leave `data` with the identity
        and key fields only, if that is faster."""
        raise NotImplementedError(f"{type(self).__name__}.locate")

    def start_locate(self, collection: "Collection", wanted: Wanted, *, lookup_only: bool = False) -> StartedSearch:
        """Optional acceleration: begin `locate` so that slow I/O runs in the background while other
        collections are searched (the file sources start grep here). The core calls this, then the
        returned search; the default starts nothing."""
        return StartedSearch(lambda: self.locate(collection, wanted, lookup_only=lookup_only))

    def check(self, collection: "Collection") -> list[Finding]:
        """`inventory check --connect` for one collection: reach the source and compare it with the
        inventory (a missing table or column: raise `self.mismatch(...)`, exit 2; unreachable: raise
        `self.fail(...)`, exit 3; advice as warning or info Findings)."""
        return []

    # -- export ------------------------------------------------------------------------------------
    def export_files(self, collection: "Collection", records: list[Record]) -> list[ExportFile]:
        """Files for the access package beyond the JSON and CSV the core writes of every record's `data`
        (mail: each message as an .eml). `records` are the ones `locate` returned."""
        return []

    def close(self) -> None:
        """Release connections and file handles."""

    # -- helpers -----------------------------------------------------------------------------------
    def record(self, collection: "Collection", key: Any, data: dict[str, Any], wanted: Wanted | None = None, *,
               location: str | None = None, digest: str | None = None) -> Record:
        """A Record of `data` with its identity values read as every built-in source reads them: each
        field the inventory names (`collection.identities`: a key of `data`, else a dotted path through
        nested mappings and lists, every element of a list) normalised for its identity kind
        (`dsarctl.identity`: e-mail case-folded, phone numbers in E.164...), and `matched` the values
        of `wanted` found in the searched fields (`collection.searched`). A record of `locate` should
        be yielded only when `matched` is not empty."""
        from .connectors.matching import FieldMatcher

        identities = FieldMatcher(collection, self.inventory).identities(data)
        matched: set[tuple[str, str]] = set()
        if wanted:
            searched = FieldMatcher(collection, self.inventory, collection.searched).identities(data)
            matched = FieldMatcher.matches(searched, wanted)
        return Record(self.system.name, collection.name, key, data, identities, matched, location, digest)

    def fail(self, message: str) -> Exception:
        """A failure of this system (exit 3) with `message`; raise it."""
        from .errors import SourceError

        return SourceError(self.inventory.redact(message), system=self.system.name)

    def mismatch(self, key_path: tuple, message: str) -> Exception:
        """The source lacks what the inventory names at `key_path` (a table, a column); raise it. The
        message starts with file:line and the key."""
        from .errors import MismatchError
        from .inventory.model import dotted

        where = f"{self.inventory.where(key_path)}: {dotted(key_path)}"
        return MismatchError(self.inventory.redact(f"{where}: {message}"), system=self.system.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KeyProblem(Exception):
    """A system key at fault, raised by `Source.implied_collections`: `key` is its path under the system
    (`("auth", "oauth2")`), `why` one line."""

    def __init__(self, key: tuple, why: str):
        super().__init__(why)
        self.key = tuple(key)
        self.why = why


class Erasable:
    """The capability to erase: mix it into a Source (`class Shop(Source, Erasable)`). The core asks
    `isinstance(source, Erasable)`.

    How the core uses it: the plan (from the search's records) is written to a journal before anything
    changes; each system is one unit, run by `erase_system` on its own thread with its own instance;
    a unit that raises is reported failed, the other units still run, and the next `erase` runs it
    again from the journal. So an erase must be idempotent: a target already deleted counts as
    `missing`, one already masked as `unchanged`."""

    # Erase action of a collection whose inventory names none (mailboxes: delete).
    default_erase: ClassVar[str | None] = None

    def scan(self, collection: "Collection") -> Iterable[Record]:
        """Every record of `collection`, with its identities. Used by a replay after a backup restore. A
        resumed erase does not need it: the journal keeps each target's key sealed (encrypted with a key
        derived from the install key) and hands the keys back, in the types the search gave (int, str,
        tuple, bytes, Decimal, date/time, UUID; a key holding another type is found again by `scan`, as
        are those of journals written before keys were sealed). So `erase` may get the key of a record
        already gone: count it `missing`."""
        raise NotImplementedError(f"{type(self).__name__}.scan")

    def erase(self, collection: "Collection", targets: list[EraseTarget], context: EraseContext) -> EraseOutcome:
        """Apply `targets` to one collection: `delete` removes the record; `mask` sets each of
        `target.fields` (dotted paths into nested data allowed) to `context.masker.mask(data,
        fields)`'s value; `redact` (`mailbox` only) takes the subject out of a shared message. Change
        only the targets, each only if it is still the record found (its key, and its digest when
        given), and either all of a collection or nothing where the source allows (a transaction, an
        atomic rename). Call `context.checkpoint(...)` between steps."""
        raise NotImplementedError(f"{type(self).__name__}.erase")

    def erase_system(self, work: list[tuple["Collection", list[EraseTarget]]],
                     context: EraseContext) -> dict[str, EraseOutcome]:
        """Apply every collection's targets: collection name -> outcome. Override to do it all at once
        (SQL: one transaction per system); the default erases one collection after the other."""
        return {collection.name: self.erase(collection, targets, context) for collection, targets in work}

    def find_people(self, collection: "Collection", records: list[Record]) -> None:
        """Optional (with `names_people = True`): set `record.people` on each of `records`, the ones an
        erase plans to delete or mask: identity kind -> normalised values of everyone the record names,
        the controller's own staff left out (who cannot be told apart counts as another person). The
        plan then leaves a record naming anyone other than the subject as it is. Raising fails nothing:
        the plan keeps every one of `records` and says it could not tell who else they name."""

    def read_records(self, collection: "Collection", keys: list[Any]) -> dict[Any, dict[str, Any]] | None:
        """Optional: the current `data` of the records with `keys` that are still there (key -> data),
        read by key, for the check after an erase that masked them. None (the default): the source
        cannot read a record by its key, and the check relies on searching again."""
        return None

    def mask_problems(self, collection: "Collection") -> list[tuple[str, str]]:
        """Optional: (field, why) for each field of the collection's erase rule (`collection.erase.fields`)
        that the source cannot take as the rule says (nulling a NOT NULL column, a hash in an INTEGER
        column, no such column). The erase is then refused before anything is written, and `inventory
        check --connect` reports it (exit 2). Sources whose fields take any value have none."""
        return []


# -- the core's side: what a source returns is checked where the core takes it ------------------------
# A plugin's method that returns the wrong thing (an `erase` without `return outcome`, a `locate` that
# yields dicts) fails its system in one line naming the method and what it gave (`crm: Shop.erase
# returned None, not an EraseOutcome`), exit 3, like any exception the source raises: never a crash.

def _what(value: Any) -> str:
    """What a source gave, by its type only: its value may hold personal data."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeio" else f"a {name}"


def _broken(source: "Source", method: str, what: str) -> Exception:
    from .errors import SourceError

    return SourceError(source.inventory.redact(f"{type(source).__name__}.{method} {what}"), system=source.system.name)


def checked_records(source: "Source", method: str, records: Iterable[Any]) -> Iterator[Record]:
    """`records` (what `locate` or `scan` yields), each checked to be a Record."""
    if records is None or isinstance(records, (str, bytes, dict)) or not hasattr(records, "__iter__"):
        raise _broken(source, method, f"returned {_what(records)}, not an iterable of Records")
    for record in records:
        if not isinstance(record, Record):
            raise _broken(source, method, f"yielded {_what(record)}, not a Record")
        yield record


def checked_outcomes(source: "Source", work: list[tuple["Collection", list[EraseTarget]]],
                     outcomes: Any) -> dict[str, EraseOutcome]:
    """What `erase_system` returned, checked: an EraseOutcome for each collection of `work`. The message
    names `erase` when the source does not override `erase_system` (its default calls `erase`)."""
    own = type(source).erase_system is not Erasable.erase_system
    if not isinstance(outcomes, dict):
        raise _broken(source, "erase_system", f"returned {_what(outcomes)}, not a dict of EraseOutcomes")
    for collection, _targets in work:
        outcome = outcomes.get(collection.name)
        if not isinstance(outcome, EraseOutcome):
            if own:
                raise _broken(source, "erase_system", f"returned {_what(outcome)} for collection "
                                                      f"'{collection.name}', not an EraseOutcome")
            raise _broken(source, "erase", f"returned {_what(outcome)}, not an EraseOutcome "
                                           f"(collection '{collection.name}')")
    return outcomes


def checked_read_records(source: "Source", collection: "Collection", keys: list[Any]) -> dict[Any, dict] | None:
    """`source.read_records(collection, keys)`, checked: None, or a dict of key -> data (a dict)."""
    rows = source.read_records(collection, keys)
    if rows is not None:
        if not isinstance(rows, dict):
            raise _broken(source, "read_records", f"returned {_what(rows)}, not a dict (key -> data) or None")
        for data in rows.values():
            if not isinstance(data, dict):
                raise _broken(source, "read_records", f"returned {_what(data)} as a record's data, not a dict")
    return rows
