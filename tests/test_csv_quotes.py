"""QuoteIndex: the parity of quotes before a candidate line frames CSV rows with quoted newlines."""

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


# -- _RowReader: one csv.reader kept for row after row gives what a reader per row gives --------------

def _alone(raw: str, delimiter: str):
    """What a fresh reader over the row alone gives: its one record, or None (an error, or not one)."""
    import csv

    try:
        rows = list(csv.reader(io.StringIO(raw), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


from hypothesis import given, settings, strategies as st  # noqa: E402

row_text = st.text(alphabet='ab";,\n\r \u00e9', max_size=12) | st.text(alphabet='ab";,\r \u00e9', max_size=12).map(
    lambda t: t + "\n")  # rows of one line, ended as a file's lines are


@settings(max_examples=600, deadline=None)
@given(rows=st.lists(row_text, min_size=1, max_size=12), delimiter=st.sampled_from([",", ";"]))
def test_a_kept_reader_parses_each_row_as_a_reader_of_its_own(rows, delimiter):
    from dsarctl.connectors.csvfile import _RowReader

    reader = _RowReader(delimiter)
    for raw in rows:  # one after the other through the same reader: a bad row must not spoil the next
        fast = reader.parse(raw)
        alone = _alone(raw, delimiter)
        if fast is not None:
            assert fast == alone, raw
        elif alone is not None:  # the kept reader gives up on a row a reader of its own reads: only
            assert "\n" in raw[:-1]  # a row of several lines, which the caller then parses on its own


def test_rows_of_a_real_list_are_parsed_by_the_kept_reader():
    from dsarctl.connectors.csvfile import _RowReader

    reader = _RowReader(",")
    assert reader.parse('a@x.org,"Smith, Jo",1\n') == ["a@x.org", "Smith, Jo", "1"]
    assert reader.parse('x,"""q""",\r\n') == ["x", '"q"', ""]
    assert reader.parse("plain,row,3") == ["plain", "row", "3"]  # the last line, without a newline
    assert reader.parse('bad,"open\n') is None  # the record goes on past the row: the caller says why
    assert reader.parse('"a"b,c\n') is None  # strict: a quote must be followed by a delimiter
    assert reader.parse("after,the,bad\n") == ["after", "the", "bad"]  # a bad row spoils nothing
    assert reader.parse('"multi\nline",x\n') is None  # several lines: parsed on its own by the caller
