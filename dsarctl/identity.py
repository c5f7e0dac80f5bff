"""Identifier kinds, normalisation and subject parsing.

Matching is exact on normalised values: an e-mail is trimmed and case-folded, a phone number becomes
E.164, a string is trimmed. A value that does not normalise (not an address, not a phone number) never
matches anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from .errors import IdentifierError

IDENTITY_TYPES = ("email", "phone", "string")

# One @, something on each side, no whitespace or header punctuation: enough to reject free text
# ("write to alice@x.com please") without pretending to validate RFC 5322. The local part may also be
# one quoted string (RFC 5322 3.4.1: `"john doe"@example.com`), where spaces and punctuation are text; it
# is kept as written, quotes and backslashes included, so it matches only the same quoted address
# (`"john.doe"@x` is not `john.doe@x`: a source holds one spelling or the other, and prefilters and SQL
# compare spellings).
_ATOMS = r'[^\s@<>,;"()\[\]]+'
_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])+"'  # text, or a backslash and a character
_EMAIL_RE = re.compile(rf"^(?:{_ATOMS}|{_QUOTED})@{_ATOMS}$")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class IdentityKind:
    """A declared kind of identifier (`identities:` in the inventory)."""

    name: str
    type: str = "string"
    region: str | None = None  # default region for phone numbers without a country code
    unique: bool = False  # one person has at most one value of this kind

    def normalise(self, value: Any) -> str | None:
        """The comparable form of `value`, or None when it is not a value of this kind."""
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, str) and not value.isascii() and _LONE_SURROGATE.search(value):
            return None  # a JSON "\udc80" escape: no one's identifier (UTF-8, as in the audit log, cannot hold it)
        if self.type == "email":
            return normalise_email(value)
        if self.type == "phone":
            return normalise_phone(value, self.region)
        return normalise_string(value)


def normalise_email(value: Any) -> str | None:
    import unicodedata

    # NFC first: the same non-ASCII address typed on two systems may be composed or decomposed (é, e+´).
    text = unicodedata.normalize("NFC", str(value).strip())
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if not _EMAIL_RE.match(text):
        return None
    return text.casefold()


def normalise_phone(value: Any, region: str | None) -> str | None:
    text = str(value).strip()
    if not text or not any(c.isdigit() for c in text):
        return None
    return _phone_e164(text, region)


@lru_cache(maxsize=65536)
def _phone_e164(text: str, region: str | None) -> str | None:
    """E.164 of a phone number's text (cached: parsing one takes phonenumbers ~0.1-0.3 ms, and a batch
    erase meets the same numbers in the search, in the second round and again in the verification)."""
    import phonenumbers  # only the commands that meet a phone number pay for its import

    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ExactFloat(float):
    """A number read from a decimal literal with more significant digits than a float keeps (16 or more,
    e.g. in JSON): as data it is the float, as an identifier the literal's exact value, not the float it
    rounds to (500000.99999999999 is not customer 500001, 12345678901234567.0 is 12345678901234567),
    which is also what a search of the literal's bytes can find."""

    literal: str

    def __new__(cls, literal: str) -> "ExactFloat":
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def normalise_string(value: Any) -> str | None:
    if isinstance(value, ExactFloat):
        from decimal import Decimal

        exact = Decimal(value.literal)
        value = int(exact) if exact == exact.to_integral_value() else exact
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


@dataclass(frozen=True, order=True)
class Identifier:
    """One normalised identifier of a subject: `email:alice@example.com`."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_identifier(text: str, kinds: dict[str, IdentityKind]) -> Identifier:
    """Parse a SUBJECT or --id value: `KIND:VALUE`, or a bare value whose kind is inferred.

    `@` means the e-mail kind, a leading `+` the phone kind.
    """
    raw = text.strip()
    if not raw:
        raise IdentifierError("empty identifier")
    kind: IdentityKind | None = None
    value = raw
    prefix, sep, rest = raw.partition(":")
    if sep and prefix in kinds:
        kind, value = kinds[prefix], rest
    elif sep and "@" not in prefix and not prefix.startswith("+") and re.fullmatch(r"[A-Za-z_][\w-]*", prefix):
        known = ", ".join(sorted(kinds)) or "none declared"
        raise IdentifierError(f"unknown identifier kind '{prefix}' in '{raw}' (kinds: {known})")
    elif "@" in raw:
        kind = _first_of_type(kinds, "email", raw)
    elif raw.startswith("+"):
        kind = _first_of_type(kinds, "phone", raw)
    else:
        known = ", ".join(sorted(kinds))
        raise IdentifierError(f"cannot tell what kind of identifier '{raw}' is: write KIND:VALUE (kinds: {known})")
    normalised = kind.normalise(value)
    if normalised is None:
        raise IdentifierError(f"'{value.strip()}' is not a valid {kind.type} for identifier kind '{kind.name}'")
    return Identifier(kind.name, normalised)


def _first_of_type(kinds: dict[str, IdentityKind], type_: str, raw: str) -> IdentityKind:
    if type_ in kinds and kinds[type_].type == type_:
        return kinds[type_]
    for kind in kinds.values():
        if kind.type == type_:
            return kind
    raise IdentifierError(f"'{raw}' looks like an {type_} but the inventory declares no identity of type {type_}")


def group_by_kind(identifiers: Iterable[Identifier]) -> dict[str, frozenset[str]]:
    """{kind: {values}} — the shape connectors search with."""
    grouped: dict[str, set[str]] = {}
    for ident in identifiers:
        grouped.setdefault(ident.kind, set()).add(ident.value)
    return {k: frozenset(v) for k, v in grouped.items()}
