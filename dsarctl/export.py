"""The access package: one zip answering GDPR Art. 15 (access) and Art. 20 (portability).

Layout of the zip:

- ``data/<system>/<collection>.json`` and ``.csv``: every field of every matched record;
  ``data/<system>/<collection>/<name>``: the connector's own files (whole messages as ``.eml``).
- ``index.html``: the Art. 15(1)(a)-(h) information, readable offline, with no external resources.
- ``manifest.json``: request, identifiers, counts and status per collection, and the SHA-256 of every
  other file in the zip.

The zip is written to a temporary file (mode 0600) next to the target, fsynced, then hard-linked to its
final name, which fails when that name exists: a crash never leaves half a zip under the final name
and an existing file is never replaced. Connector files are streamed into the zip chunk by chunk while
being hashed, so memory does not grow with the size of a mailbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from . import __version__
from .boundary import refuse_ambiguous
from .connectors import Record, close_quietly, failure, guarded, open_connector
from .errors import DsarError, UsageError
from .inventory.art15 import incomplete
from .inventory.model import Collection, Inventory, System
from .retention import kept_until_range
from .search import CollectionResult, FindResult

FORMAT = "dsarctl-access-package/1"
HTML_ROWS = 200  # records shown per collection in index.html; the data files always hold all of them
_CHUNK = 1 << 16
_TAKEN = "{} already exists; an export never overwrites (choose another name with -o)"


class TargetExistsError(UsageError):
    """The zip's file name is taken: an export never overwrites."""


# -- values -----------------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """`value` as JSON-native types: dates as ISO text, whole decimals as integers, other decimals as
    text (no float rounding of money), bytes as hex, sets sorted; dicts and lists recursively."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in sorted(value, key=str)]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        return format(value.normalize(), "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys ({"user": {"email": x}} -> {"user.email": x}); lists stay whole."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def cell(value: Any) -> str:
    """A flattened JSON value as CSV/HTML text: lists and objects as JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def spreadsheet_cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as the text it is and never runs (OWASP CSV injection):
    text starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading single quote,
    which makes a spreadsheet take the cell as text. Phone numbers get it too: a spreadsheet reads
    `+442079460958` as the number 442079460958 and `+1-555-0100` as a sum. Only a plain number that
    does not start with `+` (`-12.50`, `-3`) stays as it is: it holds nothing to run, and a spreadsheet
    reads it as the same number."""
    if not text or text[0] not in _FORMULA_START:
        return text
    if text[0] != "+" and _NUMBER.match(text):
        return text
    return "'" + text


_FORMULA_START = "=+-@\t\r"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_PHONE_CHARS = frozenset("0123456789 .-/()")


def _phone_number(text: str) -> bool:
    """A phone number as people write one in international form: `+`, a digit, then only digits,
    spaces, dots, hyphens, slashes and brackets, 7 to 15 digits in all (E.164)."""
    return (len(text) > 1 and text[0] == "+" and text[1] in "0123456789" and _PHONE_CHARS.issuperset(text[1:])
            and 7 <= sum(c in "0123456789" for c in text) <= 15)


def utf8(text: str) -> bytes:
    """`text` in UTF-8; a lone surrogate (a JSON `\\udc80` escape, which UTF-8 cannot hold) as U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_utf8(value: Any, **options: Any) -> bytes:
    """`value` as JSON in UTF-8, every string exactly: one holding a lone surrogate makes the document
    spell its non-ASCII characters as \\u escapes (UTF-8 cannot hold a lone surrogate; JSON can)."""
    text = json.dumps(value, ensure_ascii=False, **options)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, **options).encode("ascii")


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def safe_name(name: str) -> str:
    """One path component for a zip entry: no separators, no `..`, no leading dot, never empty."""
    text = _UNSAFE.sub("_", str(name)).strip("._") or "_"
    return text[:120]


# -- result -----------------------------------------------------------------------------------------

@dataclass
class PackageFile:
    path: str  # inside the zip
    sha256: str
    bytes: int
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if not self.complete:
            out["complete"] = False
        return out


@dataclass
class ExportResult:
    path: Path
    sha256: str
    bytes: int
    manifest: dict[str, Any]
    find: FindResult
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # system, collection, reason

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "file": str(self.path),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "request_id": m["request_id"],
            "subject": m["subject"],
            "generated_at": m["generated_at"],
            "total": m["total"],
            "ambiguous": m["ambiguous"],
            "verified": m["verified"],
            "incomplete": m["incomplete"],
            "systems": [
                {k: s[k] for k in ("system", "status", "count") if k in s}
                | ({"collections": [{k: c[k] for k in ("collection", "status", "count", "error") if k in c}
                                    for c in s["collections"]]} if "collections" in s else {})
                for s in m["systems"]
            ],
            "failures": [{"system": s, "collection": c, "error": e} for s, c, e in self.failures],
            "files": len(m["files"]) + 1,
        }


# -- names ------------------------------------------------------------------------------------------

def default_filename(subject: str, request_id: str | None, now: datetime) -> str:
    """`access-<request>.zip`, else `access-<subject>-<UTC timestamp>.zip`."""
    if request_id:
        return f"access-{safe_name(request_id)}.zip"
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"access-{safe_name(subject)}-{stamp}.zip"


# -- writing ----------------------------------------------------------------------------------------

def write_package(
    inventory: Inventory,
    result: FindResult,
    target: Path | str,
    *,
    now: datetime,
    request_id: str | None = None,
    verified: bool = False,
    regime: str | None = None,
) -> ExportResult:
    """Write the access package for `result` to `target` (never replacing an existing file).

    `verified`: the request's subject has proven their identity; the manifest says so (`"verified"`), and
    an unverified package carries a banner in index.html. `"incomplete"` lists the Art. 15 items the
    inventory does not record for the systems the package describes: those where something was found or
    that failed, and the processors (inventory/art15.py). `regime`: the request's, when it is not the
    controller's (an eu-gdpr or a US state request to a UK controller): the rights and the authority to
    complain to in index.html are that regime's.

    RefusedError when `result` is ambiguous (two values of a unique kind): the package could hold another
    person's records; the operator names the account with `--id` first."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    refuse_ambiguous([result], "exporting")
    target = Path(target).absolute()
    check_target(target)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write in {target.parent}: {exc.strerror}") from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w+b") as handle:
            builder = _Builder(inventory, result, now, request_id, verified, regime)
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
                manifest = builder.build(zf)
            handle.flush()
            os.fsync(handle.fileno())
            handle.seek(0)
            digest, size = _hash_stream(iter(lambda: handle.read(_CHUNK), b""))
        _publish(tmp, target)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return ExportResult(target, digest, size, manifest, result, builder.failures)


def check_target(target: Path) -> None:
    if os.path.lexists(target):
        raise TargetExistsError(_TAKEN.format(target))
    if not target.parent.is_dir():
        raise UsageError(f"folder not found: {target.parent}")


def _publish(tmp: Path, target: Path) -> None:
    """Give the finished temp file its final name, failing if that name exists."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise TargetExistsError(_TAKEN.format(target)) from None
    except OSError:
        # No hard links on this filesystem: reserve the name exclusively, then move the file onto it.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise TargetExistsError(_TAKEN.format(target)) from None
        os.replace(tmp, target)
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _hash_stream(chunks: Iterable[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class _Builder:
    """Writes the entries of one package into an open ZipFile and keeps what the manifest needs."""

    def __init__(self, inventory: Inventory, result: FindResult, now: datetime, request_id: str | None,
                 verified: bool = False, regime: str | None = None):
        self.inventory = inventory
        self.verified = verified
        self.regime = regime
        self.result = result
        self.now = now.astimezone(timezone.utc)
        self.request_id = request_id
        self.files: list[PackageFile] = []
        self.failures: list[tuple[str, str, str]] = list(result.failures)
        self.used: set[str] = set()

    # entries
    def _name(self, *parts: str) -> str:
        name = "/".join(safe_name(p) for p in parts)
        stem, dot, ext = name.rpartition(".")
        n = 1
        while name.lower() in self.used:  # two names that sanitise alike
            n += 1
            name = f"{stem}-{n}.{ext}" if dot else f"{ext}-{n}"
        self.used.add(name.lower())
        return name

    def _entry(self, name: str, chunks: Iterable[bytes]) -> PackageFile:
        info = zipfile.ZipInfo(name, date_time=self.now.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        digest = hashlib.sha256()
        entry = PackageFile(name, "", 0, complete=False)
        self.files.append(entry)
        try:
            with self.zf.open(info, "w") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    entry.bytes += len(chunk)
            entry.complete = True
        finally:
            entry.sha256 = digest.hexdigest()
        return entry

    def build(self, zf: zipfile.ZipFile) -> dict[str, Any]:
        self.zf = zf
        collections: dict[tuple[str, str], dict[str, Any]] = {}
        for sres in self.result.systems.values():
            if sres.system.is_manual:
                continue
            connector = None
            try:
                for cres in sres.collections.values():
                    info = collections[(sres.system.name, cres.collection.name)] = {"files": []}
                    if cres.status != "ok" or not cres.records:
                        continue
                    base = ("data", sres.system.name, cres.collection.name)
                    info["json"] = self._entry(self._name(*base[:-1], base[-1] + ".json"),
                                               _json_chunks(cres.records)).path
                    info["csv"] = self._entry(self._name(*base[:-1], base[-1] + ".csv"),
                                              _csv_chunks(cres.records)).path
                    try:
                        if connector is None:
                            connector = open_connector(sres.system, self.inventory)
                        # whatever the source raises (a plugin's bug too) fails this collection only
                        extras = partial(connector.export_files, cres.collection, cres.records)
                        for extra in guarded(extras, sres.system.name, self.inventory):
                            path = self._name(*base, extra.name)
                            info["files"].append(path)
                            self._entry(path, guarded(extra.chunks, sres.system.name, self.inventory))
                    except (DsarError, OSError) as exc:
                        info["error"] = f"while exporting files: {failure(self.inventory, exc)}"
                        self.failures.append((sres.system.name, cres.collection.name, info["error"]))
            finally:
                if connector is not None:
                    close_quietly(connector)
        manifest = self._manifest(collections)
        html = render_index(self.inventory, self.result, manifest, collections, regime=self.regime)
        self._entry("index.html", [utf8(html)])
        manifest["files"] = [f.to_dict() for f in self.files]
        self.files.append(PackageFile("manifest.json", "", 0))  # not hashed by itself
        info = zipfile.ZipInfo("manifest.json", date_time=self.now.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, json_utf8(manifest, indent=2) + b"\n")
        return manifest

    def _manifest(self, collections: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        systems = []
        for sres in self.result.systems.values():
            entry: dict[str, Any] = {"system": sres.system.name, "connector": sres.system.connector}
            if sres.system.is_manual:
                entry.update(status="manual", count=None, task=self.result.manual_task(sres.system))
                systems.append(entry)
                continue
            colls = []
            for cres in sres.collections.values():
                info = collections.get((sres.system.name, cres.collection.name), {})
                c: dict[str, Any] = {"collection": cres.collection.name, "status": cres.status,
                                     "count": len(cres.records)}
                if cres.status == "failed":
                    c["error"] = cres.error or "failed"
                elif info.get("error"):
                    c["status"] = "failed"
                    c["error"] = info["error"]
                for key in ("json", "csv"):
                    if info.get(key):
                        c[key] = info[key]
                if info.get("files"):
                    c["files"] = info["files"]
                colls.append(c)
            status = "failed" if any(c["status"] == "failed" for c in colls) else "ok"
            entry.update(status=status, count=sres.count, collections=colls)
            systems.append(entry)
        return {
            "format": FORMAT,
            "request_id": self.request_id,
            "subject": [str(i) for i in self.result.given],
            "identifiers": [p.to_dict() for p in self.result.provenance.values()],
            "ambiguous": self.result.ambiguous,
            "verified": self.verified,
            "incomplete": incomplete(self.inventory, [s["system"] for s in systems if s["status"] != "ok" or s["count"]]),
            "generated_at": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dsarctl_version": __version__,
            "inventory_sha256": self.inventory.sha256,
            "controller": self.inventory.controller.name,
            "total": self.result.total,
            "systems": systems,
            "files": [],
        }


def _json_chunks(records: list[Record]) -> Iterator[bytes]:
    """A JSON array of the records' data, one record at a time."""
    yield b"[\n"
    for i, record in enumerate(records):
        yield (b"" if i == 0 else b",\n") + json_utf8(plain(record.data), indent=2)
    yield b"\n]\n"


def csv_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Union of the keys in record order."""
    return list(dict.fromkeys(k for row in rows for k in row))


def _csv_chunks(records: list[Record]) -> Iterator[bytes]:
    """CSV with a UTF-8 byte order mark (so spreadsheet programs read the accents right), safe to open
    in one: no cell (header included) is run as a formula (`spreadsheet_cell`); the JSON beside it
    keeps every value exactly."""
    rows = [flatten(plain(r.data)) for r in records]
    columns = csv_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(c) for c in columns])
    yield "\ufeff".encode("utf-8") + utf8(buffer.getvalue())
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_cell(cell(row.get(c))) for c in columns])
        yield utf8(buffer.getvalue())


# -- index.html -------------------------------------------------------------------------------------

# Default supervisory authorities when the inventory names none, by deadline regime.
AUTHORITIES: dict[str, dict[str, str]] = {
    "uk-gdpr": {"name": "the Information Commissioner's Office (ICO)",
                "url": "https://ico.org.uk/make-a-complaint/"},
    "eu-gdpr": {"name": "the data protection authority of the EU/EEA country where you live, work, or where "
                        "the alleged infringement took place",
                "url": "https://www.edpb.europa.eu/about-edpb/about-edpb/members_en"},
    "ch-fadp": {"name": "the Federal Data Protection and Information Commissioner (FDPIC)",
                "url": "https://www.edoeb.admin.ch/"},
    "br-lgpd": {"name": "the Autoridade Nacional de Proteção de Dados (ANPD)",
                "url": "https://www.gov.br/anpd/"},
    "ca-pipeda": {"name": "the Office of the Privacy Commissioner of Canada",
                  "url": "https://www.priv.gc.ca/"},
    "ca-qc": {"name": "the Commission d'accès à l'information du Québec",
              "url": "https://www.cai.gouv.qc.ca/"},
    "us-ca": {"name": "the California Privacy Protection Agency", "url": "https://cppa.ca.gov/"},
}
_GENERIC_AUTHORITY = {"name": "the data protection supervisory authority (or attorney general) responsible "
                              "where you live", "url": ""}

GDPR_RIGHTS = [
    ("Access (Art. 15)",
     "to receive a copy of your personal data and this information — this package."),
    ("Rectification (Art. 16)",
     "to have inaccurate data corrected and incomplete data completed."),
    ("Erasure (Art. 17)",
     ("to have your data deleted where there is no longer a reason to keep it. Records we must keep by law "
      "are marked on this page with the reason and how long.")),
    ("Restriction (Art. 18)",
     "to have the use of your data limited while accuracy or an objection is checked."),
    ("Data portability (Art. 20)",
     ("to receive the data you gave us in a machine-readable format and have it sent to another "
      "organisation: the JSON and CSV files in the data folder.")),
    ("Objection (Art. 21)",
     "to object to processing based on legitimate interests, and at any time to direct marketing."),
    ("Withdrawing consent (Art. 7(3))",
     ("where we rely on your consent, to withdraw it at any time, as easily as you gave it; this does not "
      "affect what was done before.")),
    ("Automated decisions (Art. 22)",
     ("not to be subject to a decision based solely on automated processing that has legal or similarly "
      "significant effects on you.")),
]
PLAIN_RIGHTS = [
    ("Access", "to know what personal information we hold about you and receive a copy — this package."),
    ("Correction", "to have inaccurate information corrected."),
    ("Deletion", "to have your information deleted, except what we must keep by law."),
    ("Portability", "to receive your information in a machine-readable format: the JSON and CSV files."),
    ("Opting out and objecting",
     ("to opt out of the sale or sharing of your information, of targeted advertising and of marketing, and "
      "to withdraw consent you gave.")),
    ("No retaliation", "not to be treated differently for using these rights."),
]


def _safe_url(url: str | None) -> str | None:
    if url and re.match(r"^(https?://|mailto:)", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def authority_for(inventory: Inventory, regime: str | None = None) -> dict[str, Any]:
    """The supervisory authority to complain to: the inventory's, else a default for the regime; for a
    request under another regime than the controller's, that regime's (as the letters name it)."""
    if regime and regime not in (inventory.controller.regime, "custom"):
        from .letters.context import authority

        other = authority(regime, inventory)
        return {"name": other["name"], "url": _safe_url(other.get("url")), "from_inventory": False}
    given = dict(inventory.controller.authority or {})
    default = AUTHORITIES.get(inventory.controller.regime, _GENERIC_AUTHORITY)
    out = {**given}
    out["name"] = given.get("name") or default["name"]
    out["url"] = _safe_url(given.get("url")) or (None if given.get("name") else _safe_url(default["url"]))
    out["from_inventory"] = bool(given.get("name"))
    return out


def _until(rule, records: list[Record], today: date) -> str | None:
    """When retained records may go: "until 2030-01-15" or "until 2030-01-15 to 2032-07-18"."""
    if rule is None or rule.action != "retain" or rule.until is None:
        return None
    span = kept_until_range(rule, (r.data for r in records), today)
    if span is None:
        return f"until {rule.until.text}"
    first, last = span[0].isoformat(), span[1].isoformat()
    return f"until {first}" if first == last else f"until {first} to {last}, depending on the record"


def _system_view(inventory: Inventory, sres, manifest_system: dict[str, Any],
                 collections: dict[tuple[str, str], dict[str, Any]], today: date) -> dict[str, Any]:
    system: System = sres.system
    view: dict[str, Any] = {
        "name": system.name, "description": system.description, "status": manifest_system["status"],
        "count": manifest_system.get("count"), "purposes": system.purposes,
        "lawful_basis": system.lawful_basis, "retention": system.retention, "recipients": system.recipients,
        "source": system.source,
        "processor": system.processor, "collections": [],
        "automated_decisions": system.automated_decisions if "automated_decisions" in system.declared else None,
        "transfers": system.transfers if "transfers" in system.declared else None,
    }
    if system.is_manual:
        return view
    for cm in manifest_system["collections"]:
        cres: CollectionResult = sres.collections[cm["collection"]]
        coll: Collection = cres.collection
        rows = [flatten(plain(r.data)) for r in cres.records[:HTML_ROWS]]
        columns = csv_columns(rows)
        rule = coll.erase
        view["collections"].append({
            "name": coll.name, "description": coll.description, "status": cm["status"], "count": cm["count"],
            "error": cm.get("error"), "categories": list(dict.fromkeys(coll.categories.values())),
            "retained": rule.reason if rule is not None and rule.action == "retain" else None,
            "retained_until": _until(rule, cres.records, today),
            "columns": columns, "rows": [[cell(row.get(c)) for c in columns] for row in rows],
            "uncategorised": _uncategorised(coll, columns),
            "more": max(0, cm["count"] - HTML_ROWS),
            "json": cm.get("json"), "csv": cm.get("csv"), "files": cm.get("files", []),
        })
    return view


def looks_like_identifier(text: str) -> bool:
    """A value index.html keeps on one line (never broken between two letters): an e-mail address,
    a phone number, or any text without whitespace of at most 80 characters (ids, dates, amounts,
    file names). Longer text without spaces (a token, a URL) and text with spaces wrap."""
    if not text:
        return False
    if _phone_number(text):
        return True
    if any(c.isspace() for c in text):
        return False
    return len(text) <= 80 or _EMAIL.fullmatch(text) is not None


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


def _uncategorised(coll: Collection, columns: list[str]) -> list[str]:
    """The record fields that the collection's field -> category mapping does not describe (none when its
    categories describe the collection as a whole)."""
    cats = coll.categories
    if not cats or all(f == label for f, label in cats.items()):
        return []
    return [c for c in columns if c not in cats]


def render_index(inventory: Inventory, result: FindResult, manifest: dict[str, Any],
                 collections: dict[tuple[str, str], dict[str, Any]], regime: str | None = None) -> str:
    """index.html of the package (Jinja2, autoescape on: the subject's data may contain markup); `regime`:
    the request's (default the controller's), for the rights and the authority."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("dsarctl", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.tests["identifier"] = looks_like_identifier
    by_name = {s["system"]: s for s in manifest["systems"]}
    generated = datetime.strptime(manifest["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    systems = [_system_view(inventory, sres, by_name[name], collections, generated.date())
               for name, sres in result.systems.items()]
    regime = regime or inventory.controller.regime
    consent = [s["description"] or s["name"] for s in systems
               if s["lawful_basis"] and "consent" in s["lawful_basis"].lower()]
    controller = inventory.controller
    return env.get_template("index.html.j2").render(
        controller=controller,
        contact_url=_safe_url(controller.contact if "://" in (controller.contact or "") else
                              f"mailto:{controller.contact}" if "@" in (controller.contact or "") else None),
        manifest=manifest,
        prepared=f"{generated.day} {generated:%B %Y, %H:%M} UTC",
        found=[s for s in systems if s["status"] != "manual" and (s["count"] or s["status"] == "failed")],
        not_found=[s for s in systems if s["status"] == "ok" and not s["count"]],
        manual=[s for s in systems if s["status"] == "manual"],
        failed=[(s, c) for s in systems for c in s["collections"] if c["status"] == "failed"],
        identifiers=manifest["identifiers"],
        rights=GDPR_RIGHTS if regime in ("eu-gdpr", "uk-gdpr") else PLAIN_RIGHTS,
        consent_systems=consent,
        authority=authority_for(inventory, regime),
        gdpr=regime in ("eu-gdpr", "uk-gdpr"),
        html_rows=HTML_ROWS,
    )
