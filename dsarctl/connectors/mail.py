"""Mailboxes: mbox files and Maildir folders.

Identity fields are header names (from, to, cc, reply-to, ...). Headers are parsed the way a mail
client would: display names, RFC 2047 encoded words, several addresses in one header. Message bodies are
never searched (a mention of an address in a text is not the person's record). Messages are read one at
a time and handed to the export as raw bytes, so memory does not grow with the mailbox.

mbox: framed as Python's `mailbox.mbox` frames it (see `mboxfile`): a message starts at every line
beginning with "From ", an empty line before it or not; ">From " lines are kept exactly as they are.
Headers are read as `email.policy.default` reads them, on every Python version (see `mailheaders`).

A record is what the search read: its place (mbox: byte range; Maildir: file name) and the SHA-256 of
its bytes (`Record.digest`), taken from the very bytes the search framed. An export copies a message
only when its bytes still have that hash, and an erase acts only on messages with it: another process
that rewrote the mailbox in between makes that collection fail (exit 3), never hands out or deletes
another message.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from contextlib import contextmanager, suppress
from email.policy import compat32
from typing import Iterator

from ..sources import EraseOutcome, Erasable, ExportFile, Finding, KeySpec, Record, Source, Wanted
from ..wording import plural
from .bytescan import FilesJob, LinesJob, needles_for
from .files import display_path, run_started, source_errors, start_file_search
from .mailheaders import decode_words, header_addresses, header_fields
from .matching import FieldMatcher
from .mboxfile import MboxFile, eml_bounds, frames, range_digest
from .shared_mail import POLICIES, SubjectTest, redact_message

_KEYS = {
    "path": KeySpec("path", "The mbox file or Maildir folder, relative to the inventory."),
    "address": KeySpec("emails", "The mailbox's own address (or a list), e.g. support@northwind.example: "
                                 "the controller's, never another person in a shared message."),
    "shared": KeySpec("str", "What erase does with a message that names other people too: redact (the "
                             "default: the subject's addresses taken out of its headers), delete, keep.",
                      choices=POLICIES),
}
SUMMARY_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id")
_CHUNK = 1 << 16
_SPOOL = 1 << 20  # a message to export is copied aside in memory up to this size, beyond it to a temp file


__all__ = ["MboxConnector", "MaildirConnector", "decode_words", "header_addresses", "mask_message"]


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
    local_files = True
    mailbox = True
    default_erase = "delete"
    default_expand = False  # a message names several people: its other addresses are not the subject's

    def _needles(self, collection, wanted: Wanted):
        """The byte prefilter's needles (see `bytescan`): the searched addresses, and `=?` since an
        address may hide in an RFC 2047 encoded word; None when no exact byte test exists."""
        return needles_for(collection, self.inventory, wanted, extra=(b"=?",))

    def _identity_headers(self, collection) -> set[bytes]:
        return {field.lower().encode("ascii", "replace") for fields in collection.identities.values()
                for field in fields}

    def _redacted(self, collection, raw: bytes, target, masker, *, envelope: bool = False) -> bytes:
        """The message without the subject of `target` (keyed hashes of its identifiers) in its headers."""
        subject = SubjectTest(masker.key, target.subject, self.inventory)
        headers = [field for fields in collection.identities.values() for field in fields]
        return redact_message(raw, subject, envelope=envelope, address_headers=headers)

    @staticmethod
    def _may_match(header_bytes: bytes, needles) -> bool:
        return needles is None or b"=?" in header_bytes or needles.holds(header_bytes)

    @staticmethod
    def _headers(header_bytes: bytes) -> list[tuple[str, str]]:
        """(lower-case name, value) of every header field, decoded and unfolded (see `mailheaders`)."""
        return [(name.lower(), value) for name, value in header_fields(header_bytes)]

    def _record_view(self, collection, fields: list[tuple[str, str]]) -> dict:
        """The message's identity headers for the matcher: {header: [addresses]} for the fields of an
        e-mail kind, {header: [text]} (encoded words decoded) for the others (a customer id header)."""
        addressed, texts = self._identity_fields(collection)
        view: dict[str, list[str]] = {}
        for name, value in fields:
            if name in addressed:
                view.setdefault(name, []).extend(header_addresses([value]))
            if name in texts:
                view.setdefault(name, []).append(decode_words(value).strip())
        return view

    def _identity_fields(self, collection) -> tuple[frozenset[str], frozenset[str]]:
        """The lower-case names of the collection's identity headers: of e-mail kinds, of other kinds."""
        cache = self.__dict__.setdefault("_fields_cache", {})
        if collection.name not in cache:
            kinds = self.inventory.identities
            pairs = [(kinds[kind].type == "email", name.lower())
                     for kind, names in collection.identities.items() for name in names]
            cache[collection.name] = (frozenset(n for email, n in pairs if email),
                                      frozenset(n for email, n in pairs if not email))
        return cache[collection.name]

    def export_files(self, collection, records: list[Record]) -> list[ExportFile]:
        """Each message whole, as an .eml streamed from the mailbox (attachments kept)."""
        return [
            ExportFile(f"message-{i:05d}.eml", lambda r=record: self.raw_chunks(collection, r))
            for i, record in enumerate(records, 1)
        ]

    @staticmethod
    def _summary(fields: list[tuple[str, str]]) -> dict:
        data = {}
        for name in SUMMARY_HEADERS:
            decoded = [decode_words(value) for field, value in fields if field == name]
            if decoded:
                data[name] = decoded[0] if len(decoded) == 1 else decoded
        return data

    def _match(self, collection, matcher: FieldMatcher, header_bytes: bytes, wanted: Wanted):
        """(header fields, identities, hits) of a message's header block."""
        fields = self._headers(header_bytes)
        ids = matcher.identities(self._record_view(collection, fields))
        return fields, ids, matcher.matches(ids, wanted)

    def _verified_chunks(self, fd: int, start: int, end: int, digest: str | None, where: str,
                         eml: bool = False) -> Iterator[bytes]:
        """The bytes [start, end) of an open file (with `eml`: as `eml_bounds` cuts an mbox message),
        once they are known to have the SHA-256 the search saw. They are copied aside while hashed (to
        memory, to an unnamed temporary file beyond 1 MB), so that what is handed out is what was
        hashed whatever another process writes meanwhile; on a mismatch nothing is handed out."""
        import tempfile

        copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL)
        with copy:
            hashed = hashlib.sha256()
            pos, first_line, tail = start, None, b""
            while pos < end:
                chunk = os.pread(fd, min(_CHUNK, end - pos), pos)
                if not chunk:
                    break
                if first_line is None and b"\n" in chunk:
                    first_line = pos - start + chunk.index(b"\n") + 1
                hashed.update(chunk)
                copy.write(chunk)
                tail = (tail + chunk)[-2:]
                pos += len(chunk)
            if pos != end or (digest is not None and hashed.hexdigest() != digest):
                raise self.fail(f"{where}: the message changed since the search (another program wrote the "
                                f"mailbox meanwhile); nothing of it was exported: export again")
            lo, hi = eml_bounds(end - start if first_line is None else first_line, end - start, tail) if eml \
                else (0, end - start)
            copy.seek(lo)
            while lo < hi:
                chunk = copy.read(min(_CHUNK, hi - lo))
                if not chunk:
                    break
                lo += len(chunk)
                yield chunk


class MboxConnector(_MailMixin, Source, Erasable):
    name = "mbox"

    def messages(self, collection, handle=None) -> Iterator[tuple[int, int, int, bytes]]:
        """(start offset, end offset, line number of the From_ line, header bytes) of every message (of
        the open `handle` when given, from its start), framed as `mailbox.mbox` frames them."""
        where = display_path(collection.path, self.inventory)
        if handle is not None:
            handle.seek(0)
            yield from frames(handle, where, self.fail)
            return
        with source_errors(where, self.fail, "an mbox file"):
            handle = open(collection.path, "rb")
        with handle:
            yield from frames(handle, where, self.fail)

    def start_locate(self, collection, wanted: Wanted, *, lookup_only: bool = False):
        return start_file_search(self, collection, wanted, self._needles(collection, wanted),
                                 lambda path, needles: LinesJob(path, needles, mail=True))

    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False, prefilter: bool = True,
               job: LinesJob | None = None) -> Iterator[Record]:
        if prefilter and job is None:  # through the byte prefilter, when there is an exact one
            yield from run_started(self.start_locate(collection, wanted))
            return
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        needles = job.needles if job else None
        with self._opened(collection, job) as handle:
            found = self.messages(collection, handle) if job is None else self.candidate_messages(collection, job, handle)
            for start, end, lineno, header_bytes in found:
                if not self._may_match(header_bytes, needles):
                    continue  # cannot hold any searched address
                fields, ids, hits = self._match(collection, matcher, header_bytes, wanted)
                if hits:  # the digest of the very bytes framed, from the same open file
                    yield Record(self.system.name, collection.name, (start, end), self._summary(fields), ids, hits,
                                 f"{where}:{lineno}", range_digest(handle.fileno(), start, end))

    @contextmanager
    def _opened(self, collection, job: LinesJob | None):
        """The open mbox a search reads: the one grep reads (the same version even if it is replaced
        meanwhile; the job closes it), else the file opened here."""
        where = display_path(collection.path, self.inventory)
        with source_errors(where, self.fail, "an mbox file"):
            if os.path.isdir(collection.path):
                raise IsADirectoryError(collection.path)
            handle = job.file() if job is not None else open(collection.path, "rb")
        if job is not None:
            yield handle
            return
        with handle:
            yield handle

    def candidate_messages(self, collection, job: LinesJob, handle) -> Iterator[tuple[int, int, int, bytes]]:
        """`messages`, for only the messages with a candidate line (see `bytescan`) in their headers.
        Each is framed from the candidate line: back to its From_ line, on to the empty line ending its
        headers or the next From_ line, by the same rules as the full read (`mboxfile`)."""
        where = display_path(collection.path, self.inventory)
        headers = self._identity_headers(collection)
        needles = job.needles
        box = MboxFile(handle)
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
            end = box.next_message(start)
            header_end = box.header_end(start, end)
            if header_end is not None and offset >= header_end:
                continue  # in the body: bodies are not searched
            block = box.read(start, end if header_end is None else header_end)
            first_line = lineno - block.count(b"\n", 0, offset - start)
            if header_end is None and end == box.size:
                raise self.fail(f"{where}:{first_line}: message headers are not terminated (truncated message?)")
            newline = block.find(b"\n")
            yield start, end, first_line, block[newline + 1:] if newline != -1 else b""
            done_until = end

    def raw_chunks(self, collection, record: Record) -> Iterator[bytes]:
        """The message as an .eml, as `mailbox.mbox.get_bytes` gives it: without the From_ line and the
        empty line before the next message; only when its bytes are still those the search saw."""
        start, end = record.key[:2]
        where = record.location or display_path(collection.path, self.inventory)
        with source_errors(display_path(collection.path, self.inventory), self.fail, "an mbox file"):
            handle = open(collection.path, "rb")
        with handle:
            yield from self._verified_chunks(handle.fileno(), start, end, record.digest, where, eml=True)

    # -- erase ---------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        with self._opened(collection, None) as handle:
            for start, end, lineno, header_bytes in self.messages(collection, handle):
                fields, ids, _hits = self._match(collection, matcher, header_bytes, {})
                yield Record(self.system.name, collection.name, (start, end), self._summary(fields), ids, set(),
                             f"{where}:{lineno}", range_digest(handle.fileno(), start, end))

    def erase(self, collection, targets, context) -> EraseOutcome:
        """Remove whole messages, or change them (mask, redact); every other byte, ">From " escapes
        included, is copied as it is. Each target is the message the search read (`_placed`); one that
        is nowhere any more counts as missing. A mailbox that does not parse completely is not
        rewritten."""
        from functools import partial

        from ..filelock import locked, rewrite_ranges

        masker = context.masker

        outcome = EraseOutcome()
        with locked(collection.path):
            replacements = {}
            with open(collection.path, "rb") as handle:
                placed = self._placed(collection, handle, targets)
                for start, end, target in placed:
                    handle.seek(start)
                    raw = handle.read(end - start)
                    if target.action == "delete":
                        replacements[(start, end)] = b""
                        outcome.deleted += 1
                    elif target.action == "redact":
                        redacted = self._redacted(collection, raw, target, masker, envelope=True)
                        if redacted == raw:
                            outcome.unchanged += 1
                        else:
                            replacements[(start, end)] = redacted
                            outcome.redacted += 1
                    else:
                        from_line, _, message = raw.partition(b"\n")
                        masked = mask_message(message, target.fields, masker, mbox=True)
                        # the next message's From_ line must follow an empty line
                        replacements[(start, end)] = from_line + b"\n" + masked.rstrip(b"\n") + b"\n\n"
                        outcome.masked += 1
            outcome.missing = len(targets) - len(placed)
            if replacements:
                outcome.sha256 = rewrite_ranges(collection.path, replacements, context.checkpoint,
                                                renaming=partial(context.replacing, collection),
                                                renamed=partial(context.replaced, collection))
        return outcome

    def _placed(self, collection, handle, targets) -> list[tuple[int, int, object]]:
        """(start, end, target) of every target found, in file order. A target is found at the byte
        range the search read when that still holds a whole message with the search's hash; else (the
        file was rewritten since and the offsets moved, or a resumed run knows only the hash) at the
        first message with that hash (and length) not taken yet, from a read of every message. A
        message is never taken twice, so byte-identical copies are distinct records. A target whose
        bytes are nowhere is missing when it comes from the journal of an interrupted run (`resumed`,
        or it has no range: that run removed or redacted it); when it comes from this run's search,
        another program changed the message meanwhile, and the collection fails before anything in it
        is changed."""
        box = MboxFile(handle)
        placed, lost, taken = [], [], set()
        for target in targets:
            key = tuple(target.key) if target.key else ()
            if len(key) == 2 and key[0] not in taken and box.holds(key[0], key[1], target.digest):
                placed.append((key[0], key[1], target))
                taken.add(key[0])
            elif target.digest:
                lost.append(target)
        if lost:
            known = all(t.key and len(t.key) == 2 for t in lost)
            sizes = {t.key[1] - t.key[0] for t in lost} if known else None
            for start, end, _line, _headers in self.messages(collection, handle):
                if start in taken or (sizes is not None and end - start not in sizes):
                    continue
                digest = range_digest(handle.fileno(), start, end)
                target = next((t for t in lost if t.digest == digest), None)
                if target is not None:
                    lost.remove(target)
                    placed.append((start, end, target))
                    taken.add(start)
                    if not lost:
                        break
        changed = sum(1 for t in lost if t.key and not t.resumed)  # a resumed run's: removed by the run it finishes
        if changed:
            raise self.fail(f"{display_path(collection.path, self.inventory)}: {plural(changed, 'message')} found by the "
                            "search changed since (another program wrote the mailbox meanwhile); nothing in it "
                            "was changed: run erase again")
        return sorted(placed, key=lambda p: p[0])

    def check(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.messages(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {plural(count, 'message')}")]


class MaildirConnector(_MailMixin, Source, Erasable):
    name = "maildir"

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
        handle = self._open(collection, rel)
        if handle is None:
            return None
        with handle:
            return _header_block(handle)

    def _open(self, collection, rel: str):
        """A message file opened for reading; None when it vanished since the folder was listed."""
        try:
            return open(os.path.join(collection.path, rel), "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.fail(f"cannot read {display_path(collection.path, self.inventory)}/{rel}: {exc.strerror}") from None

    def _read(self, collection, rel: str, matcher: FieldMatcher, wanted: Wanted, needles):
        """(header fields, identities, hits, SHA-256 of the file) of a message file, the hash taken from
        the same open file only when it matches; None when it vanished or cannot match."""
        handle = self._open(collection, rel)
        if handle is None:
            return None
        with handle:
            header_bytes = _header_block(handle)
            if not self._may_match(header_bytes, needles):
                return None
            fields, ids, hits = self._match(collection, matcher, header_bytes, wanted)
            fd = handle.fileno()
            return fields, ids, hits, range_digest(fd, 0, os.fstat(fd).st_size) if hits or not wanted else None

    def start_locate(self, collection, wanted: Wanted, *, lookup_only: bool = False):
        return start_file_search(self, collection, wanted, self._needles(collection, wanted),
                                 lambda root, needles: FilesJob(root, ["cur", "new"], needles))

    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False, prefilter: bool = True,
               job: FilesJob | None = None) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        needles = (job.needles if job else self._needles(collection, wanted)) if prefilter else None
        names = None
        if needles is not None:
            self._check_folder(collection)
            chosen = (job or FilesJob(collection.path, ["cur", "new"], needles)).names()
            names = sorted(chosen) if chosen is not None else None
        for rel in self.files(collection) if names is None else names:
            read = self._read(collection, rel, matcher, wanted, needles)
            if read is not None and read[2]:
                fields, ids, hits, digest = read
                yield Record(self.system.name, collection.name, rel, self._summary(fields), ids, hits,
                             f"{where}/{rel}", digest)

    def raw_chunks(self, collection, record: Record) -> Iterator[bytes]:
        """The message file whole, only when its bytes are still those the search saw."""
        where = record.location or f"{display_path(collection.path, self.inventory)}/{record.key}"
        with source_errors(where, self.fail, "a message file"):
            handle = open(os.path.join(collection.path, record.key), "rb")
        with handle:
            fd = handle.fileno()
            yield from self._verified_chunks(fd, 0, os.fstat(fd).st_size, record.digest, where)

    # -- erase ---------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        where = display_path(collection.path, self.inventory)
        for rel in self.files(collection):
            read = self._read(collection, rel, matcher, {}, None)
            if read is not None:
                fields, ids, _hits, digest = read
                yield Record(self.system.name, collection.name, rel, self._summary(fields), ids, set(),
                             f"{where}/{rel}", digest)

    def _digest(self, collection, rel: str) -> str | None:
        from ..filelock import sha256_file

        try:
            return sha256_file(os.path.join(collection.path, rel))
        except FileNotFoundError:
            return None

    def erase(self, collection, targets, context) -> EraseOutcome:
        """Delete whole message files, or rewrite them (mask, redact). A target is found at its path with
        the search's hash, or, when a mail client renamed it since (new/ -> cur/, flags), under the same
        unique name with that hash (`_placed`)."""
        from ..filelock import fsync_dir

        masker, checkpoint = context.masker, context.checkpoint

        outcome = EraseOutcome()
        for rel, target in self._placed(collection, targets):
            path = os.path.join(collection.path, rel)
            if target.action != "delete":
                try:
                    with open(path, "rb") as handle:
                        raw = handle.read()
                except FileNotFoundError:
                    continue
                if hashlib.sha256(raw).hexdigest() != target.digest:
                    continue  # rewritten since it was found just now: not the search's message
                if target.action == "redact":
                    new = self._redacted(collection, raw, target, masker)
                    if new == raw:
                        outcome.unchanged += 1
                    else:
                        self._rewrite(path, new, checkpoint)
                        outcome.redacted += 1
                    continue
                self._rewrite(path, mask_message(raw, target.fields, masker), checkpoint)
                outcome.masked += 1
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            fsync_dir(os.path.dirname(path))
            outcome.deleted += 1
            checkpoint("maildir.unlink")
        outcome.missing = (len(targets) - outcome.deleted - outcome.masked - outcome.redacted
                           - outcome.unchanged)
        return outcome

    @staticmethod
    def _rewrite(path: str, data: bytes, checkpoint) -> None:
        """Replace a message file atomically, the Maildir way: the new file is written in the folder's
        tmp/ (which no reader lists: a temporary file in cur/ would be one more message to Python's
        `mailbox` and to a mail client) and renamed over the old one. A name that carries the file's
        size (Dovecot's `,S=` and, with CRLF line ends, `,W=`) is then renamed to carry the new one: a
        server trusts those numbers. A temporary file of a killed run is removed by the next erase."""
        from ..filelock import fsync_dir

        folder, name = os.path.split(path)
        spool = os.path.join(os.path.dirname(folder), "tmp")
        os.makedirs(spool, mode=0o700, exist_ok=True)
        _remove_stale_spool(spool)
        tmp = os.path.join(spool, f"{_SPOOL_MARK}-{os.getpid()}-{secrets.token_hex(8)}")
        mode = os.stat(path).st_mode & 0o7777
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), mode)
                os.fsync(out.fileno())
            checkpoint("file.before-rename")
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        checkpoint("file.renamed")
        base, colon, info = name.partition(":")
        sizes = {"S": len(data), "W": len(data) + data.count(b"\n") - data.count(b"\r\n")}
        renamed = re.sub(r",([SW])=\d+", lambda m: f",{m.group(1)}={sizes[m.group(1)]}", base) + colon + info
        if renamed != name:
            os.rename(path, os.path.join(folder, renamed))
        fsync_dir(folder)

    def _placed(self, collection, targets) -> list[tuple[str, object]]:
        """(file name, target) of every target found, by file name. A target is found at the name the
        search read when that file still has the search's hash; else, when a mail client renamed it
        since (new/ -> cur/, flags after the ':'), at a file with the same unique name (the part before
        the ':') and that hash. A file is never taken twice, so two byte-identical files (a message
        delivered twice) are two records, both acted on in one run."""
        placed, lost, taken = [], [], set()
        for target in targets:
            if (target.digest and target.key and target.key not in taken
                    and self._digest(collection, target.key) == target.digest):
                placed.append((target.key, target))
                taken.add(target.key)
            elif target.digest:
                lost.append(target)
        if lost:
            for rel in self.files(collection):
                mine = [t for t in lost if not t.key or _unique_name(t.key) == _unique_name(rel)]
                if rel in taken or not mine:
                    continue
                digest = self._digest(collection, rel)
                target = next((t for t in mine if t.digest == digest), None)
                if target is not None:
                    lost.remove(target)
                    placed.append((rel, target))
                    taken.add(rel)
        return sorted(placed, key=lambda p: p[0])

    def check(self, collection) -> list[Finding]:
        count = 0
        for rel in self.files(collection):
            if self.read_headers(collection, rel) is not None:
                count += 1
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {plural(count, 'message')}")]


def _header_block(handle) -> bytes:
    """The lines of an open message file up to the empty line ending its headers."""
    lines = []
    for line in handle:
        if line in (b"\n", b"\r\n"):
            break
        lines.append(line)
    return b"".join(lines)


def _unique_name(rel: str) -> str:
    """A Maildir file's unique name: what stays when a mail client moves it or changes its flags."""
    return os.path.basename(rel).split(":", 1)[0]


_SPOOL_MARK = "dsarctl-tmp"


def _remove_stale_spool(spool: str) -> None:
    """Remove the temporary files a killed dsarctl left in a Maildir's tmp/ (only its own, only of
    processes that are gone)."""
    try:
        names = os.listdir(spool)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if not name.startswith(_SPOOL_MARK + "-") or len(parts) != 4 or not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        with suppress(OSError):
            os.unlink(os.path.join(spool, name))
