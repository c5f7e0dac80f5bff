"""Mail headers read the way Python's modern e-mail parser reads them, the same on Python 3.10 to 3.13.

- A header block is split into fields by the standard library itself (`email.parser`, the rules of
  `email.message_from_bytes`: where the headers end, what a continuation line is).
- Each field's raw bytes are decoded as UTF-8 (RFC 6532: `From: José <josé@example.com>`), or as
  Latin-1 when they are not valid UTF-8 (an old client's 8-bit header: every byte kept, none lost), and
  unfolded by removing every CR and LF, as `email.policy.default` does: a display name folded inside
  its quotes reads the same with CRLF or LF line ends.
- Addresses come from `email.headerregistry`'s address-list parser (display names, quoted strings,
  comments, groups such as `undisclosed-recipients:;` and `Team: a@x, b@y;`, RFC 2047 encoded words,
  a trailing comma). `email.utils.getaddresses` is not used: its answers differ between versions (since
  3.13, and in the security releases of 3.11 and 3.12, it gives nothing at all for a header ending in a
  comma or holding a quoted name folded with CRLF).

The modern parser costs ~100 µs a value, so a value written the common simple way (addresses, or an
atom or quoted display name followed by an address in angle brackets, separated by commas, in ASCII)
is read by one regular expression instead, which gives exactly what the parser gives for such values
(tests/test_mail_headers.py compares the two). One addition to the standard: a header whose only
"address" is an RFC 2047 encoded word that decodes to an address (`To: =?utf-8?q?kim=40example.com?=`,
seen in the wild) yields that address.
"""

from __future__ import annotations

import re
from email.headerregistry import AddressHeader, HeaderRegistry, UnstructuredHeader
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import lru_cache
from typing import Iterable

_FIELDS = BytesHeaderParser(policy=compat32)  # compat32 keeps each field's raw value (raw_items)
_AS_ADDRESSES = HeaderRegistry(default_class=AddressHeader, use_default_map=False)
_AS_TEXT = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_WORD = rf"(?:{_ATOM}|\"[\t\x20\x21\x23-\x5b\x5d-\x7e]*\")"  # an atom or a quoted string
_ITEM = rf"[ \t]*(?:({_ADDR})|(?:{_WORD}(?:[ \t]+{_WORD})*)?[ \t]*<({_ADDR})>)[ \t]*"
_SIMPLE_LIST = re.compile(rf"{_ITEM}(?:,{_ITEM})*(?:,[ \t]*)?")
_SIMPLE_ITEM = re.compile(rf"{_ITEM}(?:,|$)")


def header_fields(header_bytes: bytes) -> list[tuple[str, str]]:
    """(name, value) of every field of a header block, in order: values decoded and unfolded."""
    message = _FIELDS.parsebytes(header_bytes)
    return [(name, field_text(value)) for name, value in message.raw_items()]


def field_text(raw: str) -> str:
    """A raw field value as the parser keeps it (bytes beyond ASCII as surrogate escapes) decoded as
    UTF-8, else Latin-1, and unfolded."""
    if not raw.isascii():
        data = raw.encode("ascii", "surrogateescape")
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            raw = data.decode("latin-1")
    return raw.replace("\r", "").replace("\n", "")


def header_addresses(values: Iterable[str]) -> list[str]:
    """Every address (addr-spec) of some decoded, unfolded header values, in order."""
    out: list[str] = []
    for value in values:
        out.extend(value_addresses(str(value)))
    return out


@lru_cache(maxsize=8192)
def value_addresses(value: str) -> tuple[str, ...]:
    """The addresses of one header value (cached: the mailbox's own address heads half the messages)."""
    found = _addresses(value)
    if not found and "=?" in value:
        # a whole address hidden in an encoded word: not standard, but seen in the wild
        found = _addresses(decode_words(value))
    return found


def _addresses(value: str) -> tuple[str, ...]:
    if value.isascii() and "=?" not in value and _SIMPLE_LIST.fullmatch(value):
        return tuple(m.group(1) or m.group(2) for m in _SIMPLE_ITEM.finditer(value))
    return parsed_addresses(value)


def parsed_addresses(value: str) -> tuple[str, ...]:
    """The addresses of one header value by `email.headerregistry` (only those with a domain)."""
    try:
        header = _AS_ADDRESSES("to", value)
        return tuple(a.addr_spec for a in header.addresses if a.domain)
    except Exception:  # the parser's own bugs on hostile input (IndexError, ...): no address read
        return ()


@lru_cache(maxsize=8192)
def decode_words(value: str) -> str:
    """A header value as text: RFC 2047 encoded words decoded, the rest as written."""
    try:
        return str(_AS_TEXT("subject", value))
    except Exception:
        return value
