"""Shared messages: who else a message names, and the subject taken out of its header fields.

A message of a mailbox is *shared* when its identity headers (from, to, cc, reply-to: the collection's)
hold an address that is neither one of the subject's nor one of the controller's own: the mailbox's own
`address:`, an address in the domain of `controller.contact` or in a domain of `controller.domains`
(their subdomains included), or a placeholder in the reserved `invalid` domain (what a redaction writes).

Redacting a shared message rewrites only the header fields that name the subject; every other byte (the
other fields with their folding, the blank line, the body) is kept. The subject is known only by the
keyed hashes of its identifiers (`SubjectTest`): the erase journal never holds the identifiers.
"""

from __future__ import annotations

import re
from email.headerregistry import AddressHeader, HeaderRegistry
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from ..identity import normalise_email, normalise_phone
from ..keys import keyed_hash
from .mailheaders import decode_words, field_text, value_addresses

if TYPE_CHECKING:
    from ..inventory.model import Collection, Inventory

POLICIES = ("redact", "delete", "keep")
DEFAULT_POLICY = "redact"

# Header fields whose value is a list of addresses: the subject's mailboxes are taken out of them.
ADDRESS_HEADERS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to", "resent-cc",
    "resent-bcc", "resent-reply-to", "return-path", "delivered-to", "x-original-to", "envelope-to",
    "x-envelope-to", "x-original-from", "disposition-notification-to", "return-receipt-to", "errors-to",
    "mail-followup-to", "mail-reply-to",
})
# Message ids: never an identifier of a person, and rewriting one would break threads.
_ID_HEADERS = frozenset({"message-id", "in-reply-to", "references", "content-id", "resent-message-id"})
PLACEHOLDER_ADDRESS = "redacted@invalid"  # RFC 2606: the `invalid` domain is no one's
UNDISCLOSED = "undisclosed-recipients:;"  # an empty group, as MTAs write when every recipient is hidden
ENVELOPE_SENDER = b"MAILER-DAEMON"  # the mbox From_ line's sender when it was the subject
_EMAIL_TOKEN = re.compile(r"[^\s<>(),;:\"\[\]@]+@[^\s<>(),;:\"\[\]@]+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_LINE = re.compile(rb"[\041-\071\073-\176]*:|[\t ]")  # what email.feedparser takes for a header line
_AS_ADDRESSES = HeaderRegistry(default_class=AddressHeader, use_default_map=False)
_WIDTH = 78  # RFC 5322's recommended line length, kept where a rewritten field allows


def email_tokens(text: str) -> list[str]:
    """Every token of `text` that looks like an e-mail address, however they are separated."""
    return _EMAIL_TOKEN.findall(text)


class SubjectTest:
    """Whether a value is one of the subject's identifiers, from their keyed hashes (kind:value)."""

    def __init__(self, key: bytes, hashes: Iterable[str], inventory: "Inventory"):
        self.key = key
        self.hashes = frozenset(hashes)
        kinds = inventory.identities.values()
        self.email_kinds = [k.name for k in kinds if k.type == "email"]
        self.phone_kinds = [k for k in kinds if k.type == "phone"]
        self._seen: dict[str, bool] = {}

    def email(self, value: str) -> bool:
        """Whether `value` (an address, in any spelling) is one of the subject's e-mail addresses."""
        norm = normalise_email(value)
        if norm is None or not self.hashes:
            return False
        if norm not in self._seen:
            self._seen[norm] = any(keyed_hash(self.key, kind, norm) in self.hashes for kind in self.email_kinds)
        return self._seen[norm]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the subject's e-mail addresses and phone numbers stand in a text, in order."""
        if not self.hashes:
            return []
        found = sorted(span for span, hashes in self.identifiers(text) if hashes & self.hashes)
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def identifiers(self, text: str) -> Iterator[tuple[tuple[int, int], set[str]]]:
        """Every e-mail address and phone number in a text: its span, and the keyed hashes it would have
        as an identifier of each e-mail (or phone) kind."""
        for m in _EMAIL_TOKEN.finditer(text):
            token = m.group().rstrip(".")  # the full stop of a sentence is not the address's
            norm = normalise_email(token)
            if norm:
                yield (m.start(), m.start() + len(token)), {keyed_hash(self.key, kind, norm) for kind in self.email_kinds}
        if self.phone_kinds and any(c.isdigit() for c in text):
            import phonenumbers

            for kind in self.phone_kinds:
                # POSSIBLE, as identity.normalise_phone judges a number: a VALID match would miss a
                # number of a range the metadata does not know (yet)
                for match in phonenumbers.PhoneNumberMatcher(text, kind.region, leniency=phonenumbers.Leniency.POSSIBLE):
                    number = normalise_phone(match.raw_string, kind.region)
                    if number:
                        yield (match.start, match.end), {keyed_hash(self.key, kind.name, number)}


def controller_domains(inventory: "Inventory") -> tuple[str, ...]:
    """The controller's own mail domains: `controller.domains` and the domain of `controller.contact`."""
    controller = inventory.controller
    domains = list(getattr(controller, "domains", None) or ())
    contact = normalise_email(controller.contact or "")
    if contact:
        domains.append(contact.rpartition("@")[2])
    return tuple(dict.fromkeys(d.casefold() for d in domains))


def own_address_test(inventory: "Inventory", collection: "Collection") -> Callable[[str], bool]:
    """Whether a normalised address is the controller's own (not another person) for this mailbox."""
    addresses = {normalise_email(a) for a in collection.options.get("address") or ()}
    domains = controller_domains(inventory)

    def own(value: str) -> bool:
        if value in addresses:
            return True
        domain = value.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in (*domains, "invalid"))

    return own


def others(inventory: "Inventory", collection: "Collection", identities: dict[str, set[str]],
           subject: SubjectTest, own: Callable[[str], bool] | None = None) -> set[str]:
    """The addresses of a message's identity headers that belong to people other than the subject
    (`own`: the collection's `own_address_test`, when the caller keeps it)."""
    own = own or own_address_test(inventory, collection)
    out: set[str] = set()
    for kind, values in identities.items():
        if inventory.identities[kind].type == "email":
            out.update(v for v in values if not own(v) and not subject.email(v))
    return out


def sharing(inventory: "Inventory", collection: "Collection", identities: dict[str, set[str]],
            subject: SubjectTest, owns: dict[str, Callable[[str], bool]] | None = None) -> tuple[int, str] | None:
    """For a message of a mailbox source (`Source.mailbox`) that names people other than the subject:
    how many, and the collection's `shared:` policy (redact | delete | keep); None when it is the
    subject's alone. `owns`: a cache of each collection's `own_address_test`, kept by the caller."""
    if owns is None:
        own = own_address_test(inventory, collection)
    elif collection.qualified_name in owns:
        own = owns[collection.qualified_name]
    else:
        own = owns[collection.qualified_name] = own_address_test(inventory, collection)
    found = others(inventory, collection, identities, subject, own)
    return (len(found), collection.options.get("shared", DEFAULT_POLICY)) if found else None


# -- redaction ---------------------------------------------------------------------------------------

def redact_message(raw: bytes, subject: SubjectTest, *, envelope: bool = False,
                   address_headers: Iterable[str] = ()) -> bytes:
    """`raw` with the subject taken out of its header fields: its mailboxes removed from the address
    fields (`ADDRESS_HEADERS` and `address_headers`), a display name that holds one of its identifiers
    dropped (the address kept), its addresses and phone numbers in any other field replaced by the
    redaction placeholder. A From left empty gets a placeholder address, a To `undisclosed-recipients:;`;
    another emptied field is removed. With `envelope`, `raw` starts with an mbox From_ line, whose sender
    becomes MAILER-DAEMON when it was the subject. Fields that do not name the subject, and the body,
    are kept byte for byte."""
    out: list[bytes] = []
    if envelope:
        line, sep, raw = raw.partition(b"\n")
        out.append(_envelope(line, subject) + sep)
    head_end = _head_end(raw)
    address_fields = ADDRESS_HEADERS | {h.lower() for h in address_headers}
    for field in _fields(raw[:head_end]):
        out.append(_redact_field(field, subject, address_fields))
    out.append(raw[head_end:])
    return b"".join(out)


def _envelope(line: bytes, subject: SubjectTest) -> bytes:
    cr = b"\r" if line.endswith(b"\r") else b""
    parts = line[:len(line) - len(cr)].split(b" ", 2)
    if len(parts) >= 2 and subject.email(parts[1].decode("utf-8", "replace")):
        parts[1] = ENVELOPE_SENDER
    return b" ".join(parts) + cr


def _head_end(raw: bytes) -> int:
    """Where the header block ends as Python's parser sees it: at the empty line, or at the first line
    that is neither a field nor a continuation (the body then starts there); the message's length when
    there is no body."""
    offset = 0
    for line in raw.splitlines(keepends=True):
        if line in (b"\n", b"\r\n", b"\r") or not _HEADER_LINE.match(line):
            return offset
        offset += len(line)
    return len(raw)


def _fields(head: bytes) -> list[bytes]:
    """The header block as fields, each with its continuation lines and line endings."""
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _redact_field(field: bytes, subject: SubjectTest, address_fields: frozenset[str]) -> bytes:
    name, colon, value = field.partition(b":")
    lname = name.strip().decode("ascii", "replace").lower()
    if not colon or not lname or lname in _ID_HEADERS:
        return field
    text = value.decode("utf-8", "surrogateescape")
    unfolded = _FOLD.sub("", text).strip()
    if lname in address_fields:
        new = _redact_addresses(unfolded, subject, lname)
    else:
        new = _redact_text(unfolded, subject)
    if new is None:
        return field
    if new == "":
        return b""
    eol = b"\r\n" if field.endswith(b"\r\n") else b"\n"
    return _fold(name.decode("ascii", "surrogateescape"), new, eol)


def _redact_addresses(text: str, subject: SubjectTest, lname: str) -> str | None:
    items, changed = _redact_items(_split(text), subject)
    if not changed:
        return None
    if items:
        return ", ".join(items)
    if lname in ("from", "resent-from"):
        from ..erase.mask import REDACTED

        return f'"{REDACTED}" <{PLACEHOLDER_ADDRESS}>'
    return UNDISCLOSED if lname == "to" else ""


def _redact_items(items: list, subject: SubjectTest) -> tuple[list[str], bool]:
    """The items of an address list without the subject's: (kept items as text, whether any changed)."""
    kept: list[str] = []
    changed = False
    for item in items:
        if isinstance(item, tuple):  # a group: "name: a, b;"
            name, inner = item
            members, inner_changed = _redact_items(inner, subject)
            changed |= inner_changed
            kept.append(f"{name}: {', '.join(members)};" if members else f"{name}:;")
            continue
        text = _readable(item)
        addresses = value_addresses(text)
        if any(subject.email(a) for a in addresses) or (not addresses and subject.spans(decode_words(text))):
            changed = True
            continue
        named = _named(text)
        if named and subject.spans(named[0]):
            kept.append(named[1])  # someone else's address under a name that names the subject
            changed = True
            continue
        kept.append(item)  # as it was written
    return kept, changed


def _readable(text: str) -> str:
    """Text of raw header bytes (held as UTF-8 with surrogate escapes) as the search reads it."""
    return field_text(text.encode("utf-8", "surrogateescape").decode("ascii", "surrogateescape"))


def _named(item: str) -> tuple[str, str] | None:
    """(display name, address) of one mailbox written with a name; None for anything else."""
    try:
        found = _AS_ADDRESSES("to", item).addresses
    except Exception:  # the parser's own bugs on hostile input
        return None
    if len(found) == 1 and found[0].display_name and found[0].domain:
        return found[0].display_name, found[0].addr_spec
    return None


def _split(text: str) -> list:
    """An address list split at its top-level commas: each item a mailbox's text, or (name, [items]) for
    a group. Quoted strings, comments and angle brackets are respected."""
    items: list = []
    buf: list[str] = []
    group: tuple[str, list] | None = None
    quoted = angle = False
    depth = 0
    i = 0

    def flush() -> None:
        item = "".join(buf).strip()
        buf.clear()
        if item:
            (group[1] if group is not None else items).append(item)

    while i < len(text):
        c = text[i]
        if quoted or depth:
            buf.append(c)
            if c == "\\" and i + 1 < len(text):
                i += 1
                buf.append(text[i])
            elif quoted and c == '"':
                quoted = False
            elif depth and c == "(":
                depth += 1
            elif depth and c == ")":
                depth -= 1
        elif c == '"':
            quoted = True
            buf.append(c)
        elif c == "(":
            depth = 1
            buf.append(c)
        elif c in "<>":
            angle = c == "<"
            buf.append(c)
        elif c == "," and not angle:
            flush()
        elif c == ":" and not angle and group is None:
            group = ("".join(buf).strip(), [])
            buf.clear()
        elif c == ";" and not angle and group is not None:
            flush()
            items.append(group)
            group = None
        else:
            buf.append(c)
        i += 1
    flush()
    if group is not None:
        items.append(group)
    return items


def _redact_text(text: str, subject: SubjectTest) -> str | None:
    """A field that is not an address list with the subject's addresses and phone numbers replaced."""
    from ..erase.mask import REDACTED

    encoded = "=?" in text
    readable = decode_words(_readable(text)) if encoded else text
    spans = subject.spans(readable)
    if not spans:
        return None
    parts, last = [], 0
    for start, end in spans:
        parts += [readable[last:start], REDACTED]
        last = end
    new = "".join(parts) + readable[last:]
    if encoded and not new.isascii():
        from email.header import Header

        return Header(new, "utf-8").encode(maxlinelen=10_000)
    return new


def _fold(name: str, value: str, eol: bytes) -> bytes:
    """`name: value` as header lines, folded at spaces to stay within 78 characters where it can."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if word and len(line) + 1 + len(word) > _WIDTH and not line.endswith(":"):
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return eol.join(part.encode("utf-8", "surrogateescape") for part in lines) + eol
