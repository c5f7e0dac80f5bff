"""File connectors: CSV, JSONL, mbox, Maildir — matching rules and hostile files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from helpers import Scanner, find, load, records


# -- CSV ------------------------------------------------------------------------------------------
CSV_SYSTEM = """
list:
  connector: csv
  path: list.csv
  identities: {email: Email, phone: Phone}
"""


def write_csv(folder: Path, text: str, encoding="utf-8") -> None:
    (folder / "list.csv").write_bytes(text.encode(encoding) if isinstance(text, str) else text)


def test_csv_matches_exact_normalised_values(tmp_path):
    write_csv(tmp_path, "Email,Phone,Note\n"
                        " Zoe@Example.org ,,first\n"
                        "xzoe@example.org.uk,,look-alike\n"
                        "zoe@example.org.au,,look-alike\n"
                        "other@example.org,,\"mentions zoe@example.org in a note\"\n"
                        "\"multi\nline@example.org\",,quoted newline\n"
                        "last@example.org,020 7946 0958,\"line one\nline two, zoe@example.org\"\n")
    inv = load(tmp_path, CSV_SYSTEM)
    found = records(find(inv, "zoe@example.org"), "list")
    assert [r.data["Note"] for r in found] == ["first"]
    assert found[0].location == "list.csv:2"
    by_phone = records(find(inv, "+442079460958"), "list")
    assert [r.data["Email"] for r in by_phone] == ["last@example.org"]
    assert by_phone[0].location == "list.csv:8"  # the quoted newline above takes two lines
    assert by_phone[0].data["Note"] == "line one\nline two, zoe@example.org"


def test_csv_with_bom_and_semicolons(tmp_path):
    write_csv(tmp_path, "\ufeffEmail;Phone\nalice@example.com;\n")
    inv = load(tmp_path, CSV_SYSTEM.replace("path: list.csv", "path: list.csv\n  delimiter: ';'"))
    assert len(records(find(inv, "alice@example.com"), "list")) == 1


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.sampled_from([b"\xef\xbb\xbfa,b\n", b"a,\xc3\xa9\n", b"x\xef\xbb\xbf,y\r\n", b"bad\xff\n",
                                       b"\xef\xbb\xbf\xff\n", b"\xef\xbb\n", b"plain\n", b"", b"\xef\xbb\xbf"]),
                      max_size=6),
       encoding=st.sampled_from(["utf-8-sig", "UTF_8_SIG", "utf-8"]))
def test_lines_decode_as_each_line_decoded_on_its_own(tmp_path_factory, lines, encoding):
    # utf-8-sig lines without a BOM are decoded as utf-8 (in C): the same text, the same errors
    import io

    from dsarctl.connectors.files import _decoded_lines

    class Failed(Exception):
        pass

    def run(decoded):
        try:
            return list(decoded)
        except Failed as exc:
            return str(exc)

    data = b"".join(lines)
    ours = run(_decoded_lines(io.BytesIO(data), encoding, "f.csv", Failed))

    def plain():
        for lineno, raw in enumerate(io.BytesIO(data), 1):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                # utf-8-sig counts an error's position after the BOM it took away: the byte is 3 further on
                start = exc.start + (3 if encoding != "utf-8" and raw.startswith(b"\xef\xbb\xbf") else 0)
                raise Failed(f"f.csv:{lineno}: not valid {encoding} (byte 0x{raw[start]:02x} at column "
                             f"{start + 1})") from None
            if "\x00" in text:
                raise Failed(f"f.csv:{lineno}: NUL byte in the file (is it binary or UTF-16?)")
            yield lineno, text

    assert ours == run(plain())


@pytest.mark.parametrize("content,message", [
    (b"Email,Phone\nalice@example.com,1,2\n", "list.csv:2: row has 3 fields, the header has 2"),
    (b"Email,Phone\nalice@example.com\n", "list.csv:2: row has 1 fields, the header has 2"),
    (b"Email,Phone\nalice@example.com,\x00\n", "list.csv:2: NUL byte"),
    (b"Email,Phone\nbob@example.com,\nalice@example.com,caf\xe9\n", "list.csv:3: not valid utf-8-sig (byte 0xe9"),
    (b"", "list.csv: empty file, no header row"),
    (b"Phone,Name\n1,alice@example.com\n", "column 'Email' is not in the header of list.csv"),
    (b"Email,Phone\n\"alice@example.com,\n", "list.csv:2: quoted field not closed"),
    (b"Email,Email\nalice@example.com,x\n", "list.csv:1: duplicate column 'Email'"),
])
def test_csv_hostile_files_fail_with_file_and_line(tmp_path, content, message):
    write_csv(tmp_path, content)
    result = find(load(tmp_path, CSV_SYSTEM), "alice@example.com")
    [(system, collection, error)] = result.failures
    assert message in error


def test_csv_missing_file(tmp_path):
    result = find(load(tmp_path, CSV_SYSTEM), "alice@example.com")
    assert result.failures == [("list", "list", "file not found: list.csv")]


# -- the prefilter never changes the answer -------------------------------------------------------
SCANNERS = [Scanner("grep"), Scanner("python")]  # the byte prefilter run by GNU grep, then by Python
address = st.sampled_from(["alice@example.com", "ALICE@example.com", " alice@example.com", "xalice@example.com",
                           "alice@example.com.au", "bob@example.net", "alice@exampl.com", "Ålice@example.com"])
note = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(address, note), max_size=12), wanted=address)
def test_csv_prefilter_agrees_with_a_plain_parse(tmp_path_factory, rows, wanted):
    import csv
    import io

    folder = tmp_path_factory.mktemp("csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Email", "Phone", "Note"])
    starts = []  # a row is known by the line it starts on (notes may hold newlines)
    for email, text in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow([email, "", text])
    write_csv(folder, buffer.getvalue())
    inv = load(folder, CSV_SYSTEM)
    from dsarctl.identity import normalise_email

    target = normalise_email(wanted)
    expected = [starts[i] for i, (email, _) in enumerate(rows) if normalise_email(email) == target]
    for scanner in SCANNERS:
        with scanner:
            got = [r.key for r in records(find(inv, "email:" + wanted), "list")] if target else []
        assert got == expected, scanner


@settings(max_examples=60, deadline=None)
@given(objs=st.lists(st.tuples(address, note, st.booleans()), max_size=12), wanted=address)
def test_jsonl_prefilter_agrees_with_a_plain_parse(tmp_path_factory, objs, wanted):
    folder = tmp_path_factory.mktemp("jsonl")
    with open(folder / "events.jsonl", "w", encoding="utf-8") as handle:
        for email, text, ascii_only in objs:
            handle.write(json.dumps({"user": {"email": email}, "note": text}, ensure_ascii=ascii_only) + "\n")
    inv = load(folder, JSONL_SYSTEM)
    from dsarctl.identity import normalise_email

    target = normalise_email(wanted)
    expected = [i + 1 for i, (email, _, _) in enumerate(objs) if normalise_email(email) == target]
    for scanner in SCANNERS:
        with scanner:
            got = [r.key for r in records(find(inv, "email:" + wanted), "events")] if target else []
        assert got == expected, scanner


# -- JSONL ----------------------------------------------------------------------------------------
JSONL_SYSTEM = """
events:
  connector: jsonl
  path: events.jsonl
  identities: {customer_id: account, email: [user.email, devices.owner]}
"""


def test_jsonl_dotted_paths_lists_and_types(tmp_path):
    lines = [
        {"account": 1042, "user": {"email": "Alice@Example.com"}},
        {"account": "1042"},
        {"account": 10420},
        {"devices": [{"owner": "alice@example.com"}, {"owner": "bob@example.net"}]},
        {"user": {"email": "alice\u0040example.com"}},
        {"note": "alice@example.com"},
    ]
    text = "\n".join(json.dumps(obj) for obj in lines) + "\n\n"
    text = text.replace("alice@example.com\"}}", "alice\\u0040example.com\"}}")  # an escaped @
    (tmp_path / "events.jsonl").write_text(text)
    inv = load(tmp_path, JSONL_SYSTEM)
    result = find(inv, "alice@example.com", expand=False)
    assert [r.key for r in records(result, "events")] == [1, 4, 5]
    result = find(inv, "customer_id:1042", expand=False)
    assert [r.key for r in records(result, "events")] == [1, 2]


def test_jsonl_long_numbers_are_their_exact_value_with_and_without_the_prefilter(tmp_path):
    # a literal with more digits than a float keeps is not the float it rounds to: 500000.99999999999
    # rounds to 500001.0, which no search of the bytes "500001" finds; 12345678901234567.0 rounds to
    # ...568.0 but is 12345678901234567 (and its bytes hold that)
    (tmp_path / "events.jsonl").write_text(
        '{"account": 500000.99999999999}\n{"account": 500001}\n{"account": 5.00001e5}\n'
        '{"account": 12345678901234567.0}\n{"account": 12345678901234568}\n{"account": 500001.000000000000}\n'
        '{"account": 500000.99999999999, "n": 0.1}\n')
    inv = load(tmp_path, JSONL_SYSTEM)
    for scanner in SCANNERS:
        with scanner:
            assert [r.key for r in records(find(inv, "customer_id:500001", expand=False), "events")] == [2, 3, 6]
            assert [r.key for r in records(find(inv, "customer_id:12345678901234567", expand=False),
                                           "events")] == [4]
            assert [r.key for r in records(find(inv, "customer_id:500000.99999999999", expand=False),
                                           "events")] == [1, 7]
    from dsarctl.connectors import open_connector

    with open_connector(inv.systems["events"], inv) as connector:  # as data it is still the float
        data = [r.data for r in connector.scan(inv.systems["events"].collections["events"])]
    assert json.dumps(data[0]) == '{"account": 500001.0}' and data[6]["n"] == 0.1


@pytest.mark.parametrize("content,message", [
    ('{"account": 1}\n{"account": 1\n', "events.jsonl:2: invalid JSON"),
    ('{"account": 1}\n[1, 2]\n', "events.jsonl:2: expected a JSON object, got list"),
    ('{"account": 1}\n\ufeff{"account": 1}\n', "events.jsonl:2: invalid JSON: Unexpected UTF-8 BOM"),
    (b'{"account": 1}\n{"account": "1\xff"}\n', "events.jsonl:2: not valid utf-8"),
    (b'{"account": 1}\n{"account": "1"}\x00\n', "events.jsonl:2: NUL byte"),
])
def test_jsonl_hostile_files(tmp_path, content, message):
    """A broken line that holds a searched value fails the search with the file and line (with the
    grep prefilter and with the Python scanner alike)."""
    (tmp_path / "events.jsonl").write_bytes(content.encode() if isinstance(content, str) else content)
    for scanner in (Scanner("grep"), Scanner("python")):
        with scanner:
            result = find(load(tmp_path, JSONL_SYSTEM), "customer_id:1")
        [(_, _, error)] = result.failures
        assert message in error, scanner


def test_jsonl_broken_line_without_the_value_is_left_to_check(tmp_path):
    """find parses only the lines that can hold a searched value; a broken line that cannot is not the
    subject's record, and `inventory check --connect` (which reads every line) reports it."""
    from dsarctl.connectors import open_connector

    (tmp_path / "events.jsonl").write_text('{"account": 1}\n{"account": 2\n')
    inv = load(tmp_path, JSONL_SYSTEM)
    result = find(inv, "customer_id:1")
    assert result.failures == [] and [r.key for r in records(result, "events")] == [1]
    connector = open_connector(inv.systems["events"], inv)
    with pytest.raises(Exception, match="events.jsonl:2: invalid JSON"):
        connector.check(inv.systems["events"].collections["events"])


# -- mbox -----------------------------------------------------------------------------------------
MBOX_SYSTEM = """
mail:
  connector: mbox
  path: mail.mbox
  identities: {email: [from, to, cc, reply-to]}
"""

MBOX = (
    b"From alice@example.com Mon Mar  2 09:15:00 2026\n"
    b"From: =?utf-8?q?Alice_Exampl=C3=A9?= <Alice@Example.com>\n"
    b"To: support@test.example\n"
    b"Subject: =?utf-8?b?SGVsbG8gw6l0w6k=?=\n"
    b"\n"
    b"Body\n"
    b">From the desk of Alice\n"
    b"\n"
    b"From support@test.example Mon Mar  2 10:00:00 2026\n"
    b"From: support@test.example\n"
    b'To: "Example, Alice" <alice@example.com>, bob@example.net\n'
    b"\n"
    b"Reply to alice@example.com and bob\n"
    b"\n"
    b"From xzoe@example.org.uk Mon Mar  2 11:00:00 2026\n"
    b"From: xzoe@example.org.uk\n"
    b"To: support@test.example\n"
    b"Cc: someone <alice@example.com.au>\n"
    b"\n"
    b"Please write to alice@example.com\n"
)


def test_mbox_headers_parsed_like_a_mail_client(tmp_path):
    (tmp_path / "mail.mbox").write_bytes(MBOX)
    inv = load(tmp_path, MBOX_SYSTEM)
    found = records(find(inv, "alice@example.com"), "mail")
    assert [r.location for r in found] == ["mail.mbox:1", "mail.mbox:9"]
    assert found[0].data["from"] == "Alice Exampl\u00e9 <Alice@Example.com>"
    assert found[0].data["subject"] == "Hello \u00e9t\u00e9"
    # the .eml is the message without the From_ line, ">From " kept as it is
    connector_cls = __import__("dsarctl.connectors.mail", fromlist=["MboxConnector"]).MboxConnector
    connector = connector_cls(inv.systems["mail"], inv)
    raw = b"".join(connector.raw_chunks(inv.systems["mail"].collections["mail"], found[0]))
    assert raw.startswith(b"From: =?utf-8?q?Alice")
    assert b">From the desk of Alice\n" in raw


def test_mbox_truncated_message(tmp_path):
    """A truncated message that holds the searched address fails the search; one that does not is left
    to `inventory check --connect`, which reads every message (find frames only candidate messages)."""
    from dsarctl.connectors import open_connector

    (tmp_path / "mail.mbox").write_bytes(MBOX + b"\nFrom cut@example.com Mon Mar  2 12:00:00 2026\nFrom: alice@example.com")
    for scanner in SCANNERS:
        with scanner:
            result = find(load(tmp_path, MBOX_SYSTEM), "alice@example.com")
        [(_, _, error)] = result.failures
        assert error == "mail.mbox:22: message headers are not terminated (truncated message?)", scanner
    (tmp_path / "mail.mbox").write_bytes(MBOX + b"\nFrom cut@example.com Mon Mar  2 12:00:00 2026\nFrom: cut@exa")
    inv = load(tmp_path, MBOX_SYSTEM)
    result = find(inv, "alice@example.com")
    assert result.failures == [] and len(records(result, "mail")) == 2
    connector = open_connector(inv.systems["mail"], inv)
    with pytest.raises(Exception, match="mail.mbox:22: message headers are not terminated"):
        connector.check(inv.systems["mail"].collections["mail"])


def test_mbox_not_an_mbox(tmp_path):
    (tmp_path / "mail.mbox").write_bytes(b"hello\n")
    [(_, _, error)] = find(load(tmp_path, MBOX_SYSTEM), "alice@example.com").failures
    assert error == "mail.mbox:1: not an mbox file (expected a 'From ' line)"


# -- Maildir --------------------------------------------------------------------------------------
MAILDIR_SYSTEM = """
inbox:
  connector: maildir
  path: Maildir
  identities: {email: [from, to, cc, reply-to]}
"""


def make_maildir(folder: Path) -> Path:
    root = folder / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "1.a:2,S").write_bytes(b"From: Bob <bob@example.net>\nTo: sales@test.example\n\nhi\n")
    (root / "new" / "2.b").write_bytes(b"From: sales@test.example\nTo: =?utf-8?q?B=C3=B6b?= <BOB@example.net>\n\nre\n")
    (root / "tmp" / "3.c").write_bytes(b"From: bob@example.net\n\nbeing delivered\n")
    return root


def test_maildir_reads_cur_and_new_not_tmp(tmp_path):
    make_maildir(tmp_path)
    found = records(find(load(tmp_path, MAILDIR_SYSTEM), "bob@example.net"), "inbox")
    assert [r.key for r in found] == ["cur/1.a:2,S", "new/2.b"]
    assert found[1].data["to"] == "B\u00f6b <BOB@example.net>"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file; permissions cannot make one unreadable")
def test_maildir_unreadable_file(tmp_path):
    root = make_maildir(tmp_path)
    os.chmod(root / "cur" / "1.a:2,S", 0)
    [(_, _, error)] = find(load(tmp_path, MAILDIR_SYSTEM), "bob@example.net").failures
    assert "cannot read Maildir/cur/1.a:2,S" in error


def test_maildir_unreadable_file_as_root(tmp_path, monkeypatch):
    """Root can read anything, so simulate the failure the kernel would give another user."""
    root = make_maildir(tmp_path)
    real_open = open

    def fake_open(path, *args, **kwargs):
        if str(path).endswith("1.a:2,S"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    [(_, _, error)] = find(load(tmp_path, MAILDIR_SYSTEM), "bob@example.net").failures
    assert error == "cannot read Maildir/cur/1.a:2,S: Permission denied"
    assert root.exists()


def test_maildir_missing(tmp_path):
    [(_, _, error)] = find(load(tmp_path, MAILDIR_SYSTEM), "bob@example.net").failures
    assert error == "Maildir folder not found: Maildir"


def test_maildir_message_vanishing_during_a_scan_is_skipped(tmp_path, monkeypatch):
    """Maildir messages move (new/ -> cur/) or are removed at any time: one gone between listing and
    reading is not an error."""
    from dsarctl.connectors import mail

    real_files, real_names = mail.MaildirConnector.files, mail.FilesJob.names

    def files_then_remove(self, collection):
        names = list(real_files(self, collection))
        (collection.path / "new" / "2.b").unlink(missing_ok=True)
        yield from names

    def candidates_then_remove(job):
        names = real_names(job)
        (Path(job.root) / "new" / "2.b").unlink(missing_ok=True)
        return names

    monkeypatch.setattr(mail.MaildirConnector, "files", files_then_remove)
    monkeypatch.setattr(mail.FilesJob, "names", candidates_then_remove)
    for scanner in SCANNERS:
        folder = tmp_path / scanner.kind
        make_maildir(folder)
        with scanner:
            result = find(load(folder, MAILDIR_SYSTEM), "bob@example.net")
        assert result.failures == []
        assert [r.key for r in records(result, "inbox")] == ["cur/1.a:2,S"]
