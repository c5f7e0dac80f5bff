"""Issue 18, mail: files written by real clients must not carry one person's answer into another's.

mboxo files (a From_ line right after the previous message, no empty line), byte-identical duplicates,
and headers that only some Python versions read right (display names folded inside quotes with CRLF, a
trailing comma). Python's `mailbox` and `email` modules are the reference.
"""

from __future__ import annotations

import json
import mailbox
import zipfile

import pytest

from helpers import write_inventory

SYSTEM = """
mail:
  connector: {connector}
  path: {path}
  identities: {{email: [from, to, cc, reply-to]}}
  erase: delete
"""

# Netscape-style mboxo: no empty line before a From_ line. Each message is between its sender and the
# controller's own desk (support@test.example), so no message is shared with another person.
MBOXO = (
    b"From - Mon Mar  2 09:15:00 2026\n"
    b"From: Bob <bob@example.net>\n"
    b"To: support@test.example\n"
    b"Subject: bob's first\n"
    b"\n"
    b"Bob's account number is 555-1234.\n"
    b"From - Mon Mar  2 10:00:00 2026\n"
    b"From: Alice <alice@example.com>\n"
    b"To: support@test.example\n"
    b"Subject: alice's\n"
    b"\n"
    b"Alice's order 1042.\n"
    b"From - Mon Mar  2 11:00:00 2026\n"
    b"From: carol@example.org\n"
    b"To: support@test.example\n"
    b"Subject: carol's\n"
    b"\n"
    b"Carol's secret.\n"
)


def _mbox_messages(path) -> list[bytes]:
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.keys()]
    finally:
        box.close()


def _emls(zip_path) -> list[bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return sorted(zf.read(n) for n in zf.namelist() if n.endswith(".eml"))


def test_mboxo_export_holds_the_subjects_message_only(cli, tmp_path):
    (tmp_path / "mail.mbox").write_bytes(MBOXO)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    result = cli("-i", str(inv), "export", "alice@example.com", "-o", str(tmp_path / "a.zip"))
    assert result.code == 0, result
    [alices] = [m for m in _mbox_messages(tmp_path / "mail.mbox") if b"alice@" in m]
    assert _emls(tmp_path / "a.zip") == [alices]
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        everything = b"".join(zf.read(n) for n in zf.namelist())
    assert b"555-1234" not in everything and b"Carol's secret" not in everything


def test_mboxo_erase_deletes_the_subjects_message_only(cli, tmp_path):
    path = tmp_path / "mail.mbox"
    path.write_bytes(MBOXO)
    before = _mbox_messages(path)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert _mbox_messages(path) == [m for m in before if b"alice@" not in m]
    assert path.read_bytes() == MBOXO[:MBOXO.index(b"From - Mon Mar  2 10")] + MBOXO[MBOXO.index(b"From - Mon Mar  2 11"):]


DUPLICATE = b"From: alice@example.com\nTo: support@test.example\nSubject: twice\nMessage-ID: <x@y>\n\nsame\n"


def test_maildir_duplicates_are_two_records_erased_in_one_run(cli, tmp_path):
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(DUPLICATE)
    (root / "new" / "2.b").write_bytes(DUPLICATE)  # the same message delivered twice
    other = b"From: bob@example.net\nTo: support@test.example\n\nbob\n"
    (root / "cur" / "3.c:2,S").write_bytes(other)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="maildir", path="Maildir"))
    assert json.loads(cli("-i", str(inv), "find", "alice@example.com", "--json").out)["total"] == 2
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    [unit] = [u for u in data["run"]["units"] if u["system"] == "mail"]
    assert unit["collections"]["mail"]["deleted"] == 2 and unit["collections"]["mail"]["missing"] == 0
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["3.c:2,S"]
    assert (root / "cur" / "3.c:2,S").read_bytes() == other


def test_mbox_duplicates_are_two_records_erased_in_one_run(cli, tmp_path):
    copy = b"From alice@example.com Mon Mar  2 09:15:00 2026\n" + DUPLICATE + b"\n"
    bob = b"From bob@example.net Mon Mar  2 10:00:00 2026\nFrom: bob@example.net\nTo: support@test.example\n\nbob\n\n"
    path = tmp_path / "mail.mbox"
    path.write_bytes(copy + bob + copy)
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    export = cli("-i", str(inv), "export", "alice@example.com", "-o", str(tmp_path / "a.zip"))
    assert export.code == 0 and len(_emls(tmp_path / "a.zip")) == 2, export
    result = cli("-i", str(inv), "erase", "alice@example.com", "--yes", "--json")
    assert result.code == 0, result
    assert path.read_bytes() == bob


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_folded_quoted_names_and_trailing_commas_are_found_on_every_python(cli, tmp_path, newline):
    """The same headers with LF and with CRLF: `"Surname,<CRLF><TAB>Given" <a@b>` and a header ending in a
    comma. Python 3.11's getaddresses swallowed the first address with CRLF; 3.13's gave none at all."""
    text = (b"From x@example.org Mon Mar  2 09:15:00 2026\n"
            b"From: \"Surname,\n\tGiven\" <given.surname@example.com>\n"
            b"To: support@test.example, kim@example.com,\n"
            b"\n"
            b"body\n")
    (tmp_path / "mail.mbox").write_bytes(text.replace(b"\n", newline))
    inv = write_inventory(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    for subject in ("given.surname@example.com", "kim@example.com"):
        result = cli("-i", str(inv), "find", subject, "--json")
        assert result.code == 0, (subject, result)
        assert json.loads(result.out)["total"] == 1, (subject, result.out)


def test_obsolete_spaces_or_comments_inside_an_address_are_a_documented_limit_of_the_prefilter(tmp_path):
    """RFC 822's obsolete syntax allows white space and comments inside an address; the standard parser
    reads `alice @ example.com` and `alice(home)@example.com` as alice@example.com, and so does dsarctl's
    parser (a full read finds both), but the byte prefilter looks for the address written as one string
    and does not read those messages (docs/reliability.md, "What dsarctl does not guarantee")."""
    from dsarctl.connectors import open_connector
    from helpers import find, load, records

    (tmp_path / "mail.mbox").write_bytes(
        b"From x Mon Mar  2 09:15:00 2026\nFrom: alice @ example.com\n\nhi\n\n"
        b"From y Mon Mar  2 09:15:00 2026\nFrom: alice(home)@example.com\n\nhi\n\n"
        b"From z Mon Mar  2 09:15:00 2026\nFrom: Alice <ALICE@example.com>\n\nhi\n")
    inv = load(tmp_path, SYSTEM.format(connector="mbox", path="mail.mbox"))
    assert [r.location for r in records(find(inv, "alice@example.com"), "mail")] == ["mail.mbox:11"]
    system = inv.systems["mail"]
    with open_connector(system, inv) as connector:
        full = connector.locate(system.collections["mail"], {"email": frozenset(["alice@example.com"])}, prefilter=False)
        assert [r.location for r in full] == ["mail.mbox:1", "mail.mbox:6", "mail.mbox:11"]
