"""Live mailboxes on a mail server, over IMAP (RFC 3501), through the IMAPClient library.

- **Search** on the server: in each folder, one `UID SEARCH` (an OR of `FROM x`, `TO x`, `CC x`,
  `HEADER REPLY-TO x`, ... for every address searched) gives the candidates. Server SEARCH matches
  substrings, case-insensitively, so it only narrows: the header block of each candidate is fetched
  (`BODY.PEEK[HEADER]`) and matched exactly by the rules of mailbox files (`mailheaders`, the same
  `_MailMixin`): `zoe@example.org` never matches `xzoe@example.org.uk`. Message bodies are never searched.
- **A record** is `(folder, UIDVALIDITY, UID)`: IMAP never gives a UID to another message while the
  folder's UIDVALIDITY stays, and a message's bytes never change. Its digest is the SHA-256 of the header
  block the search matched. An export or erase checks both before it acts, and a collection where they
  no longer hold fails (exit 3) before anything in it is exported or changed.
- **Export**: each message whole (`BODY.PEEK[]`) as an .eml. Folders are opened with EXAMINE (read-only)
  and every fetch PEEKs, so nothing is marked read.
- **Erase** by UID: `\\Deleted` + `UID EXPUNGE` (UIDPLUS, RFC 4315: a server without it is refused, as a
  plain EXPUNGE would remove every message someone marked deleted). With `trash: FOLDER` (servers such as
  Gmail, which keep what is expunged elsewhere) the message is moved there and expunged from it. A shared
  message (naming other people) is replaced by its redacted copy (`shared_mail`): APPEND with the same
  flags and internal date, then the original removed. Idempotent: a message already gone is `missing`; a
  redacted copy an interrupted run already appended is found again (same bytes) and not appended twice;
  a message an interrupted run moved to the trash but did not expunge there is found by the next search,
  which reads the trash folder too when `trash:` is set.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from typing import Any, Iterator

from ..sources import EraseOutcome, Erasable, Finding, KeySpec, Record, Source, Wanted
from ..wording import plural
from .mail import _KEYS as _MAILBOX_FILE_KEYS
from .mail import _MailMixin, mask_message
from .mailheaders import header_fields
from .matching import FieldMatcher

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
TLS_MODES = ("implicit", "starttls", "none")
AUTH_MODES = ("password", "xoauth2")
TIMEOUT = 60.0  # seconds, to connect and for each answer
_SEARCH_KEYS = 48  # search keys in one UID SEARCH (an OR tree): a batch of many subjects takes several
_FETCH_BATCH = 200  # messages whose headers one UID FETCH asks for
_ADDRESS_SEARCH = {"from": "FROM", "to": "TO", "cc": "CC", "bcc": "BCC"}
_TRASH_NAMES = frozenset({"trash", "deleted items", "deleted messages", "deleted", "bin"})
_JUNK_NAMES = frozenset({"junk", "spam", "junk e-mail", "junk email", "bulk mail"})
_DELETED = b"\\Deleted"

_MAILBOX_KEYS = {
    "folders": KeySpec("strlist", "The folders to search, e.g. [INBOX, Sent, Archive] (default: every folder "
                                  "but Trash and Junk)."),
    "trash": KeySpec("str", "Erase moves messages to this folder and expunges them there (servers such as "
                            "Gmail: \"[Gmail]/Trash\"); it is searched too. Default: expunged where they are."),
    "address": _MAILBOX_FILE_KEYS["address"],
    "shared": _MAILBOX_FILE_KEYS["shared"],
}
_CONNECTION_KEYS = {
    "host": KeySpec("str", "The IMAP server, e.g. imap.example.com.", required=True),
    "port": KeySpec("int", "Default 993 with tls: implicit, 143 with starttls or none."),
    "tls": KeySpec("str", "implicit (the default: TLS from the start), starttls, or none (localhost only).",
                   choices=TLS_MODES),
    "tls_ca": KeySpec("path", "A CA certificate file (PEM) to trust besides the system's (a private CA)."),
    "username": KeySpec("str", "The login, e.g. support@example.com.", required=True),
    "password": KeySpec("secret", "The password, from the environment: ${SUPPORT_IMAP_PASSWORD}."),
    "auth": KeySpec("str", "password (the default) or xoauth2 (Gmail, Microsoft 365: with token:).",
                    choices=AUTH_MODES),
    "token": KeySpec("secret", "auth: xoauth2: the OAuth2 access token, from the environment: ${...}."),
}


class ImapConnector(_MailMixin, Source, Erasable):
    name = "imap"
    system_keys = {**_CONNECTION_KEYS, **_MAILBOX_KEYS}
    collection_keys = _MAILBOX_KEYS
    local_files = False  # a mail server, not files

    def __init__(self, system, inventory):
        super().__init__(system, inventory)
        self._client: Any = None
        self._selected: tuple[str, bool, int] | None = None  # folder, read-only, UIDVALIDITY
        self._listing: list[tuple[tuple[bytes, ...], str]] | None = None
        self._copies: dict[tuple[str, str], int] = {}  # (folder, hash): replacement copies this run accounts for

    @classmethod
    def option_problems(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, why) for keys that do not go together (checked when the inventory is loaded)."""
        out = []
        tls = options.get("tls", "implicit")
        host = _host(options).lower()
        if tls == "none" and host not in LOCAL_HOSTS:
            out.append(("tls", f"tls: none would send the password unencrypted to {host}: allowed only for "
                               "localhost, 127.0.0.1 or ::1 (use implicit or starttls)"))
        if tls == "none" and "tls_ca" in options:
            out.append(("tls_ca", "tls_ca needs tls: implicit or starttls"))
        port = options.get("port")
        if port is not None and not 0 < port < 65536:
            out.append(("port", f"{port} is not a port number (1-65535)"))
        if options.get("auth", "password") == "xoauth2":
            if "token" not in options:
                out.append(("auth", "auth: xoauth2 needs 'token:' (the access token, e.g. ${SUPPORT_IMAP_TOKEN})"))
            if "password" in options:
                out.append(("password", "auth: xoauth2 takes 'token:', not 'password:'"))
        else:
            if "password" not in options:
                out.append(("password", "an imap system needs 'password:' (e.g. ${SUPPORT_IMAP_PASSWORD}), "
                                        "or auth: xoauth2 with 'token:'"))
            if "token" in options:
                out.append(("token", "'token:' goes with auth: xoauth2"))
        return out

    # -- the session ---------------------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return f"{self.system.options['host']}:{self._port()}"

    def _port(self) -> int:
        options = self.system.options
        return options.get("port") or (993 if options.get("tls", "implicit") == "implicit" else 143)

    def _connect(self):
        import ssl

        from imapclient import IMAPClient

        options = self.system.options
        tls = options.get("tls", "implicit")
        context = None
        if tls != "none":
            context = ssl.create_default_context()
            if options.get("tls_ca"):
                with self._talking("cannot read tls_ca"):
                    context.load_verify_locations(cafile=str(options["tls_ca"]))
        with self._talking("cannot connect"):
            client = IMAPClient(_host(options), self._port(), ssl=tls == "implicit", ssl_context=context,
                                timeout=TIMEOUT)
        try:
            with self._talking("cannot log in"):
                if tls == "starttls":
                    if not client.has_capability("STARTTLS"):
                        raise self.fail(f"{self._where}: the server does not offer STARTTLS (tls: starttls)")
                    client.starttls(context)
                client.normalise_times = False  # internal dates with their offset, for APPEND
                if options.get("auth") == "xoauth2":
                    client.oauth2_login(options["username"], options["token"])
                else:
                    client.login(options["username"], options["password"])
        except BaseException:
            _shut(client)
            raise
        return client

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
            self._selected = None
        return self._client

    @contextmanager
    def _talking(self, what: str):
        """Any error of the network, TLS or the server: a SourceError of this system, one line, after
        which the next request connects again."""
        from imapclient.exceptions import IMAPClientError, LoginError

        try:
            yield
        except LoginError as exc:
            self._drop()
            raise self.fail(f"{self._where}: login failed for {self.system.options.get('username')}: "
                            f"{_text(exc)}") from None
        except (IMAPClientError, OSError, EOFError) as exc:
            self._drop()
            raise self.fail(f"{self._where}: {what}: {_text(exc) or exc.__class__.__name__}") from None

    def _drop(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            _shut(client)

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                _shut(client)

    def _select(self, folder: str, *, readonly: bool) -> int:
        """Open a folder (EXAMINE when `readonly`): its UIDVALIDITY."""
        if self._selected and self._selected[:2] == (folder, readonly):
            return self._selected[2]
        with self._talking(f"cannot open the folder {folder!r}"):
            answer = self.client.select_folder(folder, readonly=readonly)
        validity = int(answer[b"UIDVALIDITY"])
        self._selected = (folder, readonly, validity)
        return validity

    def _capable(self, name: str) -> bool:
        with self._talking("cannot read the server's capabilities"):
            return bool(self.client.has_capability(name))

    # -- folders ---------------------------------------------------------------------------------------
    def listing(self) -> list[tuple[tuple[bytes, ...], str]]:
        """(flags, name) of every folder on the server."""
        if self._listing is None:
            with self._talking("cannot list the folders"):
                self._listing = [(tuple(f.lower() for f in flags), name)
                                 for flags, _sep, name in self.client.list_folders()]
        return self._listing

    def folders(self, collection) -> list[str]:
        """The folders a collection searches: `folders:` (each must exist), else every folder but the
        trash and junk ones (by their SPECIAL-USE flags, RFC 6154, or where the server gives none, by
        name); and the `trash:` folder (a message there is on the server until expunged from it)."""
        listing = self.listing()
        names = {name for _flags, name in listing}
        named = collection.options.get("folders")
        if named:
            chosen = []
            for i, folder in enumerate(named):
                found = _existing(folder, names)
                if found is None:
                    raise self.mismatch(self._key_path(collection, "folders", i), self._no_folder(folder))
                chosen.append(found)
        else:
            chosen = [name for flags, name in listing
                      if not {b"\\noselect", b"\\nonexistent"} & set(flags) and not _trash_or_junk(listing, flags, name)]
        trash = collection.options.get("trash")
        if trash:
            found = _existing(trash, names)
            if found is None:
                raise self.mismatch(self._key_path(collection, "trash"), self._no_folder(trash))
            if found not in chosen:
                chosen.append(found)
        return list(dict.fromkeys(chosen))

    def _no_folder(self, folder: str) -> str:
        there = ", ".join(sorted(name for _f, name in self.listing())[:20])
        return f"folder '{folder}' not found on {self._where} (folders there: {there})"

    def _key_path(self, collection, *key) -> tuple:
        path = collection.key_path + key
        if collection.key_path + key[:1] not in self.inventory.lines:  # inherited from the system
            path = self.system.key_path + key
        return path

    # -- searching ---------------------------------------------------------------------------------------
    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> Iterator[Record]:
        keys = self._search_keys(collection, wanted)
        if not keys:
            return
        matcher = FieldMatcher(collection, self.inventory)
        for folder in self.folders(collection):
            validity = self._select(folder, readonly=True)
            uids: set[int] = set()
            for criteria, charset in _searches(keys):
                with self._talking(f"cannot search {folder!r}"):
                    uids.update(self.client.search(criteria, charset))
            for uid, header in self._fetch_headers(folder, sorted(uids)):
                fields, ids, hits = self._match(collection, matcher, header, wanted)
                if hits:
                    yield self._record(collection, folder, validity, uid, header, fields, ids, hits)

    def _search_keys(self, collection, wanted: Wanted) -> list[list]:
        """The IMAP search keys that find every message whose identity headers can hold a wanted value."""
        kinds = self.inventory.identities
        keys: list[list] = []
        for kind, names in collection.identities.items():
            for value in sorted(wanted.get(kind, ())):
                for header in names:
                    header = header.lower()
                    if kinds[kind].type == "email" and header in _ADDRESS_SEARCH:
                        keys.append([_ADDRESS_SEARCH[header], value])
                    elif kinds[kind].type == "phone":  # written in any format: every message with the header
                        keys.append(["HEADER", header, ""])
                    else:
                        keys.append(["HEADER", header, value])
        return [list(k) for k in dict.fromkeys(tuple(k) for k in keys)]

    def _fetch_headers(self, folder: str, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        """(UID, header block) of the messages of the selected folder with these UIDs that are there."""
        for start in range(0, len(uids), _FETCH_BATCH):
            batch = uids[start:start + _FETCH_BATCH]
            with self._talking(f"cannot read messages of {folder!r}"):
                answer = self.client.fetch(batch, [b"BODY.PEEK[HEADER]"])
            for uid in batch:
                header = answer.get(uid, {}).get(b"BODY[HEADER]")
                if header is not None:
                    yield uid, header

    def _record(self, collection, folder: str, validity: int, uid: int, header: bytes, fields, ids, hits) -> Record:
        data = self._summary(fields)
        data["folder"] = folder
        return Record(self.system.name, collection.name, (folder, validity, uid), data, ids, hits,
                      f"{folder} UID {uid}", _digest(header))

    def scan(self, collection) -> Iterator[Record]:
        matcher = FieldMatcher(collection, self.inventory)
        for folder in self.folders(collection):
            validity = self._select(folder, readonly=True)
            with self._talking(f"cannot search {folder!r}"):
                uids = sorted(self.client.search(["ALL"]))
            for uid, header in self._fetch_headers(folder, uids):
                fields, ids, _hits = self._match(collection, matcher, header, {})
                yield self._record(collection, folder, validity, uid, header, fields, ids, set())

    # -- export ------------------------------------------------------------------------------------------
    def raw_chunks(self, collection, record: Record) -> Iterator[bytes]:
        """The message whole, as the server holds it, once its header block is the one the search saw."""
        folder, validity, uid = record.key
        found = self._message(folder, validity, uid, readonly=True)
        if found is None or (record.digest and _digest(found[0]) != record.digest):
            raise self.fail(f"{self._where}: {record.location}: the message is no longer the one the search found "
                            "(deleted, or the folder was recreated meanwhile); nothing of it was exported: export again")
        yield found[1]

    def _message(self, folder: str, validity: int, uid: int, *, readonly: bool,
                 more: tuple[bytes, ...] = ()) -> tuple[bytes, bytes, dict] | None:
        """(header block, whole message, the other items asked for) of a message; None when that UID is not
        in the folder, or the folder's UIDVALIDITY is not `validity` any more."""
        if self._select(folder, readonly=readonly) != validity:
            return None
        with self._talking(f"cannot read a message of {folder!r}"):
            answer = self.client.fetch([uid], [b"BODY.PEEK[HEADER]", b"BODY.PEEK[]", *more]).get(uid)
        if not answer or b"BODY[]" not in answer:
            return None
        return answer[b"BODY[HEADER]"], answer[b"BODY[]"], answer

    # -- erase ---------------------------------------------------------------------------------------------
    def erase(self, collection, targets, context) -> EraseOutcome:
        """Delete or replace the targets' messages, folder by folder: every target is checked first (the
        folder's UIDVALIDITY, the header block's hash), and a collection with one that no longer holds fails
        before anything in it is changed. A message not there any more is `missing`."""
        masker, checkpoint = context.masker, context.checkpoint
        outcome = EraseOutcome()
        if not self._capable("UIDPLUS"):
            raise self.fail(f"{self._where}: the server does not support UIDPLUS (RFC 4315): without UID EXPUNGE "
                            "an erase would expunge every message marked deleted in a folder; nothing was changed")
        trash = self._trash(collection)
        present = self._present(collection, targets)
        for folder, found in present.items():
            gone = sorted(uid for uid, target in found.items() if target.action == "delete")
            if gone:
                self._remove(folder, gone, trash, checkpoint)
                outcome.deleted += len(gone)
            for uid, target in sorted(found.items()):
                if target.action != "delete":
                    done = self._replace(collection, folder, uid, target, masker, trash, checkpoint)
                    if done == "replaced":
                        outcome.redacted += target.action == "redact"
                        outcome.masked += target.action != "redact"
                    elif done == "unchanged":
                        outcome.unchanged += 1
        outcome.missing = (len(targets) - outcome.deleted - outcome.redacted - outcome.masked - outcome.unchanged)
        return outcome

    def _trash(self, collection) -> str | None:
        trash = collection.options.get("trash")
        if not trash:
            return None
        found = _existing(trash, {name for _f, name in self.listing()})
        if found is None:
            raise self.mismatch(self._key_path(collection, "trash"), self._no_folder(trash))
        return found

    def _present(self, collection, targets) -> dict[str, dict[int, Any]]:
        """folder -> {UID: target} of the targets still there, each checked against the search's hash."""
        by_key = {(folder, int(validity), int(uid)): t for t in targets if _valid_key(t.key)
                  for folder, validity, uid in [t.key]}
        present: dict[str, dict[int, Any]] = {}
        changed = []
        for folder, validity, uids in _by_folder(by_key):
            if self._select(folder, readonly=True) != validity:
                raise self.fail(f"{self._where}: the folder {folder!r} was recreated since the search (its "
                                "UIDVALIDITY changed); nothing in this mailbox was changed: run erase again")
            for uid, header in self._fetch_headers(folder, sorted(uids)):
                target = by_key[(folder, validity, uid)]
                if target.digest and _digest(header) != target.digest:
                    changed.append(f"{folder} UID {uid}")
                else:
                    present.setdefault(folder, {})[uid] = target
        if changed:
            raise self.fail(f"{self._where}: {plural(len(changed), 'message')} {'is' if len(changed) == 1 else 'are'} not the ones the search found "
                            f"({', '.join(changed[:3])}); nothing in this mailbox was changed: run erase again")
        return present

    def _remove(self, folder: str, uids: list[int], trash: str | None, checkpoint) -> None:
        """Expunge messages by UID, through the trash folder when there is one."""
        if not trash or trash == folder:
            self._expunge(folder, uids, checkpoint)
            return
        digests = {}
        with self._talking(f"cannot move messages of {folder!r} to {trash!r}"):
            self._select(folder, readonly=True)
            for uid, header in self._fetch_headers(folder, uids):
                digests[uid] = _digest(header)
            status = self.client.folder_status(trash, [b"UIDNEXT", b"UIDVALIDITY"])
            self._select(folder, readonly=False)
            if self.client.has_capability("MOVE"):
                self.client.move(uids, trash)
            else:
                self.client.copy(uids, trash)
                self.client.add_flags(uids, [_DELETED], silent=True)
                self.client.uid_expunge(uids)
        checkpoint("imap.moved")
        first = int(status[b"UIDNEXT"])
        if self._select(trash, readonly=False) != int(status[b"UIDVALIDITY"]):
            first = 1
        with self._talking(f"cannot search {trash!r}"):
            arrived = [uid for uid in self.client.search(["UID", f"{first}:*"]) if uid >= first]
        moved = sorted(digests.values())
        mine = []
        for uid, header in self._fetch_headers(trash, sorted(arrived)):
            digest = _digest(header)
            if digest in moved:  # the moved messages, told from others arriving meanwhile
                moved.remove(digest)
                mine.append(uid)
        if mine:
            self._expunge(trash, mine, checkpoint)

    def _expunge(self, folder: str, uids: list[int], checkpoint) -> None:
        self._select(folder, readonly=False)
        with self._talking(f"cannot delete messages of {folder!r}"):
            self.client.add_flags(uids, [_DELETED], silent=True)
            checkpoint("imap.flagged")
            self.client.uid_expunge(uids)
        checkpoint("imap.expunged")

    def _replace(self, collection, folder: str, uid: int, target, masker, trash: str | None, checkpoint) -> str:
        """Put the redacted (or masked) copy of a message in its folder, with its flags and internal date,
        and remove the original: `replaced`, or `unchanged` when the message already is as the erase would
        write it, or `missing` when it went meanwhile."""
        validity = self._select(folder, readonly=True)
        found = self._message(folder, validity, uid, readonly=True, more=(b"FLAGS", b"INTERNALDATE"))
        if found is None:
            return "missing"  # removed since it was checked just now
        _header, raw, answer = found
        if target.action == "redact":
            new = self._redacted(collection, raw, target, masker)
        else:
            new = _crlf(mask_message(raw.replace(b"\r\n", b"\n"), target.fields, masker))
        if new == raw:
            return "unchanged"
        flags = [f for f in answer.get(b"FLAGS", ()) if f.lower() != b"\\recent"]
        if not self._holds_copy(folder, uid, new):  # an interrupted run appended it already
            with self._talking(f"cannot add the redacted message to {folder!r}"):
                self.client.append(folder, new, flags=flags, msg_time=answer.get(b"INTERNALDATE"))
            checkpoint("imap.appended")
        self._remove(folder, [uid], trash, checkpoint)
        return "replaced"

    def _holds_copy(self, folder: str, original: int, new: bytes) -> bool:
        """Whether the folder already has a copy with exactly the bytes `new` that no other message of this
        run accounts for (an interrupted run appended it, then lost the connection or was killed before it
        removed the original). Copies are found by Message-ID, or without one by size, then compared; each
        copy found or appended is counted, so that two byte-identical shared messages get two copies."""
        wanted = _crlf(new)
        key = (folder, hashlib.sha256(wanted).hexdigest())
        message_id = next((value.strip() for name, value in header_fields(new[:_head_length(new)])
                           if name.lower() == "message-id" and value.strip()), None)
        size = len(wanted)
        criteria = ["HEADER", "Message-ID", message_id] if message_id else ["LARGER", size - 1, "SMALLER", size + 1]
        self._select(folder, readonly=True)
        with self._talking(f"cannot search {folder!r}"):
            charset = None if all(str(part).isascii() for part in criteria) else "UTF-8"
            candidates = [u for u in self.client.search(criteria, charset) if u != original]
        copies = 0
        for start in range(0, len(candidates), _FETCH_BATCH):
            with self._talking(f"cannot read messages of {folder!r}"):
                answer = self.client.fetch(candidates[start:start + _FETCH_BATCH], [b"BODY.PEEK[]"])
            copies += sum(1 for item in answer.values() if _crlf(item.get(b"BODY[]", b"")) == wanted)
        found = copies > self._copies.get(key, 0)
        self._copies[key] = self._copies.get(key, 0) + 1  # the copy found, or the one about to be appended
        return found

    # -- inventory check --connect ---------------------------------------------------------------------
    def check(self, collection) -> list[Finding]:
        findings = []
        names = {name for _flags, name in self.listing()}
        for i, folder in enumerate(collection.options.get("folders") or ()):
            if _existing(folder, names) is None:
                where = self.inventory.where(self._key_path(collection, "folders", i))
                findings.append(Finding("error", self.system.name, f"{where}: {self._no_folder(folder)}", where, 2))
        trash = collection.options.get("trash")
        if trash and _existing(trash, names) is None:
            where = self.inventory.where(self._key_path(collection, "trash"))
            findings.append(Finding("error", self.system.name, f"{where}: {self._no_folder(trash)}", where, 2))
        if findings:
            return findings
        if not self._capable("UIDPLUS"):
            findings.append(Finding("warning", self.system.name,
                                    f"{self._where}: the server does not support UIDPLUS (RFC 4315): erase refuses "
                                    "to act on this mailbox (it expunges messages by UID only)",
                                    self.inventory.where(collection.key_path)))
        searched = self.folders(collection)
        findings.append(Finding("info", self.system.name,
                                f"{self._where}: {plural(len(searched), 'folder')} searched: {', '.join(searched)}"))
        return findings


def _host(options: dict[str, Any]) -> str:
    """The server's name or address (an IPv6 address may be written in brackets, as in a URL)."""
    return str(options.get("host", "")).strip().removeprefix("[").removesuffix("]")


def _shut(client) -> None:
    try:
        client.shutdown()
    except Exception:
        pass


def _text(exc: BaseException) -> str:
    """An error's message on one line (imaplib's are often bytes written out as b'...')."""
    text = str(exc)
    match = re.fullmatch(r"b(['\"])(.*)\1", text, re.S)
    if match:
        text = match.group(2)
    return " ".join(text.split())


def _digest(header: bytes) -> str:
    return hashlib.sha256(header).hexdigest()


def _crlf(raw: bytes) -> bytes:
    """A message with CRLF line ends, as IMAP carries it."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _head_length(raw: bytes) -> int:
    end = raw.find(b"\r\n\r\n")
    return len(raw) if end < 0 else end + 2


def _existing(folder: str, names: set[str]) -> str | None:
    """The server's spelling of a folder name (INBOX in any case, RFC 3501), or None."""
    if folder in names:
        return folder
    if folder.upper() == "INBOX":
        return next((name for name in names if name.upper() == "INBOX"), None)
    return None


def _trash_or_junk(listing, flags: tuple[bytes, ...], name: str) -> bool:
    """Whether a folder is a trash or junk folder: by its SPECIAL-USE flag when the server flags any folder
    so, else by its name (the last part of its path)."""
    leaf = re.split(r"[/.]", name)[-1].casefold()
    for flag, names in ((b"\\trash", _TRASH_NAMES), (b"\\junk", _JUNK_NAMES)):
        if any(flag in other for other, _n in listing):
            if flag in flags:
                return True
        elif leaf in names:
            return True
    return False


def _searches(keys: list[list]) -> Iterator[tuple[list, str | None]]:
    """(criteria, charset) of the UID SEARCHes that find the messages any of `keys` finds: the ASCII keys
    as ORs of up to `_SEARCH_KEYS`; a key with a value beyond ASCII alone, in UTF-8 (IMAPClient writes a
    nested key in ASCII only)."""
    plain = [key for key in keys if all(str(part).isascii() for part in key)]
    for start in range(0, len(plain), _SEARCH_KEYS):
        yield _any_of(plain[start:start + _SEARCH_KEYS]), None
    for key in keys:
        if key not in plain:
            yield [part.encode("utf-8") if isinstance(part, str) else part for part in key], "UTF-8"


def _any_of(keys: list[list]) -> list:
    """One search key matching any of `keys`: a balanced tree of ORs (shallow for the server), each side
    a nested list, which IMAPClient writes in parentheses."""
    if len(keys) == 1:
        return keys[0]
    middle = len(keys) // 2
    return ["OR", _any_of(keys[:middle]), _any_of(keys[middle:])]


def _valid_key(key) -> bool:
    return isinstance(key, (list, tuple)) and len(key) == 3


def _by_folder(keys) -> list[tuple[str, int, set[int]]]:
    """(folder, UIDVALIDITY, UIDs) of record keys, folder by folder."""
    groups: dict[tuple[str, int], set[int]] = {}
    for key in keys:
        if _valid_key(key):
            folder, validity, uid = key
            groups.setdefault((folder, int(validity)), set()).add(int(uid))
    return [(folder, validity, uids) for (folder, validity), uids in groups.items()]
