"""The byte-level prefilter (dsarctl/connectors/bytescan.py) never changes an answer: the fast path
(GNU grep, and the Python scanner) finds exactly what a plain parse of every record finds."""

from __future__ import annotations

import os
import subprocess
import unicodedata
from pathlib import Path

import pytest
from helpers import Scanner, benchmark_company, load

from dsarctl.connectors import bytescan, open_connector
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
        if not connector.local_files:
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
        b"From kim@example.com starts a message (as mailbox.mbox reads it) though no empty line is before it\r\n"
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


WORDS_SYSTEMS = """
ids:
  connector: csv
  path: ids.csv
  identities: {customer_id: Account}
semis:
  connector: csv
  path: semis.csv
  delimiter: "x"
  identities: {customer_id: Account}
events:
  connector: jsonl
  path: events.jsonl
  identities: {customer_id: [account, ids]}
"""


def _words_company(folder: Path) -> None:
    """Ids next to every kind of neighbour: a short id (51) inside IP addresses, licence keys and longer
    numbers, and as a value spelt with spaces, quotes, in arrays, at a line's start and end."""
    (folder / "events.jsonl").write_bytes(
        b'{"ip": "198.51.2.6", "licence_key": "NW-00000051", "account": 1051}\n'
        b'{"account": 51}\n'
        b'{"account":51,"ip":"10.0.0.1"}\n'
        b'{"account": "  51 "}\n'
        b'{"account": "x51"}\n'
        b'{"account": "51_a"}\n'
        b'{"ids": [7, 51, 9]}\n'
        b'{"account": "A-7"}\n'
        b'{"account": "a-7"}\n'
        b'{"account": "\\u0035\\u0031"}\n'
        b'{"account": 5.1e1}\n'
        b'{"account": 51.0, "ip": "198.51.0.1"}\n'
        b'{"account": "\xc2\xa051"}\n'
        b'{"account": "\xe2\x80\x8351\xe3\x80\x80"}\n'
    )
    (folder / "ids.csv").write_bytes(
        b"Account,Note\n51,plain\n\"51\",quoted\n 51 ,spaced\n151,longer\nx51,prefixed\n"
        b"a-7,dash\nA-7,upper\n198.51.2.6,ip\n\"51\nmore\",multi-line\n"
    )
    (folder / "semis.csv").write_bytes(b"AccountxNote\n51xplain\n151xlonger\n")


@pytest.mark.parametrize("subject", [
    ["customer_id:51"], ["customer_id:a-7"], ["customer_id:A-7"],
    [f"customer_id:{n}" for n in (51, 7, 9, 1051, 3, 4, 5, 6, 8)],  # a batch of many: one grep for all
])
def test_short_ids_are_searched_after_what_a_value_follows_and_agree_with_a_plain_parse(tmp_path, subject, monkeypatch):
    _words_company(tmp_path)
    inventory = load(tmp_path, WORDS_SYSTEMS)
    started: list[list[str]] = []
    real = bytescan.subprocess.Popen

    def popen(args, *a, **k):
        started.append(list(args))
        return real(args, *a, **k)

    monkeypatch.setattr(bytescan.subprocess, "Popen", popen)
    assert _compare(inventory, [subject]) >= 2
    if bytescan.grep_binary() is not None:
        value = subject[0].split(":")[1].lower()
        # the values after a bracket of the bytes they can follow, in the one grep -E
        after = [a for a in started if "-E" in a and any("](" in x and value in x.split("](")[1] for x in a)]
        assert after and all(a[-1].startswith("/proc/") or "events.jsonl" in a[-1] for a in after)
        assert not any(":" + value in a for a in started if "ids.csv" in " ".join(a))


def test_a_short_id_is_not_looked_for_inside_ip_addresses(tmp_path):
    if bytescan.grep_binary() is None:
        pytest.skip("GNU grep is not installed")
    _words_company(tmp_path)
    inventory = load(tmp_path, WORDS_SYSTEMS)
    system = inventory.systems["events"]
    connector = open_connector(system, inventory)
    needles = connector.needles(system.collections["events"], _wanted(inventory, "customer_id:51"))
    assert needles.values == () and {b":51", b'"51', b"[51", b",51", b" 51", b"\xa051", b"\x8051"} <= set(needles.after)
    lines = [n for n, _offset, _line in bytescan.LinesJob(tmp_path / "events.jsonl", needles).lines()]
    assert 1 not in lines and {2, 3, 4, 7, 10, 11, 12} <= set(lines)  # 10: escaped (backslash), 11: exponent
    assert needles.regex and not connector.needles(system.collections["events"],
                                                   _wanted(inventory, "email:kim@example.com")).regex
    long = connector.needles(system.collections["events"], _wanted(inventory, "customer_id:10510"))
    assert long.values == (b"10510",) and long.after == ()


@pytest.mark.skipif(bytescan.grep_binary() is None, reason="GNU grep is not installed")
def test_a_bracket_expression_matches_exactly_its_bytes(tmp_path):
    # the bytes a short JSON value can follow become `[bytes](51|…)` for grep -E: `]`, `^`, `-`, `[` and
    # `[:` (a class name) must not change what it matches, nor must bytes above 0x7f
    import random

    from dsarctl.connectors.bytescan import _GREP_ENV, _bracket, _before_bytes

    data = tmp_path / "bytes"
    data.write_bytes(b"".join(bytes([b]) + b"51\n" for b in range(256) if b != 10))
    rng = random.Random(5)
    pool = list(b"]^[-:.=\\\",") + [9, 32, 0x85, 0xa0, 0xff]
    sets = [bytes(rng.sample(pool, rng.randint(1, 6))) for _ in range(40)]
    sets += [b"^-", b"[:", b"]", b"^", _before_bytes(b'":,[', "utf-8"), _before_bytes(b'":,[', "latin-1")]
    for chars in sets:
        run = subprocess.run([bytescan.grep_binary(), "-E", "-a", "-e", os.fsdecode(_bracket(chars) + b"51"),
                              str(data)], capture_output=True, env=_GREP_ENV)
        assert run.returncode == 0, (chars, run.stderr)
        assert {line[0] for line in run.stdout.split(b"\n") if line} == set(chars), chars
