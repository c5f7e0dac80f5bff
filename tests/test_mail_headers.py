"""Mail header parsing (dsarctl/connectors/mailheaders.py): the same addresses as the standard library's
modern parser on every Python 3.10-3.13, CRLF or LF, raw UTF-8 or encoded words."""

from __future__ import annotations

import json
import random
import zipfile

import pytest

from dsarctl.connectors import mailheaders
from dsarctl.connectors.mailheaders import header_fields, parsed_addresses, value_addresses
from helpers import find, load, records, write_inventory


def addresses_of(block: bytes, name: str = "to") -> list[str]:
    return [a for field, value in header_fields(block) if field.lower() == name for a in value_addresses(value)]


@pytest.mark.parametrize("block, name, expected", [
    # a display name folded inside its quotes: Python 3.11's getaddresses swallowed the address with CRLF,
    # 3.13's gave nothing for the whole header
    (b'To: "Surname,\r\n\tGiven" <a@b.example>, c@d.example\r\n', "to", ["a@b.example", "c@d.example"]),
    (b'To: "Surname,\n\tGiven" <a@b.example>, c@d.example\n', "to", ["a@b.example", "c@d.example"]),
    # a header ending in a comma (3.13's getaddresses: no address at all)
    (b"To: a@b.example, c@d.example,\r\n", "to", ["a@b.example", "c@d.example"]),
    (b"To: a@b.example,\n", "to", ["a@b.example"]),
    (b"To: a@b.example,\r\n\tc@d.example,\r\n", "to", ["a@b.example", "c@d.example"]),
    # groups
    (b"To: undisclosed-recipients:;\n", "to", []),
    (b"To: Team: a@x.example, b@y.example;, z@z.example\n", "to", ["a@x.example", "b@y.example", "z@z.example"]),
    # RFC 2047 encoded words in display names, quoted or not, glued to the address
    (b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\n", "from", ["zoe@example.org"]),
    (b'From: "=?iso-8859-1?q?J=F6rg?=" <jorg@example.de>\n', "from", ["jorg@example.de"]),
    (b"From: =?utf-8?b?QmVu?=<ben@example.com>\n", "from", ["ben@example.com"]),
    (b"From: =?utf-8?q?Doe=2C?= John <john@example.com>\n", "from", ["john@example.com"]),
    # the documented addition: a whole address inside an encoded word
    (b"Cc: =?utf-8?q?kim=40example=2Ecom?=\n", "cc", ["kim@example.com"]),
    # raw UTF-8 (RFC 6532) and a Latin-1 header of an old client
    ("From: José <josé@example.com>\n".encode(), "from", ["josé@example.com"]),
    (b"To: Ren\xe9 <fran\xe7ois@example.fr>\n", "to", ["fran\u00e7ois@example.fr"]),
    # comments and a display name that looks like an address
    (b'Cc: (note) "x@trap.example" <real@example.com> (home)\n', "cc", ["real@example.com"]),
    (b"Reply-To: ann@example.com (Ann at home)\n", "reply-to", ["ann@example.com"]),
])
def test_addresses_as_the_modern_parser_reads_them(block, name, expected):
    assert addresses_of(block, name) == expected


def test_crlf_and_lf_read_alike():
    lf = (b'From: "O\'Neil,\n  Mary-Jane" <mj@example.com>\nTo: a@b.example,\n\tc@d.example,\n'
          b'Cc: =?utf-8?q?Zo=C3=AB?=\n <zoe@example.org>\nSubject: x\n')
    crlf = lf.replace(b"\n", b"\r\n")
    assert header_fields(lf) == header_fields(crlf)
    assert [value_addresses(v) for _n, v in header_fields(crlf)] == [
        ("mj@example.com",), ("a@b.example", "c@d.example"), ("zoe@example.org",), ()]


def test_fields_end_where_the_standard_library_ends_them():
    """A line that is no header (no colon, no leading space) ends the headers, as for the stdlib."""
    assert [n for n, _v in header_fields(b"From: a@b.example\nnot a header\nTo: c@d.example\n")] == ["From"]


def _random_value(rng: random.Random) -> str:
    atext = "abcxyzABC019!#$%&'*+/=?^_`{|}~-"
    def atom():
        return "".join(rng.choice(atext) for _ in range(rng.randint(1, 4)))
    def dot_atom():
        return ".".join(atom() for _ in range(rng.randint(1, 3)))
    def quoted():
        inner = "".join(rng.choice("ab ,@<>.:;()\t'") for _ in range(rng.randint(0, 6)))
        return f'"{inner}"'
    def item():
        addr = f"{dot_atom()}@{dot_atom()}"
        kind = rng.random()
        if kind < 0.3:
            return addr
        words = " ".join(rng.choice([atom, quoted])() for _ in range(rng.randint(0, 3)))
        return f"{words}{rng.choice(['', ' ', '  ', chr(9)])}<{addr}>"
    sep = [",", ", ", " ,", ",\t", " , "]
    value = rng.choice(["", " ", "\t"]) + rng.choice(sep).join(item() for _ in range(rng.randint(1, 4)))
    value += rng.choice(["", "", ",", ", ", " "])
    if rng.random() < 0.3:  # a broken one: the fast path must refuse it (or agree)
        i = rng.randrange(len(value) + 1)
        value = value[:i] + rng.choice(["..", "<", ">", '"', ",,", "@", " ", "\\"]) + value[i:]
    return value


def test_the_fast_path_gives_what_the_parser_gives():
    """Values the regular expression reads (the common simple shapes) give exactly the parser's addresses."""
    rng = random.Random(18)
    taken = 0
    for _ in range(4000):
        value = _random_value(rng)
        if mailheaders._SIMPLE_LIST.fullmatch(value) and "=?" not in value:
            taken += 1
            assert mailheaders._addresses(value) == parsed_addresses(value), value
    assert taken > 2000  # most well-formed values take the fast path


MBOX_SYSTEM = """
mail:
  connector: mbox
  path: mail.mbox
  identities: {email: [from, to, cc, reply-to]}
"""


def test_raw_utf8_headers_are_found_and_exported_without_mojibake(tmp_path, cli):
    (tmp_path / "mail.mbox").write_bytes(
        b"From jose Mon Mar  2 09:15:00 2026\n"
        + "From: José Núñez <josé@example.com>\nTo: support@test.example\nSubject: Añadir factura\n\nhola\n".encode())
    inv = load(tmp_path, MBOX_SYSTEM)
    [found] = records(find(inv, "josé@example.com"), "mail")
    assert found.data == {"from": "José Núñez <josé@example.com>", "to": "support@test.example",
                          "subject": "Añadir factura"}
    path = write_inventory(tmp_path, MBOX_SYSTEM)
    result = cli("-i", str(path), "export", "josé@example.com", "-o", str(tmp_path / "out.zip"))
    assert result.code == 0, result
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        data = json.loads(zf.read("data/mail/mail.json"))
        assert data == [found.data]
        assert "José Núñez" in zf.read("data/mail/mail.csv").decode("utf-8-sig")
