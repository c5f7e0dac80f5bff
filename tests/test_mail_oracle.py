"""dsarctl's mail answers against a plain standard-library oracle, on a corpus of messy real-world files.

For every file of tests/data/mail/ (hand-written bytes: mboxo without empty lines, CRLF, display names
folded inside quotes, trailing commas, groups, encoded words in odd places, raw UTF-8 and Latin-1
headers, 8-bit bodies, nested message/rfc822, ">From " escapes, duplicates ...) and every address that
appears anywhere in it (headers, bodies, inner messages), the messages dsarctl finds and exports must be
exactly those the oracle names, byte for byte:

- framing: `mailbox.mbox` / `mailbox.Maildir`, a message's bytes from `get_bytes`;
- headers: `email.message_from_bytes(policy=email.policy.default)`, each identity field's raw value
  decoded as UTF-8 (RFC 6532) or else Latin-1, then `policy.header_fetch_parse` (which unfolds it) and
  its `.addresses`;
- plus the one documented addition (docs/reliability.md): a header whose only "address" is an encoded
  word that decodes to an address yields that address.

dsarctl is asked every way it searches: one subject through GNU grep, a batch of subjects (atscan), the
Python scanner, and a full parse without any byte prefilter.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
import shutil
from pathlib import Path

import pytest

from dsarctl.connectors import open_connector
from dsarctl.identity import Identifier, normalise_email
from dsarctl.search import find_subjects
from helpers import Scanner, load

DATA = Path(__file__).parent / "data" / "mail"
HEADERS = ("from", "to", "cc", "reply-to")
MBOXES = sorted(p.name for p in DATA.glob("*.mbox"))
MAILDIRS = sorted(p.name for p in DATA.glob("*.maildir"))
# addresses no fixture holds, some a part of one that does: matching is exact at field boundaries
PROBES = ["nobody@example.com", "lice@example.com", "alice@example.co", "kim@example.com.au", "x.kim@example.com"]
_TOKEN = re.compile(rb"[^\s<>(),;:\"'\[\]@=?]+@[A-Za-z0-9.-]+[A-Za-z0-9]")


# -- the oracle: standard library only -------------------------------------------------------------

def _decoded(raw: str) -> str:
    data = raw.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def oracle_addresses(raw_message: bytes) -> set[str]:
    """The normalised addresses of a message's identity headers, as the standard library reads them."""
    policy = email.policy.default
    message = email.message_from_bytes(raw_message, policy=policy)
    found = set()
    for name, raw in message.raw_items():
        if name.lower() not in HEADERS:
            continue
        value = _decoded(raw)
        addresses = [a.addr_spec for a in policy.header_fetch_parse(name, value).addresses if a.domain]
        if not addresses and "=?" in value:  # the documented addition: an address in an encoded word
            text = str(policy.header_fetch_parse("subject", value))
            addresses = [a.addr_spec for a in policy.header_fetch_parse(name, text).addresses if a.domain]
        found.update(filter(None, map(normalise_email, addresses)))
    return found


def oracle_messages(path: Path) -> list[bytes]:
    """Every message's bytes as Python's mailbox module reads the mbox file or Maildir folder."""
    box = mailbox.Maildir(str(path), factory=None, create=False) if path.is_dir() else mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()


def universe(path: Path, messages: list[bytes]) -> list[str]:
    """Every address of the fixture: in the oracle's headers, and any address-like text in its bytes
    (bodies, inner messages, display names) that must find nothing."""
    raw = b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()) if path.is_dir() else path.read_bytes()
    found = set().union(*(oracle_addresses(m) for m in messages))
    for token in _TOKEN.findall(raw):
        value = normalise_email(_decoded(token.decode("ascii", "surrogateescape")))
        if value:
            found.add(value)
    return sorted(found)


# -- dsarctl ---------------------------------------------------------------------------------------

def _inventory(tmp_path: Path, name: str):
    target = tmp_path / name
    if (DATA / name).is_dir():
        shutil.copytree(DATA / name, target)
    else:
        shutil.copyfile(DATA / name, target)
    connector = "maildir" if name.endswith(".maildir") else "mbox"
    return load(tmp_path, f"""
mail:
  connector: {connector}
  path: {name}
  identities: {{email: [{", ".join(HEADERS)}]}}
"""), target


def _exported(inventory, records) -> list[bytes]:
    system = inventory.systems["mail"]
    coll = system.collections["mail"]
    with open_connector(system, inventory) as connector:
        return sorted(b"".join(f.chunks()) for f in connector.export_files(coll, records))


def _answers(inventory, addresses: list[str], *, batch: bool) -> dict[str, list[bytes]]:
    subjects = [[Identifier("email", a)] for a in addresses]
    results = find_subjects(inventory, subjects) if batch else [find_subjects(inventory, [s])[0] for s in subjects]
    out = {}
    for address, result in zip(addresses, results):
        assert not result.failures, result.failures
        out[address] = _exported(inventory, result.systems["mail"].collections["mail"].records)
    return out


def _full_parse(inventory, addresses: list[str]) -> dict[str, list[bytes]]:
    system = inventory.systems["mail"]
    coll = system.collections["mail"]
    out = {}
    with open_connector(system, inventory) as connector:
        for address in addresses:
            records = list(connector.locate(coll, {"email": frozenset([address])}, prefilter=False))
            out[address] = _exported(inventory, records)
    return out


def _expected(messages: list[bytes], addresses: list[str]) -> dict[str, list[bytes]]:
    named = [(m, oracle_addresses(m)) for m in messages]
    return {a: sorted(m for m, found in named if a in found) for a in addresses}


@pytest.mark.parametrize("name", MBOXES + MAILDIRS)
def test_find_and_export_agree_with_the_standard_library(tmp_path, name):
    inventory, path = _inventory(tmp_path, name)
    messages = oracle_messages(path)
    addresses = universe(path, messages) + PROBES  # more than 4: a batch of them runs through atscan
    expected = _expected(messages, addresses)
    assert any(expected.values())
    with Scanner("grep"):
        assert _answers(inventory, addresses, batch=False) == expected, "one subject, GNU grep"
        assert _answers(inventory, addresses, batch=True) == expected, "a batch, atscan"
    with Scanner("python"):
        assert _answers(inventory, addresses, batch=True) == expected, "a batch, Python scanner"
    assert _full_parse(inventory, addresses) == expected, "every message parsed"


@pytest.mark.parametrize("name", MBOXES)
def test_every_message_is_framed_as_mailbox_frames_it(tmp_path, name):
    """`inventory check` counts, and the erase's full read frames, the messages mailbox.mbox reads."""
    inventory, path = _inventory(tmp_path, name)
    system = inventory.systems["mail"]
    with open_connector(system, inventory) as connector:
        frames = list(connector.messages(system.collections["mail"]))
    data = path.read_bytes()
    ours = []
    for start, end, _line, _headers in frames:
        message = data[start:end]
        body = message[message.find(b"\n") + 1:] if b"\n" in message else b""
        ours.append(body[:-1] if body == b"\n" or body.endswith(b"\n\n") else body)
    assert ours == oracle_messages(path)


def test_the_corpus_holds_the_shapes_it_is_for():
    """A guard against the corpus being "cleaned up" by an editor or by git."""
    raw = {p.name: p.read_bytes() for p in DATA.glob("*.mbox")}
    assert b"\nFrom - Mon" in raw["mboxo-netscape.mbox"] and b"\n\nFrom " not in raw["mboxo-netscape.mbox"]
    assert raw["crlf-folded.mbox"].count(b"\r\n") == raw["crlf-folded.mbox"].count(b"\n")
    assert b'"Surname,\r\n\tGiven"' in raw["crlf-folded.mbox"]
    assert b"Jos\xc3\xa9" in raw["utf8-8bit.mbox"] and b"Ren\xe9" in raw["utf8-8bit.mbox"]
    assert b"undisclosed-recipients:;" in raw["groups-encoded.mbox"]
    assert b"Content-Type: message/rfc822" in raw["nested-rfc822.mbox"]
    assert not raw["edges.mbox"].endswith(b"\n")
    copies = sorted((DATA / "messy.maildir" / "cur").glob("170000000[12]*"))
    assert len(copies) == 2 and copies[0].read_bytes() == copies[1].read_bytes()
