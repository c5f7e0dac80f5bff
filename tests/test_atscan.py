"""atscan: the many-needle e-mail scanner a batch uses instead of GNU grep's multi-pattern search.

It must find exactly the lines (and files) `grep -F -i` finds in the C locale: checked against a plain
reference on generated data (with chunk boundaries everywhere), against GNU grep's own output as a
program, and through the connectors on the benchmark company."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from dsarctl.connectors import atscan, bytescan
from dsarctl.connectors.atscan import AtIndex

from helpers import benchmark_company
from test_bytescan import _compare


def _reference(data: bytes, needles: list[bytes], markers: tuple[bytes, ...] = ()) -> list[tuple[int, int, bytes]]:
    out, offset = [], 0
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if any(n in line.lower() for n in (*needles, *markers)) and (offset < len(data)):
            out.append((lineno, offset, line))
        offset += len(line) + 1
    return out


def _scan(data: bytes, needles: list[bytes], chunk: int, tmp_path, markers: tuple[bytes, ...] = ()) -> list[tuple[int, int, bytes]]:
    path = tmp_path / "data"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(atscan.lines(fd, AtIndex(needles), chunk, markers))
    finally:
        os.close(fd)


ALPHABET = b"aAbB@.\n\r x1=?"
marker_st = st.lists(st.sampled_from([b"=?", b"?", b"1=", b"@.", b"x"[:0] + b".."]), max_size=2).map(tuple)
needle_st = st.builds(lambda left, right: left + b"@" + right,
                      st.binary(min_size=0, max_size=6).map(lambda b: bytes(ALPHABET[c % 8] for c in b).lower()),
                      st.binary(min_size=0, max_size=6).map(lambda b: bytes(ALPHABET[c % 8] for c in b).lower()))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: bytes(ALPHABET[c % len(ALPHABET)] for c in b)),
       needles=st.lists(needle_st, min_size=1, max_size=8), chunk=st.integers(min_value=1, max_value=40),
       markers=marker_st)
def test_lines_are_the_lines_holding_a_needle(tmp_path_factory, data, needles, chunk, markers):
    needles = [n for n in needles if b"\n" not in n] or [b"a@b"]
    tmp = tmp_path_factory.mktemp("at")
    assert _scan(data, needles, chunk, tmp, markers) == _reference(data, needles, markers)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: bytes(ALPHABET[c % len(ALPHABET)] for c in b)),
       needles=st.lists(needle_st, min_size=1, max_size=8), chunk=st.integers(min_value=1, max_value=400),
       markers=marker_st)
def test_a_file_holds_a_needle_when_one_of_its_lines_does(tmp_path_factory, data, needles, chunk, markers):
    # chunks below and above the file's size: a message read whole, a big file read in pieces of lines
    needles = [n for n in needles if b"\n" not in n] or [b"a@b"]
    path = tmp_path_factory.mktemp("at") / "message"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert atscan.file_holds(fd, AtIndex(needles), chunk, markers) == bool(_reference(data, needles, markers))
    finally:
        os.close(fd)


def test_needles_with_the_at_near_either_end_and_shared_windows(tmp_path):
    needles = [b"@x.org", b"ab@", b"a@b", b"john.smith@example.com", b"xjohn.smith@example.com",
               b"jane.smith@example.com", b"12345@po"]
    data = (b"From: JOHN.SMITH@EXAMPLE.COM\n"         # upper case
            b"to: someone@x.orgy and ab@ here\r\n"    # CRLF, a needle ending in @
            b"no match: john.smith@example.co\n"      # one byte short
            b"a@b@c\n"                                  # two @ in a row
            b"@x.org\n"                                 # at the start of a line
            b"last 12345@post without newline")
    for chunk in (1, 3, 7, 64, 1 << 20):
        assert _scan(data, needles, chunk, tmp_path) == _reference(data, needles)
    assert len(_reference(data, needles)) == 5


def _grep() -> str:
    grep = bytescan.grep_binary()
    if grep is None:
        pytest.skip("GNU grep is not installed")
    return grep


def test_the_program_prints_what_grep_prints(tmp_path):
    grep = _grep()
    planted = benchmark_company(tmp_path)
    needles = sorted({s.lower() for s in (tmp_path / "subjects.txt").read_text().split()[:60]}
                     | {s["email"] for s in planted["subjects"]})
    env = {**os.environ, "LC_ALL": "C"}
    args = [x for n in needles for x in ("-e", n)]
    with open(tmp_path / "support.mbox", "ab") as mbox:  # an address in an RFC 2047 encoded word
        mbox.write(b"From x@y Mon Jan  1 00:00:00 2024\nFrom: =?utf-8?q?someone=40example=2Eorg?=\n\nhi\n")
    for name in ("support.mbox", "newsletter.csv", "usage.jsonl"):
        path = str(tmp_path / name)
        for marked in ([], ["=?"]):
            ours = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--lines", *args,
                                   *(x for m in marked for x in ("-m", m)), "--", path], capture_output=True)
            theirs = subprocess.run([grep, "-F", "-i", "-n", "-b", "-a", *args, *(x for m in marked for x in ("-e", m)),
                                     "--", path], capture_output=True, env=env)
            assert ours.returncode == theirs.returncode == 0, ours.stderr
            assert ours.stdout == theirs.stdout, (name, marked)
    ours = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--lines", *args, "-m", "=?", "--",
                           str(tmp_path / "support.mbox")], capture_output=True)
    assert b"=?utf-8?q?someone" in ours.stdout
    folders = [str(tmp_path / "sales-maildir" / sub) for sub in ("cur", "new")]
    (tmp_path / "sales-maildir" / "cur" / "1700000000.encoded.host:2,S").write_bytes(
        b"From: =?utf-8?q?someone=40example=2Eorg?=\nSubject: hi\n\nbody\n")
    for marked in ([], ["=?"]):
        ours = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--files", *args,
                               *(x for m in marked for x in ("-m", m)), "--", *folders], capture_output=True)
        theirs = subprocess.run([grep, "-F", "-i", "-l", "-Z", "-a", "-r", *args, *(x for m in marked for x in ("-e", m)),
                                 "--", *folders], capture_output=True, env=env)
        assert ours.returncode == theirs.returncode == 0
        found = set(ours.stdout.split(b"\0")) - {b""}
        assert found == set(theirs.stdout.split(b"\0")) - {b""} and len(found) >= 3
        assert any(name.endswith(b"encoded.host:2,S") for name in found) == bool(marked)


def test_the_program_reports_errors_like_grep(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"x a@b.c y\n")
    run = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--lines", "-e", "A@B.C", "--",
                          str(tmp_path / "missing"), str(tmp_path / "a.txt")], capture_output=True)
    assert run.returncode == 2 and b"missing" in run.stderr and run.stdout == b"1:0:x a@b.c y\n"
    run = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--lines", "-e", "q@r", "--",
                          str(tmp_path / "a.txt")], capture_output=True)
    assert (run.returncode, run.stdout) == (1, b"")
    run = subprocess.run([sys.executable, "-I", "-S", bytescan._ATSCAN, "--lines", "-e", "no-at", "--",
                          str(tmp_path / "a.txt")], capture_output=True)
    assert run.returncode == 2


def test_a_batch_through_the_connectors_uses_atscan_for_mail_and_agrees_with_a_plain_parse(tmp_path, monkeypatch):
    _grep()
    benchmark_company(tmp_path)
    from dsarctl.inventory import load_inventory

    started: list[tuple[str, int, set[str]]] = []  # (program, number of patterns, files read)
    real = subprocess.Popen

    def popen(args, *a, **k):
        if "--" in args:
            paths = args[args.index("--") + 1:]
            read = {os.path.basename(os.readlink(p) if p.startswith("/proc/self/fd/") else p.rstrip("/"))
                    for p in paths}
            program = "atscan" if bytescan._ATSCAN in args else os.path.basename(args[0])
            started.append((program, args.count("-e"), read))
        return real(args, *a, **k)

    monkeypatch.setattr(bytescan.subprocess, "Popen", popen)
    inventory = load_inventory(tmp_path / "inventory.yaml")
    ordinary = (tmp_path / "subjects.txt").read_text().split()[:40]
    assert _compare(inventory, [[f"email:{s}" for s in ordinary]]) >= 4
    by_atscan = set().union(*(read for program, _n, read in started if program == "atscan"))
    by_grep = set().union(*(read for program, n, read in started if program == "grep" and n >= 40))
    assert {"support.mbox", "cur", "new"} <= by_atscan  # mail: atscan
    assert {"newsletter.csv", "usage.jsonl"} <= by_grep  # records, an address on nearly every line: grep
    assert not by_atscan & {"newsletter.csv", "usage.jsonl"}
    # the `=?` marker is looked for by atscan in the same pass: no grep reads the mail a second time
    assert not set().union(*(read for program, _n, read in started if program == "grep")) & {"support.mbox", "cur", "new"}


# -- --files --headers: a Maildir's header blocks only ---------------------------------------------------

_MESSY_HEADERS = [
    b"From: a@x.example\nTo: Bob <bob@y.example>\n\nbody bob@z.example\n",
    b"From: a@x.example\r\nCc: BOB@Y.EXAMPLE\r\n\r\nbody\r\n",
    b"\nFrom: bob@y.example\n",  # an empty first line: no headers at all
    b"\nFrom: bob@y.example\n\nbody\n",  # the same, with an empty line further on
    b"\r\nFrom: bob@y.example\r\n",
    b"Subject: no empty line, the file is headers only bob@y.example",
    b"From: a@x.example\nX-Pad: " + b"p" * 9000 + b"\nTo: bob@y.example\n\nbody\n",  # beyond the first read
    b"From: a\x00b bob@y.example\n\n",  # a NUL byte in a header
    b"X: " + b"q" * 8185 + b"\n\r\nTo: bob@y.example\n",  # the CRLF empty line across the first read's end
    b"To: =?utf-8?b?Ym9iQHkuZXhhbXBsZQ==?=\n\n",  # only the marker
    b"From: a@x.example\n \n\nTo: bob@y.example\n",  # a line of one space is not the end of the headers
]


@pytest.mark.parametrize("data", _MESSY_HEADERS)
def test_header_block_is_what_the_maildir_reader_reads(tmp_path, data):
    path = tmp_path / "msg"
    path.write_bytes(data)
    _assert_same_header_block(path)


def _assert_same_header_block(path) -> None:
    """atscan's header reader gives the bytes the Maildir connector's own reader gives."""
    from dsarctl.connectors.mail import _header_block

    with open(path, "rb") as handle:
        expected = _header_block(handle)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert atscan.header_block(fd) == expected
    finally:
        os.close(fd)


@given(st.lists(st.sampled_from([b"To: bob@y.example", b"From: a@x.example", b"", b"\r", b" ", b"X: =?q?",
                                 b"body bob@y.example", b"\x00"]), max_size=12),
       st.integers(min_value=0, max_value=9000))
@settings(max_examples=150, deadline=None)
def test_header_block_agrees_with_the_reader_on_generated_files(lines, pad):
    import tempfile

    data = (b"X-Pad: " + b"p" * pad + b"\n" if pad else b"") + b"\n".join(lines)
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        path = handle.name
        handle.write(data)
    try:
        _assert_same_header_block(path)
    finally:
        os.unlink(path)


def _maildir(tmp_path) -> str:
    root = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for i, data in enumerate(_MESSY_HEADERS):
        (root / ("cur" if i % 2 else "new") / f"17000000{i:02d}.M{i}P1.host:2,S").write_bytes(data)
    return str(root)


def _headscan(root: str, *extra: str) -> set[str]:
    run = subprocess.run([sys.executable, "-I", "-S", atscan.__file__, "--files", "--headers", "-e", "bob@y.example",
                          "-m", "=?", *extra, "--", os.path.join(root, "cur"), os.path.join(root, "new")],
                         capture_output=True)
    assert run.returncode in (0, 1), run.stderr
    return {os.path.relpath(os.fsdecode(n), root) for n in run.stdout.split(b"\0") if n}


def test_headscan_names_the_files_whose_header_block_holds_a_needle_and_its_parts_add_up(tmp_path):
    from dsarctl.connectors.mail import _header_block

    root = _maildir(tmp_path)
    expected = set()
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(root, sub)):
            with open(os.path.join(root, sub, name), "rb") as handle:
                block = _header_block(handle)
            if b"bob@y.example" in block.lower() or b"=?" in block:
                expected.add(f"{sub}/{name}")
    assert len(expected) == 6  # not the body-only, the no-headers ones, nor those ending their headers early
    assert _headscan(root) == expected
    parts = [_headscan(root, "--part", f"{i}/3") for i in range(3)]
    assert set().union(*parts) == expected
    assert sum(map(len, parts)) == len(expected)  # each file in one part


def test_a_maildir_search_reads_headers_with_atscan_not_grep(tmp_path, monkeypatch):
    from dsarctl.connectors.bytescan import FilesJob, Needles

    root = _maildir(tmp_path)
    started: list[list[str]] = []
    real = subprocess.Popen

    def popen(args, *a, **k):
        started.append(list(args))
        return real(args, *a, **k)

    monkeypatch.setattr(bytescan.subprocess, "Popen", popen)
    job = FilesJob(root, ["cur", "new"], Needles((b"bob@y.example",), (b"=?",)))
    names = job.names()
    assert len(names) == 6 and all(n.startswith(("cur/", "new/")) for n in names)
    assert len(started) == 1 and bytescan._ATSCAN in started[0] and "--headers" in started[0]


def test_a_scan_killed_before_its_end_answers_nothing_rather_than_a_partial_list(tmp_path):
    """A killed scan (out of memory, a signal) exits with a negative status: its output may stop anywhere,
    so the job says it has no answer and the connector reads the folder itself."""
    import signal

    from dsarctl.connectors.bytescan import FilesJob, Needles

    root = _maildir(tmp_path)
    # a message that is a FIFO nobody writes: the scan blocks opening it, so it is surely still running
    # when killed (a scan that had finished first would ignore the signal and answer in full)
    os.mkfifo(os.path.join(root, "cur", "1700000000.fifo.host:2,S"))
    job = FilesJob(root, ["cur", "new"], Needles((b"bob@y.example",), (b"=?",)))
    for proc, _out, _err in job.scans:
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert job.names() is None


def test_a_grep_killed_before_its_end_fails_the_search_instead_of_finding_nothing(tmp_path):
    import signal

    from dsarctl.connectors.bytescan import LinesJob, Needles

    _grep()
    # a FIFO held open for writing: grep waits for more input, so it is surely still running when killed
    # (on a small file it could finish first, and a signal to a finished process does nothing)
    path = tmp_path / "list.csv"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR)
    try:
        os.write(writer, b"email\n" + b"someone@x.example\n" * 100 + b"bob@y.example\n")
        job = LinesJob(path, Needles((b"bob@y.example",)))
        for racers in job.greps.runs:
            for proc, _out, _err in racers:
                assert proc.poll() is None
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        with pytest.raises(OSError, match="grep failed"):
            list(job.lines())
        job.close()
    finally:
        os.close(writer)


def test_atscan_fails_with_status_2_not_1_when_it_cannot_finish(tmp_path):
    root = _maildir(tmp_path)
    # its output closed: writing a name fails; 1 ("none found") would be taken as a complete answer
    run = subprocess.run([sys.executable, "-I", "-S", atscan.__file__, "--files", "--headers", "-e", "bob@y.example",
                          "--", os.path.join(root, "cur"), os.path.join(root, "new")],
                         stdout=open(os.devnull, "rb"), stderr=subprocess.PIPE)
    assert run.returncode == 2, run.stderr
