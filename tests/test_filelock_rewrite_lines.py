"""filelock.rewrite_lines against a plain oracle (split the file into lines, drop or replace the edited
records, join): every byte of the lines not edited is copied, whatever the block size (so that records
and line ends fall across block boundaries), the line ending, or the encoding's unit (UTF-16)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from dsarctl import filelock


def _oracle(data: bytes, edits: dict[int, tuple[int, bytes]], newline: bytes) -> bytes:
    unit = len(newline)
    lines, start = [], 0
    i = data.find(newline, 0)
    while i != -1:
        if i % unit == 0:
            lines.append(data[start:i + unit])
            start = i + unit
            i = data.find(newline, start)
        else:
            i = data.find(newline, i + 1)
    if start < len(data):
        lines.append(data[start:])
    out, skip_to = [], 0
    for number, line in enumerate(lines, 1):
        if number < skip_to:
            continue
        if number in edits:
            span, replacement = edits[number]
            out.append(replacement)
            skip_to = number + span
            continue
        out.append(line)
    return b"".join(out)


@given(st.lists(st.sampled_from(["a", "bb", "", "ccc,ddd", "é", "x" * 40]), min_size=1, max_size=60),
       st.booleans(), st.sampled_from(["\n", "\r\n"]), st.sampled_from(["utf-8", "utf-16-le"]),
       st.integers(min_value=1, max_value=64), st.data())
@settings(max_examples=200, deadline=None)
def test_rewrite_lines_copies_every_other_byte(tmp_path_factory, lines, final_newline, ending, encoding, block, data):
    text = ending.join(lines) + (ending if final_newline else "")
    raw = text.encode(encoding)
    newline = "\n".encode(encoding)
    count = text.count("\n") + (0 if final_newline or not text else 1)
    numbers = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=max(count, 1)), max_size=8)))
    edits = {}
    for number in numbers:
        if any(n < number < n + edits[n][0] for n in edits):
            continue  # inside a record already edited
        span = data.draw(st.integers(min_value=1, max_value=3))
        edits[number] = (span, data.draw(st.sampled_from([b"", "NEW\n".encode(encoding)])))
    path = tmp_path_factory.mktemp("rw") / "f.csv"
    path.write_bytes(raw)
    expected = _oracle(raw, edits, newline)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(filelock, "_BLOCK", block * len(newline))
        filelock.rewrite_lines(path, edits, newline=newline)
    assert path.read_bytes() == expected
