"""Reading CSV rows: the parity of quotes before a candidate line finds where its row starts (QuoteIndex);
every reader (a full read, a search's candidate rows, an erase) frames rows and parses them the same
way, with the same errors."""

from __future__ import annotations

import io
import random

import pytest

from dsarctl.connectors.csvfile import QuoteIndex


@pytest.mark.parametrize("order", ["ascending", "random"])
def test_quotes_before_any_offset_are_counted_exactly(monkeypatch, order):
    monkeypatch.setattr(QuoteIndex, "BLOCK", 16)  # chunks of 1 KB: many blocks and chunk edges
    rng = random.Random(7)
    data = bytes(rng.choice(b'ab"\n,') for _ in range(5000))
    offsets = list(range(0, len(data) + 1, 7)) + [len(data), 1023, 1024, 1025, 2048]
    if order == "ascending":
        offsets.sort()
    else:
        rng.shuffle(offsets)
    index = QuoteIndex(io.BytesIO(data))
    for offset in offsets:
        assert index.before(offset) == data[:offset].count(b'"'), offset


def test_only_the_part_before_the_last_offset_asked_for_is_read(monkeypatch):
    monkeypatch.setattr(QuoteIndex, "BLOCK", 16)
    data = b'"x"\n' * 4096  # 16 KB
    handle = io.BytesIO(data)
    index = QuoteIndex(handle)
    assert index.before(100) == data[:100].count(b'"')
    assert len(index.totals) - 1 <= 64  # one 1 KB chunk of 16-byte blocks, not the whole file
    assert index.before(len(data)) == data.count(b'"')


# -- _RowReader: the one CSV row parser gives what a reader per row gives, and fails in its words ---------

def _alone(raw: str, delimiter: str) -> tuple[str, object]:
    """What a fresh reader over the row alone gives: ("ok", its one record), or ("error", the words)."""
    import csv

    try:
        rows = list(csv.reader(io.StringIO(raw), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return "error", str(exc)
    return ("ok", rows[0]) if len(rows) == 1 else ("error", "cannot read this row as CSV")


def _kept(reader, raw: str) -> tuple[str, object]:
    import csv

    try:
        return "ok", reader.parse(raw)
    except csv.Error as exc:
        return "error", str(exc)


from hypothesis import given, settings, strategies as st  # noqa: E402

row_text = st.text(alphabet='ab";,\t\n\r \u00e9', max_size=12) | st.text(alphabet='ab";,\t\r \u00e9', max_size=12).map(
    lambda t: t + "\n")  # rows of one line, ended as a file's lines are, and rows of several lines


@settings(max_examples=1000, deadline=None)
@given(rows=st.lists(row_text, min_size=1, max_size=12), delimiter=st.sampled_from([",", ";", "\t"]))
def test_the_kept_reader_parses_each_row_as_a_reader_of_its_own(rows, delimiter):
    from dsarctl.connectors.csvfile import _RowReader

    reader = _RowReader(delimiter)
    for raw in rows:  # one after the other through the same reader: a bad row must not spoil the next
        assert _kept(reader, raw) == _alone(raw, delimiter), raw


def test_rows_of_a_real_list_are_parsed_by_the_kept_reader():
    import csv

    from dsarctl.connectors.csvfile import _RowReader

    reader = _RowReader(",")
    assert reader.parse('a@x.org,"Smith, Jo",1\n') == ["a@x.org", "Smith, Jo", "1"]
    assert reader.parse('x,"""q""",\r\n') == ["x", '"q"', ""]
    assert reader.parse("plain,row,3") == ["plain", "row", "3"]  # the last line, without a newline
    assert reader.parse("plain,row,\r\n") == ["plain", "row", ""]
    with pytest.raises(csv.Error, match="unexpected end of data"):
        reader.parse('bad,"open\n')  # the record goes on past the row
    with pytest.raises(csv.Error, match="',' expected after"):
        reader.parse('"a"b,c\n')  # strict: a quote must be followed by a delimiter
    with pytest.raises(csv.Error, match="new-line character seen in unquoted field"):
        reader.parse("a,b\rc\n")
    assert reader.parse("after,the,bad\n") == ["after", "the", "bad"]  # a bad row spoils nothing
    assert reader.parse('"multi\nline",x\n') == ["multi\nline", "x"]  # several lines, the same reader
    with pytest.raises(csv.Error, match="cannot read this row as CSV"):
        reader.parse('a"b\n\r\n')  # two records, not one row
    assert reader.parse("\n") == []  # a blank line is an empty record, as the csv module reads it


def test_a_field_longer_than_the_csv_module_takes_is_its_error(monkeypatch):
    import csv

    from dsarctl.connectors.csvfile import _RowReader

    old = csv.field_size_limit(10)
    try:
        reader = _RowReader(",")
        assert reader.parse("123456789,x\n") == ["123456789", "x"]
        with pytest.raises(csv.Error, match="field larger than field limit"):
            reader.parse("12345678901,x\n")
    finally:
        csv.field_size_limit(old)


# -- one reader path: a full read, the candidate rows of a search and an erase say the same -----------

HOSTILE_SYSTEM = """
list:
  connector: csv
  path: list.csv
  identities: {email: Email, phone: Phone}
  erase: delete
"""

HOSTILE = {
    # a quote left open: refused once the row passes the limit, not held to the end of the file
    "left open": (b'Email,Phone,Note\nbob@example.com,,"open\n' + b"alice@example.com,,filler line\n" * 200,
                  "list.csv:2: a line longer than 1 KiB"),
    # a bad byte on the second line of a quoted row: named by line and column, however the row is reached
    "bad byte": (b'Email,Phone,Note\nalice@example.com,,"one\ntw\xe9"\n',
                 "list.csv:3: not valid utf-8-sig (byte 0xe9 at column 3)"),
    # quotes balanced over two lines, but a quote inside an unquoted field: two records, not one row
    "two records": (b'Email,Phone,Note\nalice@example.com,,a"b\nc"\n', "list.csv:2: cannot read this row as CSV"),
    "strict": (b'Email,Phone,Note\nalice@example.com,,"a"b\n', "list.csv:2: ',' expected after '\"'"),
    "width": (b"Email,Phone,Note\nbob@example.com,,x\nalice@example.com,x\n",
              "list.csv:3: row has 2 fields, the header has 3"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_reader_of_a_csv_file_fails_in_the_same_words(tmp_path, cli, monkeypatch, name):
    from helpers import Scanner, find, write_inventory

    from dsarctl.inventory import load_inventory

    content, words = HOSTILE[name]
    monkeypatch.setenv("DSARCTL_MAX_LINE_BYTES", "1024")
    (tmp_path / "list.csv").write_bytes(content)
    path = write_inventory(tmp_path, HOSTILE_SYSTEM)
    inventory = load_inventory(path)
    seen = {}
    for scanner in ("grep", "python"):
        with Scanner(scanner):  # the candidate rows of the byte prefilter
            seen[scanner] = find(inventory, "email:alice@example.com", expand=False).failures
    seen["full read"] = find(inventory, "phone:+442079460958", expand=False).failures  # phones: every row
    errors = {how: [error for *_, error in failures] for how, failures in seen.items()}
    assert len({tuple(e) for e in errors.values()}) == 1, errors  # word for word the same
    [error] = errors["full read"]
    assert error.startswith(words), error
    r = cli("-i", str(path), "erase", "alice@example.com", "--yes")
    assert r.code == 3 and words in r.out + r.err, r
    assert (tmp_path / "list.csv").read_bytes() == content
