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
