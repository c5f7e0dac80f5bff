"""The byte-level prefilter (dsarctl/connectors/bytescan.py) never changes an answer: the fast path
(GNU grep, and the Python scanner) finds exactly what a plain parse of every record finds."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from helpers import Scanner, benchmark_company, load

from dsarctl.connectors import open_connector
from dsarctl.connectors.bytescan import ASCII_FOLDING, FOLDS, needle_for_email
from dsarctl.identity import group_by_kind, normalise_email, parse_identifier

ROOT = Path(__file__).resolve().parent.parent
SCANNERS = [Scanner("grep"), Scanner("python")]


def test_ascii_folding_lists_every_character_that_normalises_to_ascii():
    found = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        nfc = unicodedata.normalize("NFC", ch)
        forms = (nfc, ch.casefold(), nfc.casefold(), unicodedata.normalize("NFC", nfc.casefold()))
        if any(c.isascii() for form in forms for c in form):
            found.append(ch)
    assert "".join(found) == ASCII_FOLDING
    assert FOLDS["\u00df"] == "ss" and FOLDS["\u212a"] == "k" and FOLDS["\ufb01"] == "fi"
    assert "\u0130" not in FOLDS  # İ folds to i + combining dot: never part of an ASCII value


@pytest.mark.parametrize("value,needle", [
    ("planted.middle@bench.example", "planted.middle@bench.example"),  # nothing a folding character makes
    ("rupert.edwards106316@example.net", "106316@example.net"),  # "s" may be written ſ
    ("kiss@ok.de", None),  # too little of it is safe: searched whole, with every folding character
    ("zo\u00eb.mith42@example.org", ".mith42@example.org"),  # ë may be written e + combining diaeresis
])
def test_needle_for_email(value, needle):
    assert needle_for_email(value) == needle


def _wanted(inventory, *subjects):
    return group_by_kind([parse_identifier(s, inventory.identities) for s in subjects])


def _compare(inventory, subjects):
    """Every file collection searched for each subject: prefilter (grep and Python) vs a full parse."""
    compared = 0
    for system in inventory.systems.values():
        if system.is_manual:
            continue
        connector = open_connector(system, inventory)
        if not connector.is_file:
            continue
        for coll in system.collections.values():
            for subject in subjects:
                wanted = _wanted(inventory, *subject)
                plain = [(r.key, r.location, sorted(r.matched), r.digest) for r in connector.locate(coll, wanted, prefilter=False)]
                for scanner in SCANNERS:
                    with scanner:
                        fast = [(r.key, r.location, sorted(r.matched), r.digest) for r in connector.start_locate(coll, wanted)()]
                    assert fast == plain, (system.name, subject, scanner)
                compared += bool(plain)
    return compared


def test_fast_path_agrees_with_a_plain_parse_on_the_benchmark_company(tmp_path):
    planted = benchmark_company(tmp_path)
    from dsarctl.inventory import load_inventory

    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:15]
    subjects = [[s["email"]] for s in planted["subjects"]] + [[s] for s in ordinary]
    subjects += [[f"customer_id:{s['customer_id']}"] for s in planted["subjects"]]
    subjects += [[s["email"].upper(), f"customer_id:{s['customer_id']}"] for s in planted["subjects"]]
    subjects.append([f"email:{s}" for s in ordinary])  # a batch of many needles: one multi-pattern grep
    assert _compare(inventory, subjects) >= 20


FILES_SYSTEMS = """
list:
  connector: csv
  path: list.csv
  identities: {email: Email}
events:
  connector: jsonl
  path: events.jsonl
  identities: {email: user.email, customer_id: account}
mail:
  connector: mbox
  path: mail.mbox
  identities: {email: [from, to, cc, reply-to]}
inbox:
  connector: maildir
  path: Maildir
  identities: {email: [from, to, cc, reply-to]}
"""


def _tricky_company(folder: Path) -> None:
    (folder / "list.csv").write_bytes(
        "Email,Note\n"
        "STRASSE@example.de,plain\n"
        "stra\u00dfe@example.de,sharp s\n"
        "\u212aim@example.com,kelvin sign\n"
        "kim@example.com,\"two\nlines kim@example.com\"\n"
        "\"kim@example.com\",\"quoted, \"\"with\"\" quotes\"\n"
        "x,\"a note that names kim@example.com\nand goes on\"\n"
        "\ufb01nn@example.com,ligature\n"
        "zo\u00eb.smith@example.com,composed\n"
        "ZOE\u0308.SMITH@EXAMPLE.COM,decomposed\n".encode()
    )
    (folder / "events.jsonl").write_bytes(
        b'{"user": {"email": "kim@example.com"}, "account": 7}\n'
        b'{"user": {"email": "\\u006bim@example.com"}}\n'
        b'{"user": {"email": "finn@EXAMPLE.com"}, "account": "70"}\n'
        b'{"account": 7.0}\n'
        b'{"note": "kim@example.com is mentioned, not the owner"}\n'
    )
    (folder / "mail.mbox").write_bytes(
        b"\r\n"
        b"From kim@example.com Mon Mar  2 09:15:00 2026\r\n"
        b"From: Kim <KIM@example.com>\r\n"
        b"Subject: hello\r\n"
        b"\r\n"
        b"body line\r\n"
        b"\r\n"
        b"From someone@example.org Mon Mar  2 10:00:00 2026\r\n"
        b"From: someone@example.org\r\n"
        b"To: =?utf-8?b?a2ltQGV4YW1wbGUuY29t?=\r\n"
        b"\r\n"
        b"hidden address in an encoded word\r\n"
        b"\r\n"
        b"From other@example.org Mon Mar  2 11:00:00 2026\r\n"
        b"From: other@example.org\r\n"
        b"Subject: =?utf-8?q?about_kim?=\r\n"
        b"\r\n"
        b"Please write to kim@example.com\r\n"
        b"From kim@example.com is not a new message: no empty line before it\r\n"
        b"\r\n"
        b"From x@example.org Mon Mar  2 11:30:00 2026\r\n"
        b"X-Junk: \xff\xfe\xc3\r\n"
        b"To: \xc3kim@example.com (\xff\xfe)\r\n"
        b"Cc: Kim@Example.COM (\xe9\xff)\r\n"
        b"\r\n"
        b"\r\n"
        b"From straSSe@example.de Mon Mar  2 12:00:00 2026\r\n"
        b"To: STRASSE@example.de\r\n"
        b"Cc: finn@example.com,\r\n"
        b" kim@example.com\r\n"
        b"\r\n"
    )
    root = folder / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(b"From: Kim <kim@example.com>\n\nhi\n")
    (root / "cur" / "2.b:2,S").write_bytes(b"From: x@example.org\n\nkim@example.com only in the body\n")
    (root / "new" / "3.c").write_bytes(b"To: =?utf-8?q?kim=40example=2Ecom?=\n\nre\n")
    (root / "new" / ".hidden").write_bytes(b"From: kim@example.com\n\n")


@pytest.mark.parametrize("subject", [
    ["kim@example.com"], ["strasse@example.de"], ["finn@example.com"], ["customer_id:7"], ["zo\u00eb.smith@example.com"],
    ["kim@example.com", "strasse@example.de", "finn@example.com", "customer_id:70", "nobody@example.com"],
])
def test_fast_path_agrees_with_a_plain_parse_on_tricky_files(tmp_path, subject):
    _tricky_company(tmp_path)
    inventory = load(tmp_path, FILES_SYSTEMS)
    _compare(inventory, [subject])


def test_tricky_spellings_are_found(tmp_path):
    """Spellings whose bytes do not hold the searched address are still found by the fast path."""
    _tricky_company(tmp_path)
    inventory = load(tmp_path, FILES_SYSTEMS)
    for scanner in SCANNERS:
        with scanner:
            found = {}
            for name in ("list", "events", "mail", "inbox"):
                system = inventory.systems[name]
                connector = open_connector(system, inventory)
                coll = system.collections[name]
                for subject in ("kim@example.com", "strasse@example.de", "finn@example.com", "zo\u00eb.smith@example.com"):
                    found[(name, subject)] = [r.location for r in connector.start_locate(coll, _wanted(inventory, subject))()]
        assert found[("list", "kim@example.com")] == ["list.csv:4", "list.csv:5", "list.csv:7"], scanner
        assert found[("list", "strasse@example.de")] == ["list.csv:2", "list.csv:3"], scanner
        assert found[("list", "finn@example.com")] == ["list.csv:10"], scanner
        assert found[("list", "zo\u00eb.smith@example.com")] == ["list.csv:11", "list.csv:12"], scanner
        assert found[("events", "kim@example.com")] == ["events.jsonl:1", "events.jsonl:2"], scanner
        assert found[("mail", "kim@example.com")] == ["mail.mbox:2", "mail.mbox:8", "mail.mbox:21", "mail.mbox:27"], scanner
        assert found[("mail", "strasse@example.de")] == ["mail.mbox:27"], scanner
        assert found[("inbox", "kim@example.com")] == ["Maildir/cur/1.a:2,S", "Maildir/new/3.c"], scanner
    assert normalise_email("\u212aim@example.com") == "kim@example.com"


def test_a_file_replaced_during_the_search_is_read_as_grep_read_it(tmp_path):
    """An erase may replace a file (rename over it) while a search is under way: the search reads the
    version grep scanned, through the same open file, never offsets of one version in another."""
    _tricky_company(tmp_path)
    inventory = load(tmp_path, FILES_SYSTEMS)
    for name, path in (("list", "list.csv"), ("events", "events.jsonl"), ("mail", "mail.mbox")):
        system = inventory.systems[name]
        connector = open_connector(system, inventory)
        coll = system.collections[name]
        wanted = _wanted(inventory, "kim@example.com")
        expected = [(r.key, r.digest) for r in connector.locate(coll, wanted, prefilter=False)]
        assert expected
        for scanner in SCANNERS:
            original = (tmp_path / path).read_bytes()
            with scanner:
                search = connector.start_locate(coll, wanted)
                replacement = tmp_path / (path + ".new")
                replacement.write_bytes(original[:len(original) // 3][::-1] + b"\n")  # another file entirely
                replacement.replace(tmp_path / path)
                try:
                    got = [(r.key, r.digest) for r in search()]
                finally:
                    search.close()
            (tmp_path / path).write_bytes(original)
            assert got == expected, (name, scanner)
