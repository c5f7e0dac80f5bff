"""CSV and JSON-lines files in other encodings and dialects, and lines too long to hold (issue 18):
`encoding: utf-16` (and utf-32), `delimiter: "\\t"`, and an erase over a very long line with bounded
memory. The oracle is Python's own reading of the file (`open(..., encoding=...)`, the `csv` module)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from helpers import Scanner, write_inventory

PEOPLE = [["Email", "Name", "Note"],
          ["alice@example.com", "Alice Ärger", "likes ☃"],
          ["bob@example.com", "Bob Ċ", 'two\nlines, "quoted"'],  # Ċ is U+010A: a 0x0a byte in UTF-16
          ["carol@example.com", "Carol 😀", "x"],
          ["alice@example.com", "Alice again", "y"]]


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_system(folder: Path, name: str, encoding: str | None = None, delimiter: str | None = None,
               erase: str = "delete") -> Path:
    lines = ["people:", "  connector: csv", f"  path: {name}"]
    if encoding:
        lines.append(f"  encoding: {encoding}")
    if delimiter:
        lines.append(f'  delimiter: "{delimiter}"')
    lines += ["  identities: {email: Email}", f"  erase: {erase}"]
    return write_inventory(folder, "\n".join(lines))


def python_rows(path: Path, encoding: str, delimiter: str = ",") -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


@pytest.mark.parametrize("encoding, written", [
    ("utf-16", "utf-16"),          # a BOM, the machine's byte order
    ("utf-16", "utf-16-be+bom"),   # a BOM saying big-endian
    ("utf-16-le", "utf-16-le"),    # no BOM
    ("utf-32", "utf-32"),
])
def test_find_export_erase_on_a_utf16_csv(tmp_path, cli, encoding, written):
    path = tmp_path / "people.csv"
    text = csv_text(PEOPLE)
    data = codecs.BOM_UTF16_BE + text.encode("utf-16-be") if written == "utf-16-be+bom" else text.encode(written)
    path.write_bytes(data)
    assert python_rows(path, encoding) == PEOPLE  # the oracle reads it
    inventory = csv_system(tmp_path, "people.csv", encoding)

    r = cli("-i", str(inventory), "inventory", "check", "--connect")
    assert r.code == 0, r
    r = cli("-i", str(inventory), "find", "bob@example.com", "--json")
    assert r.code == 0, r
    assert r.json()["total"] == 1

    target = tmp_path / "out.zip"
    r = cli("-i", str(inventory), "export", "alice@example.com", "-o", str(target))
    assert r.code == 0, r
    with zipfile.ZipFile(target) as zf:
        records = json.loads(zf.read("data/people/people.json"))
    assert records == [dict(zip(PEOPLE[0], row)) for row in PEOPLE if row[0] == "alice@example.com"]

    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    after = path.read_bytes()
    assert after[:4] == data[:4]  # the same byte order mark (or none)
    assert python_rows(path, encoding) == [row for row in PEOPLE if row[0] != "alice@example.com"]
    # the other rows are the very bytes they were
    others = csv_text([row for row in PEOPLE if row[0] != "alice@example.com"])
    assert after == (data[:2] if written == "utf-16-be+bom" else b"") + (
        others.encode("utf-16-be") if written == "utf-16-be+bom" else others.encode(written))


def test_a_utf16_csv_masked_row_is_written_in_the_files_byte_order(tmp_path, cli):
    path = tmp_path / "people.csv"
    data = codecs.BOM_UTF16_BE + csv_text(PEOPLE).encode("utf-16-be")
    path.write_bytes(data)
    inventory = csv_system(tmp_path, "people.csv", "utf-16", erase="{action: anonymize, fields: {Name: redact}}")
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    rows = python_rows(path, "utf-16")
    assert [row[1] for row in rows] == ["Name", "[redacted]", "Bob Ċ", "Carol 😀", "[redacted]"]
    assert rows[2:4] == PEOPLE[2:4]


def test_utf16_json_lines_keep_their_byte_order_mark_when_the_first_line_goes(tmp_path, cli):
    path = tmp_path / "u.jsonl"
    lines = [{"email": "alice@example.com", "n": "Ċ"}, {"email": "bob@example.com", "n": "ĊĊ"}]
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    path.write_bytes(text.encode("utf-16"))
    inventory = write_inventory(tmp_path, """
        usage:
          connector: jsonl
          path: u.jsonl
          encoding: utf-16
          identities: {email: email}
          erase: delete
    """)
    r = cli("-i", str(inventory), "find", "alice@example.com", "--json")
    assert r.code == 0 and r.json()["total"] == 1, r
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert path.read_bytes() == (json.dumps(lines[1], ensure_ascii=False) + "\n").encode("utf-16")
    with open(path, encoding="utf-16") as handle:
        assert [json.loads(line) for line in handle] == [lines[1]]


def test_a_utf8_sig_json_lines_masked_line_gets_no_byte_order_mark(tmp_path, cli):
    path = tmp_path / "u.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b'{"email":"bob@example.com"}\n{"email":"alice@example.com","n":"x"}\n')
    inventory = write_inventory(tmp_path, """
        usage:
          connector: jsonl
          path: u.jsonl
          encoding: utf-8-sig
          identities: {email: email}
          erase: {action: anonymize, fields: {n: redact}}
    """)
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 0, r
    assert path.read_bytes() == codecs.BOM_UTF8 + b'{"email":"bob@example.com"}\n{"email":"alice@example.com","n":"[redacted]"}\n'


@pytest.mark.parametrize("encoding, message", [
    ("nonsense", "systems.people.encoding: unknown encoding 'nonsense'"),
    ("cp500", "systems.people.encoding: encoding 'cp500' does not write line ends as a line file needs"),
])
def test_an_encoding_a_line_file_cannot_use_is_an_inventory_error(tmp_path, cli, encoding, message):
    (tmp_path / "people.csv").write_text(csv_text(PEOPLE))
    inventory = csv_system(tmp_path, "people.csv", encoding)
    r = cli("-i", str(inventory), "find", "alice@example.com")
    assert r.code == 2, r
    assert r.err.startswith("dsarctl: error: inventory.yaml:") and message in r.err and r.err.count("\n") == 1
    assert "Traceback" not in r.err


@pytest.mark.parametrize("scanner", ["grep", "python"])
def test_a_tab_separated_file(tmp_path, cli, scanner):
    """`delimiter: "\\t"` (a tab, in YAML double quotes) is one character, not an empty value."""
    path = tmp_path / "people.tsv"
    path.write_text(csv_text(PEOPLE, "\t"), encoding="utf-8")
    inventory = csv_system(tmp_path, "people.tsv", delimiter="\\t")
    with Scanner(scanner):
        r = cli("-i", str(inventory), "inventory", "check", "--connect")
        assert r.code == 0, r
        r = cli("-i", str(inventory), "find", "alice@example.com", "--json")
        assert r.code == 0 and r.json()["total"] == 2, r
        r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
        assert r.code == 0, r
    assert python_rows(path, "utf-8", "\t") == [row for row in PEOPLE if row[0] != "alice@example.com"]


@pytest.mark.parametrize("written, message", [
    (r"'\t'", "must be one character, got '\\\\t' (write a tab as \"\\t\", in double quotes)"),
    ('""', "must be one character, got ''"),
    ('";;"', "must be one character, got ';;'"),
    ("'\"'", "cannot be '\"': it is a line end or the quote character"),
])
def test_a_delimiter_that_is_not_one_character_is_an_inventory_error(tmp_path, cli, written, message):
    (tmp_path / "people.csv").write_text(csv_text(PEOPLE))
    inventory = write_inventory(tmp_path, f"""
        people:
          connector: csv
          path: people.csv
          delimiter: {written}
          identities: {{email: Email}}
    """)
    r = cli("-i", str(inventory), "find", "alice@example.com")
    assert r.code == 2, r
    assert r.err == f"dsarctl: error: inventory.yaml:15: systems.people.delimiter: {message}\n"


# -- long lines ----------------------------------------------------------------------------------------

LIMIT = 1 << 20
BIG = 24 << 20


def long_line_file(folder: Path, subject_line_long: bool = False) -> Path:
    path = folder / "u.jsonl"
    with open(path, "w") as handle:
        handle.write(json.dumps({"email": "alice@example.com", "n": 1}) + "\n")
        blob = {"email": "alice@example.com" if subject_line_long else "bob@example.com", "blob": "x" * BIG}
        handle.write(json.dumps(blob) + "\n")
        handle.write(json.dumps({"email": "carol@example.com", "n": 3}) + "\n")
    return path


def jsonl_system(folder: Path) -> Path:
    return write_inventory(folder, """
        usage:
          connector: jsonl
          path: u.jsonl
          identities: {email: email}
          erase: delete
    """)


def test_an_erase_over_a_long_line_streams_it(tmp_path, cli, monkeypatch):
    """Someone else's 24 MB line, with a limit of 1 MiB: the erase hashes it in pieces and copies it in
    blocks; Python's peak memory stays far below the line's size (it used to be four times it)."""
    monkeypatch.setenv("DSARCTL_MAX_LINE_BYTES", str(LIMIT))
    monkeypatch.setenv("DSARCTL_NO_FORK", "1")  # the pass in this process, where tracemalloc sees it
    path = long_line_file(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    inventory = jsonl_system(tmp_path)
    with Scanner("grep"):
        tracemalloc.start()
        try:
            r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert r.code == 0, r
    assert path.read_bytes() == lines[1] + lines[2]
    assert peak < BIG // 3, peak


def test_find_names_a_long_line_it_would_have_to_read(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("DSARCTL_MAX_LINE_BYTES", str(LIMIT))
    path = long_line_file(tmp_path, subject_line_long=True)
    before = path.read_bytes()
    inventory = jsonl_system(tmp_path)
    for scanner in ("grep", "python"):
        with Scanner(scanner):
            r = cli("-i", str(inventory), "find", "alice@example.com")
        assert r.code == 3, r
        assert "u.jsonl:2: a line longer than 1 MiB" in r.err and "DSARCTL_MAX_LINE_BYTES" in r.err, r
        assert "Traceback" not in r.err
    r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 3, r
    assert path.read_bytes() == before


def test_a_csv_file_with_a_long_line_is_not_rewritten(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("DSARCTL_MAX_LINE_BYTES", str(LIMIT))
    path = tmp_path / "people.csv"
    path.write_text(csv_text(PEOPLE[:2] + [["bob@example.com", "Bob", "x" * (2 * LIMIT)]]))
    before = path.read_bytes()
    inventory = csv_system(tmp_path, "people.csv")
    with Scanner("grep"):
        r = cli("-i", str(inventory), "erase", "alice@example.com", "--yes")
    assert r.code == 3, r
    assert "people.csv:3: a line longer than 1 MiB" in r.out + r.err, r
    assert path.read_bytes() == before


# -- the line reader against Python's decoding ----------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(["a", "\n", "\r", "Ċ", "\u0a0a", "ā", "😀", "\ufeff", "é"]), max_size=60),
       written=st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8", "utf-8-sig",
                                "utf-16-be+bom"]),
       limit=st.sampled_from([16, 40, 1 << 20]))
def test_lines_are_the_decoded_texts_lines(text, written, limit):
    """Each line's text is the file's text (decoded by Python whole) cut after each U+000A; a line over
    the limit comes as a LongLine whose streamed digest is the digest of that text."""
    import os

    from dsarctl.connectors.files import _decoded_lines
    from dsarctl.connectors.lines import LongLine
    from dsarctl.filelock import text_digest

    class Failed(Exception):
        pass

    if written == "utf-16-be+bom":
        data, encoding = codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16"
    else:
        data, encoding = text.encode(written), written
    whole = data.decode(encoding)
    parts = whole.split("\n")
    expected = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if encoding == "utf-8-sig":  # each line decoded on its own: a mark at any line's start goes
        expected = [raw.decode("utf-8-sig") for raw in io.BytesIO(data)]
    elif data and not whole:
        expected = [""]  # a byte order mark alone: one empty line (a CSV then says it has no header row)
    os.environ["DSARCTL_MAX_LINE_BYTES"] = str(limit)
    try:
        got = []
        for _lineno, line in _decoded_lines(io.BytesIO(data), encoding, "f", Failed, True):
            got.append(("long", line.digest(_lineno == 1, "f", _lineno, Failed)) if isinstance(line, LongLine) else line)
    finally:
        del os.environ["DSARCTL_MAX_LINE_BYTES"]
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        if isinstance(ours, tuple):
            assert ours[1] == text_digest(theirs)
        else:
            assert ours == theirs
