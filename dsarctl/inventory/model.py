"""The inventory as typed objects: what the loader returns and every other module reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..identity import IdentityKind
    from ..retention import Until

ERASE_ACTIONS = ("delete", "anonymize", "retain")
FIELD_OPS = ("null", "redact", "hash")
REQUEST_TYPES = ("access", "erasure", "rectification", "restriction", "objection", "portability", "appeal")


@dataclass(frozen=True)
class EraseRule:
    """What `erase` does to a collection's records."""

    action: str  # delete | anonymize | retain
    fields: dict[str, str] = field(default_factory=dict)  # field -> null | redact | hash
    reason: str | None = None  # retain only
    until: Until | None = None  # retain only

    def describe(self) -> str:
        if self.action == "delete":
            return "delete"
        ops = ", ".join(f"{f}: {op}" for f, op in self.fields.items())
        if self.action == "anonymize":
            return f"anonymize ({ops})"
        text = f"retain: {self.reason}"
        if self.until:
            text += f" (until {self.until.text})"
        if ops:
            text += f"; mask {ops}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.fields:
            out["fields"] = dict(self.fields)
        if self.reason:
            out["reason"] = self.reason
        if self.until:
            out["until"] = self.until.text
        return out


@dataclass
class Collection:
    """A table, a file or a mailbox: the unit that is searched, exported and erased."""

    name: str
    system: "System"
    identities: dict[str, list[str]]  # identity kind -> field names (dotted paths for JSON), every direction
    categories: dict[str, str]  # field (or category label) -> category label
    erase: EraseRule | None
    suppress: bool = False
    expand: bool = True  # follow the identifiers its records carry
    description: str | None = None
    table: str | None = None  # sql: the table's name (defaults to the collection name)
    schema: str | None = None  # sql: schema-qualified tables
    key: list[str] | None = None  # sql: primary key override
    path: Path | None = None  # file connectors: absolute path
    options: dict[str, Any] = field(default_factory=dict)  # connector-specific keys
    key_path: tuple = ()  # where it sits in the inventory, for error messages
    created: str | None = None  # the field holding when a record was created (replay leaves newer ones)
    # Link directions (identities: {kind: {field: F, search: false}} / {..., follow: false}), as
    # (kind, field) pairs: a field in `unsearched` is never searched by, only read for identifiers to
    # follow; a field in `unfollowed` is searched by, but the values found in it are not followed.
    unsearched: frozenset = frozenset()
    unfollowed: frozenset = frozenset()

    @property
    def qualified_name(self) -> str:
        return f"{self.system.name}.{self.name}"

    @property
    def searched(self) -> dict[str, list[str]]:
        """identity kind -> the fields this collection is searched by (every field but `search: false`)."""
        return self._fields_but(self.unsearched)

    @property
    def followed(self) -> dict[str, list[str]]:
        """identity kind -> the fields whose values are followed to other records (all but `follow: false`)."""
        return self._fields_but(self.unfollowed)

    def _fields_but(self, left_out: frozenset) -> dict[str, list[str]]:
        if not left_out:
            return self.identities
        out = {kind: [f for f in fields if (kind, f) not in left_out] for kind, fields in self.identities.items()}
        return {kind: fields for kind, fields in out.items() if fields}

    def direction(self, kind: str, field: str) -> str:
        """'both', 'follow only' (search: false) or 'search only' (follow: false)."""
        if (kind, field) in self.unsearched:
            return "follow only"
        if (kind, field) in self.unfollowed:
            return "search only"
        return "both"


@dataclass
class System:
    """One source of personal data (a database, a file, a mailbox, a processor)."""

    name: str
    connector: str
    collections: dict[str, Collection]
    description: str | None = None
    owner: str | None = None
    purposes: list[str] = field(default_factory=list)
    lawful_basis: str | None = None
    retention: str | None = None
    recipients: list[str] = field(default_factory=list)
    source: str | None = None  # where the data came from (Art. 15(1)(g))
    url: str | None = None  # sql
    path: Path | None = None  # file connectors
    processor: str | None = None  # manual
    instructions: dict[str, str] = field(default_factory=dict)  # manual: request type (or "default") -> text
    always_ask: bool = False  # manual: a task even when nothing of the subject was found elsewhere
    identity_kinds: list[str] = field(default_factory=list)  # manual: which identifiers to hand over
    options: dict[str, Any] = field(default_factory=dict)
    key_path: tuple = ()
    is_manual: bool = False  # its source is `manual` (dsarctl.sources.Source.manual): a task, never searched
    automated_decisions: list[dict[str, str]] = field(default_factory=list)  # Art. 15(1)(h) (inventory/art15.py)
    transfers: list[dict[str, str]] = field(default_factory=list)  # Art. 15(2)
    declared: frozenset = frozenset()  # the Art. 15 keys written for it (a key left out is not "none")

    def instruction_for(self, request_type: str | None) -> str | None:
        """What the operator must do at this processor for a request of `request_type` (None: any)."""
        return self.instructions.get(request_type or "access") or self.instructions.get("default")

    def display_url(self) -> str | None:
        """The URL without its password, for output and logs."""
        if not self.url:
            return None
        return redact_url(self.url)


@dataclass
class Controller:
    """Who answers requests, and the defaults their deadlines follow (`controller:`)."""

    name: str
    contact: str
    timezone: str = "UTC"
    regime: str = "eu-gdpr"
    holidays: str | None = None
    address: str | None = None
    dpo: str | None = None
    authority: dict[str, str] = field(default_factory=dict)  # supervisory authority: name, url, ...
    domains: list[str] = field(default_factory=list)  # the controller's own mail domains (subdomains too)
    smtp: dict[str, Any] | None = None  # `letter --send`: host, port, tls, username, password, from
    letters: Path | None = None  # the company's letter templates (None: letters/ beside the inventory)
    # Art. 15(1)(h) and 15(2) for every system that does not say otherwise; None: not written
    automated_decisions: list[dict[str, str]] | None = None
    transfers: list[dict[str, str]] | None = None


@dataclass
class Inventory:
    """A loaded inventory.yaml: the controller's settings, identifier kinds and systems."""

    path: Path
    sha256: str  # of the file's bytes; empty when settings_only
    version: int
    controller: Controller
    audit_path: Path
    identities: dict[str, IdentityKind]
    systems: dict[str, System]
    custom_regime: dict[str, Any] | None = None
    secrets: frozenset[str] = frozenset()  # values never to print (database passwords)
    lines: dict[tuple, int] = field(default_factory=dict, repr=False)
    settings_only: bool = False  # from load_settings: no identities, no systems

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def where(self, key_path: tuple) -> str:
        """`file:line` of a key path (the nearest enclosing key that has a line)."""
        probe = tuple(key_path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{self.path.name}:{line}" if line else str(self.path.name)

    def redact(self, text: str) -> str:
        """Remove every secret from a message before it is shown or logged."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def collections(self):
        for system in self.systems.values():
            yield from system.collections.values()


def redact_url(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]*:)([^@]*)@", r"\1***@", url)


def dotted(key_path: tuple) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in key_path).replace(".[", "[")
