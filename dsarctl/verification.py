"""Identity verification by what the controller already holds (no new documents asked for).

The requester gives a few data points (`postcode=BS1 1AA`, `order_id=5002`, `phone=020 7946 0958`); each is
compared, normalised, with the records the search found for the request's subject:

- a KEY that is an identity kind (`phone`, `customer_id`, `order_id`) is compared with the values of that
  kind the subject's records carry, normalised as the kind normalises (phone numbers in E.164);
- `postcode` (or `postal_code`, `post_code`, `zip`, `zip_code`) with fields of those names and with the
  postcode written in postal-address fields (any field whose name holds "address" or "addr"), ignoring
  case and spaces; a postcode matches an address only as a whole (BS1 does not match "BS1 1AA");
- any other KEY with the record fields of that name (`field`, `collection.field` or
  `system.collection.field`; dotted paths for nested JSON; names compared case-insensitively): phone-like
  names (phone, mobile, tel) as phone numbers, e-mail-like names as e-mail addresses (case-insensitive),
  anything else trimmed and exact.

Each point is `matched` (some record holds it), `mismatched` (records hold that kind of data, none with
this value) or `absent` (no record found holds it: it proves nothing either way). A point *counts* when it
matched and could not be known from the request itself: e-mail addresses never count (anyone who knows
where to write knows one), nor the identifier the request was made with (its subject). The rule (`decide`): no point mismatched, and at least `minimum`
points count (`default_minimum`: 1; under us-ca 3 for access and portability, 2 for other requests).

What is kept (audit log): per point its KEY, outcome, whether it counted, where it matched, and a keyed
hash (HMAC-SHA256 with the install key, as the suppression list keeps identifiers) of the normalised value;
never the value itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .errors import UsageError

if TYPE_CHECKING:
    from .identity import Identifier
    from .inventory.model import Collection, Inventory
    from .search import FindResult

POSTCODE_KEYS = ("postcode", "post_code", "postal_code", "postalcode", "zip", "zip_code", "zipcode")
_PHONE_NAMES = re.compile(r"phone|mobile|(^|[._ -])tel($|[._ -])", re.I)
_EMAIL_NAMES = re.compile(r"e-?mail", re.I)
_ADDRESS_NAMES = re.compile(r"addr", re.I)
_READ_AS = {"phone": "a phone number", "email": "an e-mail address", "postcode": "a postcode"}


@dataclass
class Check:
    """One data point compared: never holds the value, only its keyed hash."""

    key: str
    outcome: str  # matched | mismatched | absent
    counts: bool  # matched, and not known from the request's own identifiers
    how: str  # compared as: identity kind NAME | postcode | phone | email | text
    hash: str
    where: list[str] = field(default_factory=list)  # system.collection where it matched

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "outcome": self.outcome, "counts": self.counts, "compared_as": self.how,
                "where": self.where, "hash": self.hash}


def parse_points(texts: list[str]) -> list[tuple[str, str]]:
    """`--match KEY=VALUE` options as (key, value); UsageError naming a malformed one."""
    out = []
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--match '{text}': write KEY=VALUE (e.g. postcode='BS1 1AA', order_id=5002)")
        out.append((key.strip(), value.strip()))
    return out


def check_points(inventory: "Inventory", result: "FindResult", points: list[tuple[str, str]],
                 subject: "Identifier", key: bytes) -> list[Check]:
    """Compare each (key, value) with the records of `result`; `subject` is the identifier the request
    was made with (a value equal to it does not count). See the module's docstring."""
    from .keys import keyed_hash

    own = {subject.value}
    checks = []
    for name, value in points:
        how, normalise, candidates = _comparison(inventory, result, name)
        wanted = normalise(value)
        if wanted is None:
            what = next((w for t, w in _READ_AS.items() if how == t or how.endswith(f"({t})")), "value")
            raise UsageError(f"--match {name}: '{value}' cannot be read as {what}")
        if how == "postcode" and len(wanted) < 5:
            raise UsageError(f"--match {name}: '{value}' is too short to tell anyone apart: give the whole postcode")
        where, compared = [], False
        for place, values in candidates:
            compared = compared or bool(values)
            if wanted in values or (how == "postcode" and any(_postcode_in(wanted, v) for v in values)):
                where.append(place)
        outcome = "matched" if where else "mismatched" if compared else "absent"
        counts = bool(where) and how != "email" and not how.endswith("(email)") and wanted not in own
        checks.append(Check(name, outcome, counts, how, keyed_hash(key, f"match:{name.casefold()}", wanted),
                            sorted(set(where))))
    return checks


def default_minimum(regime: str, request_type: str) -> int:
    """How many data points must count when `--min` is not given: 1; under us-ca, 3 for a request to know
    specific pieces of personal information (access, portability: a "reasonably high degree of certainty",
    e.g. three pieces matched, 11 CCR §7062(c)) and 2 for the other verified requests (a "reasonable
    degree", two data points, §7062(b), (d)); an opt-out (objection) needs no verification (§7026(d))."""
    if regime == "us-ca" and request_type != "objection":
        return 3 if request_type in ("access", "portability") else 2
    return 1


def decide(checks: list[Check], minimum: int) -> tuple[bool, str]:
    """(verified, why): no point mismatched, and at least `minimum` points count."""
    if minimum < 1:
        raise UsageError(f"--min must be 1 or more, got {minimum}")
    wrong = [c.key for c in checks if c.outcome == "mismatched"]
    if wrong:
        return False, f"did not match the records found: {', '.join(wrong)}"
    counted = [c.key for c in checks if c.counts]
    if len(counted) < minimum:
        return False, (f"{len(counted)} of the {minimum} data point{'s' if minimum > 1 else ''} needed matched "
                       "(e-mail addresses and the identifier the request was made with do not count)")
    return True, f"matched: {', '.join(counted)}"


# --- how a key is compared -----------------------------------------------------------------------------

Candidates = list[tuple[str, set[str]]]  # (system.collection, normalised values found there)


def _comparison(inventory: "Inventory", result: "FindResult", name: str) -> tuple[str, Callable, Candidates]:
    """How `name` is compared: a description, the normaliser, and the values found, per collection."""
    kinds = inventory.identities
    if name in kinds:
        from .connectors.matching import FieldMatcher

        kind = kinds[name]
        # the subject's own values only: those the search would follow, not the other people a shared
        # message names (a collection that does not expand) nor a one-way link's values (follow: false)
        found = []
        for c in _collections(result):
            if not c.collection.expand:
                continue
            matcher = FieldMatcher(c.collection, inventory, c.collection.followed)
            found.append((c.collection.qualified_name,
                          {v for r in c.records for v in matcher.identities(r.data).get(name, ())}))
        return f"identity kind {name} ({kind.type})", kind.normalise, found
    if name.casefold() in POSTCODE_KEYS:
        found = []
        for c in _collections(result):
            values = set()
            for record in c.records:
                for fname, value in _fields(record.data):
                    leaf = fname.rsplit(".", 1)[-1].casefold()
                    if leaf in POSTCODE_KEYS or (_ADDRESS_NAMES.search(leaf) and not _EMAIL_NAMES.search(leaf)
                                                 and leaf not in ("ip", "ip_address", "ipaddress")):
                        values.add(str(value))
            found.append((c.collection.qualified_name, {_postcode(v) for v in values} | values))
        return "postcode", _postcode, found
    return _field_comparison(inventory, result, name)


def _field_comparison(inventory: "Inventory", result: "FindResult", name: str) -> tuple[str, Callable, Candidates]:
    from .identity import normalise_email, normalise_phone, normalise_string

    region = next((k.region for k in inventory.identities.values() if k.type == "phone" and k.region), None)
    leaf = name.rsplit(".", 1)[-1]
    if _PHONE_NAMES.search(leaf):
        how, normalise = "phone", (lambda v: normalise_phone(v, region))
    elif _EMAIL_NAMES.search(leaf):
        how, normalise = "email", normalise_email
    else:
        how, normalise = "text", normalise_string
    wanted = name.casefold()
    found = []
    for c in _collections(result):
        coll: Collection = c.collection
        prefixes = ("", f"{coll.name}.".casefold(), f"{coll.qualified_name}.".casefold())
        values = set()
        for record in c.records:
            for fname, value in _fields(record.data):
                if any(wanted == p + fname.casefold() for p in prefixes):
                    norm = normalise(value)
                    if norm is not None:
                        values.add(norm)
        found.append((coll.qualified_name, values))
    return how, normalise, found


def _collections(result: "FindResult"):
    for system in result.systems.values():
        for coll in system.collections.values():
            if coll.status == "ok" and coll.records:
                yield coll


def _fields(data: dict[str, Any]):
    """(dotted name, scalar value) of a record's data; lists and empty values left out."""
    from .export import flatten, plain

    for name, value in flatten(plain(data)).items():
        if value is not None and not isinstance(value, (list, dict)) and str(value).strip():
            yield name, value


def _postcode(value: Any) -> str | None:
    text = re.sub(r"\s+", "", str(value)).casefold()
    return text or None


def _postcode_in(wanted: str, text: str) -> bool:
    """`wanted` (a compacted postcode) written whole in an address: not inside a longer word or code."""
    if len(wanted) < 5:
        return wanted == _postcode(text)
    pattern = r"\s*".join(re.escape(c) for c in wanted)
    return re.search(rf"(?<![0-9a-z]){pattern}(?!\s*[0-9a-z])", text, re.I) is not None
