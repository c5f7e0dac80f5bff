"""Mailboxes: mbox files and Maildir folders.

Identity fields are header names (from, to, cc, reply-to, ...). Headers are parsed the way a mail
client would: display names, RFC 2047 encoded words, several addresses in one header. Message bodies are
never searched (a mention of an address in a text is not the person's record). Messages are read one at
a time and handed to the export as raw bytes, so memory does not grow with the mailbox.

mbox: a message starts at a line beginning with "From " at the start of the file or after an empty
line; ">From " lines inside bodies are kept exactly as they are.
"""

from __future__ import annotations

import hashlib
import os
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from functools import lru_cache
from typing import Iterable, Iterator

from .base import Connector, EraseOutcome, ExportFile, Finding, KeySpec, Record, Wanted
from .bytescan import FilesJob, LinesJob, needles_for
from .files import display_path, run_started, source_errors, start_file_search
from .matching import FieldMatcher

_KEYS = {"path": KeySpec("path", "The mbox file or Maildir folder, relative to the inventory.")}
SUMMARY_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id")
_CHUNK = 1 << 16


def decode_words(value: str) -> str:
    """RFC 2047 encoded words to text; the input unchanged when it cannot be decoded."""
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def header_addresses(values: Iterable[str]) -> list[str]:
    """Every address in some header values, display names and encoded words understood."""
    out: list[str] = []
    for value in values:
        out.extend(_value_addresses(str(value)))
    return out


@lru_cache(maxsize=4096)
def _value_addresses(value: str) -> tuple[str, ...]:
    """The addresses of one header value (cached: the mailbox's own address heads half the messages, and
    the stdlib parser takes ~10 µs a value)."""
    found = [addr for _name, addr in getaddresses([value]) if addr]
    if not any("@" in a for a in found) and "=?" in value:
        # a whole address hidden in an encoded word (not standard, but seen in the wild)
        found = [addr for _name, addr in getaddresses([decode_words(value)]) if addr]
    return tuple(found)


def mask_message(raw: bytes, fields: dict[str, str], masker, *, mbox: bool = False) -> bytes:
    """A message with header fields (`from`, `subject`, ...) and `body` masked: `null` drops a header
    (and empties the body), `redact` writes the placeholder, `hash` a keyed hash. Other headers and the
    message structure are kept. With `mbox`, body lines starting with "From " are escaped as ">From "."""
    from email.parser import BytesParser

    message = BytesParser(policy=compat32).parsebytes(raw)
    for field, op in fields.items():
        if field.lower() == "body":
            text = masker.value(op, "body") or ""
            for header in ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition"):
                del message[header]
            message["Content-Type"] = 'text/plain; charset="utf-8"'
            message.set_payload(text + "\n")
            continue
        values = message.get_all(field)
        if not values:
            continue
        name = next(k for k in message.keys() if k.lower() == field.lower())  # keep the header's spelling
        del message[field]
        for value in values:
            new = masker.value(op, decode_words(str(value)))
            if new is not None:
                message[name] = str(new)
    out = message.as_bytes()
    if mbox:
        head, sep, body = out.partition(b"\n\n")
        body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in body.split(b"\n"))
        out = head + sep + body
    return out if out.endswith(b"\n") else out + b"\n"


class _MailMixin:
    """Shared by mbox and Maildir: header parsing and matching."""

    system_keys = _KEYS
    collection_keys = _KEYS
    is_file = True
    is_mailbox = True
    default_erase = "delete"
    default_expand = False  # a message names several people: its other addresses are not the subject's

    def _needles(self, collection, wanted: Wanted):
        """The byte prefilter's needles (see `bytescan`): the searched addresses, and `=?` since an
        address may hide in an RFC 2047 encoded word; None when no exact byte test exists."""
        return needles_for(collection, self.inventory, wanted, extra=(b"=?",))

    def _identity_headers(self, collection) -> set[bytes]:
        return {field.lower().encode("ascii", "replace") for fields in collection.identities.values()
                for field in fields}

    @staticmethod
    def _may_match(header_bytes: bytes, needles) -> bool:
        return needles is None or b"=?" in header_bytes or needles.holds(header_bytes)

    def _headers(self, header_bytes: bytes):
        return BytesHeaderParser(policy=compat32).parsebytes(header_bytes)

    def _record_view(self, message) -> dict:
        """The message's identity headers as {header: [addresses]} for the matcher."""
        view: dict[str, object] = {}
        for name in set(message.keys()):
            lname = name.lower()
            values = message.get_all(name) or []
            view[lname] = header_addresses(values) if lname not in ("subject", "date", "message-id") else [
                decode_words(str(v)) for v in values
            ]
        return view

    def export_files(self, collection, records: list[Record]) -> list[ExportFile]:
        """Each message whole, as an .eml streamed from the mailbox (attachments kept)."""
        return [
            ExportFile(f"message-{i:05d}.eml", lambda r=record: self.raw_chunks(collection, r))
            for i, record in enumerate(records, 1)
        ]

    def _summary(self, message) -> dict:
        data = {}
        for name in SUMMARY_HEADERS:
            values = message.get_all(name)
            if values:
                decoded = [decode_words(str(v)) for v in values]
                data[name] = decoded[0] if len(decoded) == 1 else decoded
        return data


class MboxConnector(_MailMixin, Connector):
    name = "mbox"
    description = "mbox mail file"

    def messages(self, collection) -> Iterator[tuple[int, int, int, bytes]]:
        """(start offset, end offset, line number of the From_ line, header bytes) of every message."""
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail, "an mbox file"):
            handle = open(collection.path, "rb")
        with handle:
            offset = 0
            lineno = 0
            start = start_line = None
            headers: list[bytes] | None = None
            in_headers = False
            previous_blank = True
            for line in handle:
                lineno += 1
                if line.startswith(b"From ") and previous_blank:
                    if start is not None:
                        if in_headers:
                            raise self.fail(f"{where}:{start_line}: message headers are not terminated (truncated message?)")
                        yield start, offset, start_line, b"".join(headers)
                    start, start_line, headers, in_headers = offset, lineno, [], True
                elif start is None:
                    if line.strip():
                        raise self.fail(f"{where}:{lineno}: not an mbox file (expected a 'From ' line)")
                elif in_headers:
                    if line in (b"\n", b"\r\n"):
                        in_headers = False
                    else:
                        headers.append(line)
                previous_blank = line in (b"\n", b"\r\n")
                offset += len(line)
            if start is not None:
                if in_headers:
                    raise self.fail(f"{where}:{start_line}: message headers are not terminated (truncated message?)")
                yield start, offset, start_line, b"".join(headers)

    def start_locate(self, collection, wanted: Wanted):
        return start_file_search(self, collection, wanted, self._needles(collection, wanted),
                                 lambda path, needles: LinesJob(path, needles, mail=True))

    def locate(self, collection, wanted: Wanted, *, prefilter: bool = True, job: LinesJob | None = None) -> Iterator[Record]:
        if prefilter and job is None:  # through the byte prefilter, when there is an exact one
            yield from run_started(self.start_locate(collection, wanted))
            return
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        needles = job.needles if job else None
        found = self.messages(collection) if job is None else self.candidate_messages(collection, job)
        for start, end, lineno, header_bytes in found:
            if not self._may_match(header_bytes, needles):
                continue  # cannot hold any searched address
            message = self._headers(header_bytes)
            ids = matcher.identities(self._record_view(message))
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, (start, end), self._summary(message), ids, hits,
                             f"{where}:{lineno}")

    def candidate_messages(self, collection, job: LinesJob) -> Iterator[tuple[int, int, int, bytes]]:
        """`messages`, for only the messages with a candidate line (see `bytescan`) in their headers.
        Each is framed from the candidate line: back to its From_ line, on to the blank line ending its
        headers and to the next From_ line, by the same rules as the full read."""
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail, "an mbox file"):
            if os.path.isdir(collection.path):
                raise IsADirectoryError(collection.path)
            handle = job.file()  # the file grep reads: the same version even if it is replaced
        headers = self._identity_headers(collection)
        needles = job.needles
        box = _Mbox(handle)
        for lineno, line in enumerate(box.read(0, 1 << 16).split(b"\n")[:-1], 1):
            if line.strip():
                if not line.startswith(b"From "):
                    raise self.fail(f"{where}:{lineno}: not an mbox file (expected a 'From ' line)")
                break
        done_until = 0
        for lineno, offset, line in job.lines():
            if offset < done_until:
                continue  # a line of a message already read
            if not needles.value_in(line):  # only `=?` or a folding character: an address header?
                name = line.split(b":", 1)[0].strip().lower()
                if line[:1] not in (b" ", b"\t") and not (b":" in line and name in headers):
                    continue
            start = box.message_start(offset)
            if start is None:
                raise self.fail(f"{where}:{lineno}: not an mbox file (expected a 'From ' line)")
            header_end = box.blank_line(start)
            first_line = lineno - box.read(start, offset).count(b"\n")
            if header_end is None:
                raise self.fail(f"{where}:{first_line}: message headers are not terminated (truncated message?)")
            if offset >= header_end:
                continue  # in the body: bodies are not searched
            end = box.next_message(header_end)
            block = box.read(start, header_end)
            yield start, end, first_line, block[block.index(b"\n") + 1:]
            done_until = end

    def raw_chunks(self, collection, record: Record) -> Iterator[bytes]:
        """The message as an .eml: its bytes without the mbox From_ line, read in chunks."""
        start, end = record.key
        with open(collection.path, "rb") as handle:
            handle.seek(start)
            first = handle.readline()
            remaining = end - start - len(first)
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    # -- erase ---------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        for start, end, lineno, header_bytes in self.messages(collection):
            message = self._headers(header_bytes)
            yield Record(self.system.name, collection.name, (start, end), self._summary(message),
                         matcher.identities(self._record_view(message)), set(), f"{where}:{lineno}")

    def record_digests(self, collection, keys) -> dict:
        out = {}
        with open(collection.path, "rb") as handle:
            for key in keys:
                start, end = key
                handle.seek(start)
                out[tuple(key)] = hashlib.sha256(handle.read(end - start)).hexdigest()
        return out

    def erase(self, collection, targets, masker, checkpoint) -> EraseOutcome:
        """Remove whole messages, or mask their fields (found by content hash); every other byte,
        ">From " escapes included, is copied as it is. A mailbox that does not parse completely is not
        rewritten."""
        from ..filelock import locked, rewrite_ranges

        by_digest = {t.digest: t for t in targets}
        outcome = EraseOutcome()
        with locked(collection.path):
            replacements, hit = {}, set()
            with open(collection.path, "rb") as handle:
                placed = self._in_place(handle, targets)
                if len({digest for _s, _e, digest in placed}) < len(by_digest):
                    # the file changed since the plan: read every message
                    placed = ((start, end, None) for start, end, _line, _headers in self.messages(collection))
                for start, end, _digest in placed:
                    handle.seek(start)
                    raw = handle.read(end - start)
                    target = by_digest.get(hashlib.sha256(raw).hexdigest())
                    if target is None:
                        continue
                    hit.add(target.digest)
                    if target.action == "delete":
                        replacements[(start, end)] = b""
                        outcome.deleted += 1
                    else:
                        from_line, _, message = raw.partition(b"\n")
                        masked = mask_message(message, target.fields, masker, mbox=True)
                        # the next message's From_ line must follow an empty line
                        replacements[(start, end)] = from_line + b"\n" + masked.rstrip(b"\n") + b"\n\n"
                        outcome.masked += 1
            outcome.missing = len(set(by_digest) - hit)
            if replacements:
                outcome.sha256 = rewrite_ranges(collection.path, replacements, checkpoint)
        return outcome

    @staticmethod
    def _in_place(handle, targets) -> list[tuple[int, int, str]]:
        """The targets still where the plan found them: (start, end, digest) of each planned range that
        still holds a whole message with the planned content hash."""
        box = _Mbox(handle)
        out = []
        for target in targets:
            if not target.key or len(target.key) != 2:
                continue
            start, end = target.key
            raw = box.read(start, end)
            if (raw.startswith(b"From ") and box.starts_message(start) and hashlib.sha256(raw).hexdigest() == target.digest
                    and (end == box.size or (box.read(end, end + 5) == b"From " and box.starts_message(end)))):
                out.append((start, end, target.digest))
        return sorted(set(out))

    def check_collection(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.messages(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} messages")]


class MaildirConnector(_MailMixin, Connector):
    name = "maildir"
    description = "Maildir folder (cur/ and new/)"

    def files(self, collection) -> Iterator[str]:
        """Relative names (cur/…, new/…) of every message file, in a stable order."""
        root = collection.path
        where = display_path(root, self.inventory)
        self._check_folder(collection)
        for sub in ("cur", "new"):
            folder = os.path.join(root, sub)
            if not os.path.isdir(folder):
                continue
            try:
                names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
            except OSError as exc:
                raise self.fail(f"cannot list {where}/{sub}: {exc.strerror}") from None
            for name in names:
                yield f"{sub}/{name}"

    def _check_folder(self, collection) -> None:
        root = collection.path
        where = display_path(root, self.inventory)
        if not os.path.isdir(root):
            raise self.fail(f"Maildir folder not found: {where}")
        if not any(os.path.isdir(os.path.join(root, sub)) for sub in ("cur", "new")):
            raise self.fail(f"not a Maildir (no cur/ or new/ inside): {where}")

    def read_headers(self, collection, rel: str) -> bytes | None:
        """The header block of a message file; None when it vanished since the folder was listed (a
        mail client moved it from new/ to cur/, or another erase removed it)."""
        where = display_path(collection.path, self.inventory)
        lines = []
        try:
            with open(os.path.join(collection.path, rel), "rb") as handle:
                for line in handle:
                    if line in (b"\n", b"\r\n"):
                        break
                    lines.append(line)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.fail(f"cannot read {where}/{rel}: {exc.strerror}") from None
        return b"".join(lines)

    def start_locate(self, collection, wanted: Wanted):
        return start_file_search(self, collection, wanted, self._needles(collection, wanted),
                                 lambda root, needles: FilesJob(root, ["cur", "new"], needles))

    def locate(self, collection, wanted: Wanted, *, prefilter: bool = True, job: FilesJob | None = None) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        needles = (job.needles if job else self._needles(collection, wanted)) if prefilter else None
        names = None
        if needles is not None:
            self._check_folder(collection)
            chosen = (job or FilesJob(collection.path, ["cur", "new"], needles)).names()
            names = sorted(chosen) if chosen is not None else None
        for rel in self.files(collection) if names is None else names:
            header_bytes = self.read_headers(collection, rel)
            if header_bytes is None or not self._may_match(header_bytes, needles):
                continue
            message = self._headers(header_bytes)
            ids = matcher.identities(self._record_view(message))
            hits = matcher.matches(ids, wanted)
            if hits:
                yield Record(self.system.name, collection.name, rel, self._summary(message), ids, hits, f"{where}/{rel}")

    def raw_chunks(self, collection, record: Record) -> Iterator[bytes]:
        with open(os.path.join(collection.path, record.key), "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    # -- erase ---------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        for rel in self.files(collection):
            header_bytes = self.read_headers(collection, rel)
            if header_bytes is None:
                continue
            message = self._headers(header_bytes)
            yield Record(self.system.name, collection.name, rel, self._summary(message),
                         matcher.identities(self._record_view(message)), set(), f"{where}/{rel}")

    def _digest(self, collection, rel: str) -> str | None:
        from ..filelock import sha256_file

        try:
            return sha256_file(os.path.join(collection.path, rel))
        except FileNotFoundError:
            return None

    def record_digests(self, collection, keys) -> dict:
        return {rel: self._digest(collection, rel) for rel in keys}

    def erase(self, collection, targets, masker, checkpoint) -> EraseOutcome:
        """Delete whole message files. A target is found at its path with the planned content hash, or,
        when a mail client renamed it since (new/ -> cur/, flags), by content hash anywhere."""
        from ..filelock import fsync_dir

        outcome = EraseOutcome()
        pending = {}
        for target in targets:
            if target.key and self._digest(collection, target.key) == target.digest:
                pending[target.digest] = target.key
        if len(pending) < len({t.digest for t in targets}):
            wanted = {t.digest for t in targets} - set(pending)
            for rel in self.files(collection):
                digest = self._digest(collection, rel)
                if digest in wanted:
                    pending[digest] = rel
        actions = {t.digest: t for t in targets}
        for digest, rel in sorted(pending.items(), key=lambda kv: kv[1]):
            path = os.path.join(collection.path, rel)
            target = actions[digest]
            if target.action != "delete":
                from ..filelock import atomic_replace

                try:
                    with open(path, "rb") as handle:
                        raw = handle.read()
                except FileNotFoundError:
                    continue
                atomic_replace(path, [mask_message(raw, target.fields, masker)], checkpoint)
                outcome.masked += 1
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            fsync_dir(os.path.dirname(path))
            outcome.deleted += 1
            checkpoint("maildir.unlink")
        outcome.missing = len({t.digest for t in targets}) - outcome.deleted - outcome.masked
        return outcome

    def check_collection(self, collection) -> list[Finding]:
        count = 0
        for rel in self.files(collection):
            if self.read_headers(collection, rel) is not None:
                count += 1
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {count} messages")]


class _Mbox:
    """Random access to an mbox file for framing a message around a byte offset. A message starts at a
    line beginning with "From " at the start of the file or after an empty line (LF or CRLF)."""

    STEP = 1 << 16

    def __init__(self, handle):
        self.handle = handle
        self.size = os.fstat(handle.fileno()).st_size

    def read(self, lo: int, hi: int) -> bytes:
        self.handle.seek(lo)
        return self.handle.read(max(0, hi - lo))

    def starts_message(self, q: int) -> bool:
        """Whether the line at `q` (which starts with "From ") follows an empty line or the file start."""
        if q == 0:
            return True
        before = self.read(max(0, q - 3), q)  # ends with the previous line's newline
        if q == 1:
            return True  # the file starts with an empty line
        if before[-2:-1] == b"\n":
            return True
        return before[-2:-1] == b"\r" and (q == 2 or before[-3:-2] == b"\n")

    def message_start(self, pos: int) -> int | None:
        """The From_ line of the message holding the line at `pos` (None: before the first message)."""
        hi = min(self.size, pos + 5)
        while True:
            lo = max(0, hi - self.STEP)
            buf = self.read(lo, hi)
            end = len(buf)
            while True:
                j = buf.rfind(b"\nFrom ", 0, end)
                if j == -1:
                    break
                if self.starts_message(lo + j + 1):
                    return lo + j + 1
                end = j + 5  # keep looking before this occurrence
                if j == 0:
                    break
            if lo == 0:
                return 0 if buf.startswith(b"From ") else None
            hi = lo + 6  # overlap so that "\nFrom " across the window edge is seen

    def blank_line(self, start: int) -> int | None:
        """The offset of the first empty line after the line at `start` (the end of the headers)."""
        pos = start
        while pos < self.size:
            buf = self.read(pos, pos + self.STEP + 2)
            hits = [i for i in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if i != -1]
            if hits:
                return pos + min(hits) + 1
            if len(buf) < self.STEP + 2:
                return None
            pos += self.STEP
        return None

    def next_message(self, pos: int) -> int:
        """The offset of the next From_ line after `pos` (the end of the file when there is none)."""
        while pos < self.size:
            buf = self.read(pos, pos + self.STEP + 6)
            at = 0
            while True:
                j = buf.find(b"\nFrom ", at)
                if j == -1:
                    break
                if self.starts_message(pos + j + 1):
                    return pos + j + 1
                at = j + 1
            if len(buf) < self.STEP + 6:
                break
            pos += self.STEP
        return self.size
