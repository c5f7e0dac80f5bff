"""Byte-level prefilter for file sources: which lines could hold a searched value, before parsing.

A file is searched for the searched values as raw bytes, ASCII case-folded, and only the lines that
contain one (the candidates) are parsed and matched by the connector. The test is exact, never lossy:

- it is used only for text encodings that spell ASCII as ASCII, never for phone numbers (written in
  many formats); a non-ASCII address is searched by an ASCII stretch of it;
- an e-mail address normalises by trimming, NFC and case-folding, so a line can hold it in another
  spelling only through one of the few characters whose NFC or case-folded form is ASCII (ß -> ss,
  K (Kelvin sign) -> k, ﬁ -> fi, ...). Where an address holds such a fold ("ss", "k", "fi" ...), the
  needle is the longest part of it that no such character can stand in for (`needle_for_email`);
- a connector adds what else can hide a value in its format (a backslash for JSON escapes, `=?` for
  RFC 2047 encoded words in mail headers).

The scan is done by GNU grep when it is installed (`grep -F -i`: fixed strings, case-folded, at
least the lines the Python fallback finds), otherwise in Python over large chunks.
GNU grep is fastest with one pattern, so a few needles run as one grep each, side by side, and many
needles (a batch of subjects) as one grep; their output goes to temporary files, so memory stays flat
whatever they find. `DSARCTL_GREP=off` forces the Python scanner; `DSARCTL_GREP=/path/to/grep` names
the binary.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
import functools
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from ..inventory.model import Collection, Inventory
    from .base import Wanted

# Every non-ASCII character whose NFC form or case folding contains an ASCII character (computed over
# all of Unicode; tests/test_bytescan.py recomputes it). A value can match a line spelled with one of
# these without the line holding the value's ASCII bytes, so such lines are always candidates.
ASCII_FOLDING = (
    "\u00df\u0130\u0149\u017f\u01f0\u037e\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9e\u1fef\u212a"
    "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)


def _folds() -> dict[str, str]:
    """character -> the ASCII text it normalises to, for the characters of ASCII_FOLDING that normalise
    to ASCII only (the others, like İ -> i + combining dot, can never be part of an ASCII value)."""
    import unicodedata

    out = {}
    for ch in ASCII_FOLDING:
        folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", ch).casefold())
        if folded.isascii():
            out[ch] = folded
    return out


FOLDS = _folds()
_SHORT = 5  # a value shorter than this is looked for only after a byte it can follow (see needles_for)
_MANY = 4  # up to this many needles run as one grep each; more as one multi-pattern grep (or atscan)
_ATSCAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "atscan.py")
_CHUNK = 1 << 22
_PROBE = "azAZ09@.-_+:;,\"'{}[]\\=? \t\r\n"


@dataclass(frozen=True)
class Needles:
    """What a candidate line contains (after ASCII lower-casing): one of `values` or one of `extra`."""

    values: tuple[bytes, ...]
    extra: tuple[bytes, ...] = ()
    # short values spelt with each byte they can follow in the format (b':51', b'"51' ...; see
    # `needles_for`): customer id 51 is not looked for in every IP address 198.51.x.y of a log
    after: tuple[bytes, ...] = ()
    # extended regular expressions (bytes) a candidate line may match instead: JSON numbers in exponent
    # form (5.1e1 is customer id 51), which hold none of the value's digits in order
    regex: tuple[bytes, ...] = ()

    @property
    def all(self) -> tuple[bytes, ...]:
        return self.values + self.after + self.extra

    def value_in(self, line: bytes) -> bool:
        """Whether the line holds a searched value itself (not only an `extra` marker)."""
        if self._at is not None:
            if self._at.holds(line):
                return True
            rest = self._rest + self.after
        else:
            rest = self.values + self.after
        if not rest:
            return False
        low = line.lower()
        return any(v in low for v in rest)

    def holds(self, data: bytes) -> bool:
        """Whether the data holds a value or a marker (what makes a line a candidate)."""
        if self.value_in(data):
            return True
        if any(re.search(r, data) for r in self.regex):
            return True
        if not self.extra:
            return False
        low = data.lower()
        return any(m in low for m in self.extra)

    @cached_property
    def _at(self):
        """The many e-mail needles, indexed by `atscan` (a batch), or None."""
        from .atscan import AtIndex

        at = [v for v in self.values if _at_needle(v)]
        return AtIndex(at) if len(at) > _MANY else None

    @cached_property
    def _rest(self) -> tuple[bytes, ...]:
        return tuple(v for v in self.values if not _at_needle(v))


def ascii_compatible(encoding: str) -> str | None:
    """The codec to encode needles with when `encoding` writes ASCII text as the same bytes (utf-8,
    latin-1, cp1252 …; utf-8-sig as utf-8), else None (utf-16, utf-32, ebcdic …)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    plain = "utf-8" if name == "utf-8-sig" else name
    try:
        return plain if _PROBE.encode(plain) == _PROBE.encode("ascii") else None
    except UnicodeEncodeError:
        return None


def needles_for(collection: "Collection", inventory: "Inventory", wanted: "Wanted", *, encoding: str = "utf-8",
                forbid: str = "", extra: tuple[bytes, ...] = (), follows: bytes | None = None,
                regex: tuple[bytes, ...] = ()) -> Needles | None:
    """The needles for searching `collection` for `wanted`, or None when no exact byte test exists (a
    phone number or non-ASCII value is searched, a value holds a `forbid` character, or the encoding
    does not spell ASCII as ASCII). `follows`: the bytes that, besides white space, can come just
    before a value in the format, which never begins a line (JSON: a quote, a colon, a comma, an
    opening bracket); a value shorter than `_SHORT` (customer id 51) is then looked for right after
    one of them or after white space (as stripped: ASCII or, by its last byte, Unicode), not
    anywhere (`Needles.after`)."""
    plain = ascii_compatible(encoding)
    if plain is None:
        return None
    values: set[bytes] = set()
    after: set[bytes] = set()
    before = _before_bytes(follows, plain) if follows is not None else b""
    folding = False
    for kind_name in collection.searched:
        searched = wanted.get(kind_name)
        if not searched:
            continue
        kind_type = inventory.identities[kind_name].type
        if kind_type == "phone":
            return None
        for value in searched:
            if any(ch in value for ch in forbid) or not value.strip():
                return None
            if kind_type == "email":
                needle = needle_for_email(value)
                if needle is None and not value.isascii():
                    return None  # too little plain ASCII in it: parse every record
                if needle is None:  # too little of it is safe: search it whole, and every folding character
                    needle, folding = value, True
                values.add(needle.lower().encode("ascii"))
            else:
                try:  # strings are compared as they are written (trimmed), never folded
                    needle = value.encode(plain).lower()
                except UnicodeEncodeError:
                    return None
                if before and len(needle) < _SHORT and needle == needle.strip():
                    after.update(bytes([b]) + needle for b in before)
                else:
                    values.add(needle)
    if not values and not after:
        return Needles(())
    markers = list(extra)
    if folding:
        for ch in FOLDS:
            try:
                markers.append(ch.encode(plain))
            except UnicodeEncodeError:
                continue
    if not any(_numeric(v) for kind_name in collection.searched if inventory.identities[kind_name].type != "email"
               for v in wanted.get(kind_name) or ()):
        regex = ()  # what they match (JSON numbers in exponent form) can only equal a number
    return Needles(tuple(sorted(values)), tuple(dict.fromkeys(markers)), tuple(sorted(after)), tuple(regex))


def _numeric(value: str) -> bool:
    """Whether a value is what a number can be read as (51, 51.5, 1e+20): the only values a `regex`
    marker of a format (a number in exponent form) stands for."""
    try:
        float(value)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _before_bytes(follows: bytes, encoding: str) -> bytes:
    """`follows`, ASCII white space, and the last byte of every other character str.strip() removes,
    as `encoding` spells it."""
    out = set(follows)
    for code in range(0x3001):
        ch = chr(code)
        if ch.isspace():
            try:
                out.add(ch.encode(encoding)[-1])
            except UnicodeEncodeError:
                continue
    out.discard(ord("\n"))  # lines are searched: a value never begins one (and grep reads \n as "or")
    return bytes(sorted(out))


@functools.lru_cache(maxsize=65536)  # a batch asks for the same addresses per file source and round
def needle_for_email(value: str, shortest: int = 5) -> str | None:
    """A part of a (case-folded) address that every spelling of it holds as ASCII: the address, or when
    a folding character could stand in for some of it ("ss" <- ß, "k" <- K, "fi" <- ﬁ) or it holds
    non-ASCII characters (which may be spelt decomposed), the stretch between such places with most
    digits, then the longest. None when shorter than `shortest`."""
    risky = [not ch.isascii() for ch in value]  # a non-ASCII character may be spelt decomposed (e + ◌̈)
    for folded in set(FOLDS.values()):
        start = value.find(folded)
        while start != -1:
            for i in range(start, start + len(folded)):
                risky[i] = True
            start = value.find(folded, start + 1)
    runs, run_start = [], 0
    for i in range(len(value) + 1):
        if i == len(value) or risky[i]:
            if i > run_start:
                runs.append((run_start, i))
            run_start = i + 1
    if runs == [(0, len(value))]:
        return value
    # prefer the run with most digits (they tell people apart: "12345@po" rather than ".harri"), then
    # the longest
    def score(run: tuple[int, int]) -> tuple[int, int]:
        return sum(ch.isdigit() for ch in value[run[0]:run[1]]), run[1] - run[0]

    best = ""
    if runs:
        start, end = max(runs, key=score)
        best = value[start:end]
    return best if len(best) >= shortest else None


# -- finding the candidate lines -------------------------------------------------------------------------

_GREP: list[str | None] = []


def grep_binary() -> str | None:
    """GNU grep's path, or None (not installed, another grep, or DSARCTL_GREP=off)."""
    if _GREP:
        return _GREP[0]
    setting = os.environ.get("DSARCTL_GREP", "").strip()
    found = None
    if setting.lower() not in ("off", "0", "no", "false"):
        path = setting or shutil.which("grep")
        if path:
            try:
                out = subprocess.run([path, "--version"], capture_output=True, timeout=10).stdout
                found = path if out.startswith(b"grep (GNU grep)") else None
            except (OSError, subprocess.SubprocessError):
                found = None
    _GREP.append(found)
    return found


def _reset_grep() -> None:
    """Forget the grep detected (tests switch DSARCTL_GREP)."""
    _GREP.clear()


# ASCII needles are searched in a UTF-8 locale, where GNU grep -F -i with many patterns is several
# times faster than in the C locale; its case-folding there is Unicode's, a superset of ASCII's (a
# line with "ſ" for "s" is a candidate too). Other needles (folding characters, latin-1 bytes) are
# searched byte for byte in the C locale.
_GREP_ENV = {**os.environ, "LC_ALL": "C"}
_GREP_ENV_UTF8 = {**os.environ, "LC_ALL": "C.UTF-8"}


class _Regex(tuple):
    """A group of extended regular expressions (`grep -E`), not fixed strings."""


class _AtGroup(tuple):
    """Many e-mail needles for one `atscan`, with the markers it looks for in the same pass."""

    markers: tuple[bytes, ...] = ()


def _groups(needles: Needles, mail: bool = False) -> list[tuple[bytes, ...]]:
    """The patterns of each grep to run: one needle each when there are few, else the many e-mail
    needles in one `atscan` (see `_at_group`), the other values in one grep, each marker in its own,
    and one `grep -E` for the regular expressions and the short values after the bytes they can follow
    (with the markers, when there is such a group: one pass instead of one per marker). As fixed
    strings the short values are every (byte, value) pair, hundreds of 3-byte needles, which GNU grep's
    multi-pattern search reads slowly (1.3 s over 1M JSON lines for 27 ids); as `[bytes](51|123|…)`
    its DFA reads them at 0.3 s, and with the exponent expression in the same pass."""
    markers = [(m,) for m in needles.extra]
    few = len(needles.values) + len(needles.after) + len(markers) <= _MANY
    after = None if few else _after_regex(needles.after)
    fixed_after = needles.after if after is None else ()
    expressions = (*needles.regex, *(after or ()))
    regex = []
    if expressions:  # the markers go into the one grep -E: the expressions read every byte anyway
        regex = [_Regex((*expressions, *(_ere(m) for m in needles.extra)))]
        markers = []
    if few:
        return [(n,) for n in needles.values + fixed_after] + markers + regex
    at = tuple(v for v in needles.values if _at_needle(v))
    if len(at) <= _MANY:
        at = ()
    rest = tuple(v for v in needles.values if v not in at)
    if at and mail:  # atscan: its markers in the same pass (a mailbox read once, not once more per marker)
        from .atscan import plain_marker

        at = _AtGroup(at)
        at.markers = tuple(m for (m,) in markers if plain_marker(m))
        markers = [(m,) for (m,) in markers if not plain_marker(m)]
    return [group for group in (at, rest, fixed_after) if group] + markers + regex


def _after_regex(after: tuple[bytes, ...]) -> tuple[bytes, ...] | None:
    """`Needles.after` (each a byte the value can follow, then the value) as extended regular
    expressions, one per set of bytes: `[bytes](value|value…)`; None when a value holds a newline
    (grep would read it as two patterns)."""
    by_value: dict[bytes, set[int]] = {}
    for needle in after:
        by_value.setdefault(needle[1:], set()).add(needle[0])
    if not by_value or any(b"\n" in value for value in by_value):
        return None
    by_bytes: dict[bytes, list[bytes]] = {}
    for value, before in sorted(by_value.items()):
        by_bytes.setdefault(bytes(sorted(before)), []).append(value)
    return tuple(_bracket(before) + b"(" + b"|".join(_ere(v) for v in values) + b")"
                 for before, values in sorted(by_bytes.items()))


def _bracket(chars: bytes) -> bytes:
    """An extended regular expression matching one byte of `chars` (C locale): a bracket expression with
    `]` first, `[` only before `^`, `-` or the end (`[.`, `[=`, `[:` would open a class name), `-` last,
    and `^` never first (which would negate it)."""
    if len(set(chars)) == 1:
        return _ere(chars[:1])
    special = b"]^[-"
    body = (b"]" if b"]" in chars else b"") + bytes(sorted({c for c in chars if c not in special}))
    body += (b"[" if b"[" in chars else b"") + (b"^" if b"^" in chars else b"") + (b"-" if b"-" in chars else b"")
    if body == b"^-":
        body = b"-^"
    return b"[" + body + b"]"


def _ere(text: bytes) -> bytes:
    """A fixed string as an extended regular expression."""
    return re.sub(rb"([.\[\]()*+?{}|^$\\])", rb"\\\1", text)


def _at_needle(needle: bytes) -> bool:
    return b"@" in needle and needle.isascii() and b"\n" not in needle


def _at_group(patterns: tuple[bytes, ...]) -> bool:
    """Whether a group goes to `atscan` instead of grep: many needles, each an ASCII one holding `@`.
    GNU grep's multi-pattern search is slow on mail (see atscan.py); `atscan` looks only around `@`s."""
    return len(patterns) > _MANY and all(_at_needle(p) for p in patterns)


class _Greps:
    """grep processes run side by side, each writing to its own unlinked temporary file. ASCII patterns
    can run in the UTF-8 or the C locale (both give every line holding a needle). GNU grep with many
    patterns is fast in one and several times slower in the other, depending on the data: both are
    raced on a sample of the data (`sample`: a few MB from the middle of the file) and the winner alone reads everything; without a sample both read everything and the
    first to finish is kept (a race over the whole data costs a core for as long as it runs). One
    needle runs in the locale faster on such data, without a race (the race's extra processes cost more
    than they save): the C locale in files of records (an address in 1M rows: 0.06 s against 0.19 s),
    UTF-8 in mail (`mail=True`: 0.48 s against 0.57 s over a 1.2 GB mbox).
    In mail a batch's e-mail needles run in `atscan` instead: grep's multi-pattern search crawls on
    mail, while in files of records, where nearly every line holds an `@` (a newsletter list, an event
    log), grep in the C locale is the faster (at 1M records, 0.7 s against 1.6 s)."""

    def __init__(self, grep: str, options: list[str], groups: list[tuple[bytes, ...]], paths: list[str],
                 pass_fds: tuple[int, ...] = (), sample: Callable[[], "bytes | None"] | None = None,
                 mail: bool = False):
        self.runs: list[list[tuple[subprocess.Popen, object, object]]] = []  # per group: its racers
        self.outputs: list = []
        taken: list = []  # the sample, read once for all groups
        try:
            for patterns in groups:
                ways = _ways(grep, options, patterns, mail)
                if len(ways) > 1 and sample is not None:
                    if not taken:
                        taken.append(sample())
                    ways = _faster(ways, taken[0])
                racers = []
                self.runs.append(racers)
                for args, env in ways:
                    out = tempfile.TemporaryFile(prefix="dsarctl-grep-")
                    err = tempfile.TemporaryFile(prefix="dsarctl-grep-")
                    racers.append((subprocess.Popen([*args, "--", *paths], stdout=out, stderr=err, env=env,
                                                    pass_fds=pass_fds), out, err))
        except BaseException:
            self.close()
            raise

    def wait(self) -> list[str]:
        """Wait for every group's grep (the first racer to finish); the error messages of the groups that
        failed (exit status 2). `outputs` then holds one output file per group, at its start."""
        import time

        errors = []
        self.outputs = []
        for racers in self.runs:
            winner = None
            while winner is None:
                done = [r for r in racers if r[0].poll() is not None]
                winner = next((r for r in done if _finished(r[0].returncode)), None)
                if winner is None and len(done) == len(racers):
                    winner = done[0]
                if winner is None:
                    time.sleep(0.002)
            for proc, _out, _err in racers:
                if proc is not winner[0] and proc.poll() is None:
                    proc.kill()
                    proc.wait()
            proc, out, err = winner
            if not _finished(proc.returncode):
                err.seek(0)
                errors.append(err.read().decode(errors="replace").strip() or f"grep exited with {proc.returncode}")
            out.seek(0)
            self.outputs.append(out)
        return errors

    def close(self) -> None:
        for racers in self.runs:
            for proc, out, err in racers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                out.close()
                err.close()


def _ways(grep: str, options: list[str], patterns: tuple[bytes, ...], mail: bool) -> list[tuple[list[str], dict]]:
    """The (command, environment) pairs that each find the lines or files holding a group's patterns."""
    needles = [arg for pattern in patterns for arg in ("-e", os.fsdecode(pattern))]
    if isinstance(patterns, _Regex):
        return [([grep, "-E", "-i", *options, *needles], _GREP_ENV)]  # -i: values and markers are folded
    if mail and _at_group(patterns):
        marked = [arg for marker in getattr(patterns, "markers", ()) for arg in ("-m", os.fsdecode(marker))]
        return [([sys.executable, "-I", "-S", _ATSCAN, "--files" if "-l" in options else "--lines", *needles,
                  *marked], dict(os.environ))]
    fixed = [grep, "-F", "-i", *options, *needles]
    if not all(p.isascii() for p in patterns):
        return [(fixed, _GREP_ENV)]
    if len(patterns) == 1:  # one needle: the locale that is faster on such data (racing costs more)
        return [(fixed, _GREP_ENV_UTF8 if mail else _GREP_ENV)]
    return [(fixed, _GREP_ENV_UTF8), (fixed, _GREP_ENV)]


def _faster(ways: list[tuple[list[str], dict]], sample: "bytes | None") -> list[tuple[list[str], dict]]:
    """[the way (command, environment) that first finished on the sample], or all of `ways` without one."""
    import time

    if not sample:
        return ways
    racers = []
    try:
        for args, env in ways:
            out = tempfile.TemporaryFile(prefix="dsarctl-grep-")  # not /dev/null: grep would stop early
            data = tempfile.TemporaryFile(prefix="dsarctl-grep-")
            data.write(sample)
            data.seek(0)
            proc = subprocess.Popen(args, stdin=data, stdout=out, stderr=subprocess.DEVNULL, env=env)
            data.close()
            racers.append((proc, out, (args, env)))
        while True:
            done = [r for r in racers if r[0].poll() is not None]
            if done:
                winner = next((r for r in done if _finished(r[0].returncode)), None)
                return [winner[2]] if winner else ways
            time.sleep(0.002)
    except OSError:
        return ways
    finally:
        for proc, out, _way in racers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()


_SAMPLE = 4 << 20  # bytes of data the locales are raced on


def _file_sample(fd: int) -> bytes | None:
    """A few MB from the middle of an open file (None for a small file: racing all of it is cheap)."""
    size = os.fstat(fd).st_size
    if size < 4 * _SAMPLE:
        return None
    return os.pread(fd, _SAMPLE, size // 2 - _SAMPLE // 2)


class LinesJob:
    """The candidate lines of one file, with grep started at once (it runs while the caller does other
    work, e.g. database lookups); `lines()` waits for it and yields what it found.

    The file is opened first and grep reads that open file (through /proc/self/fd on Linux), and the
    connector reads records through `file()`: both see the same version even when an erase replaces
    the file meanwhile. Where /proc is missing, grep reads the path and a replaced file is an error.
    `mail`: the file is a mailbox, which decides how grep is run (see `_Greps`), not what it finds."""

    def __init__(self, path, needles: Needles, *, mail: bool = False):
        self.path, self.needles = path, needles
        self.greps: _Greps | None = None
        self.error: OSError | None = None
        self.handle = None
        try:
            self.handle = open(path, "rb")
            grep = grep_binary()
            if grep is not None and (needles.values or needles.after):
                fd = self.handle.fileno()
                target = f"/proc/self/fd/{fd}" if os.path.isdir("/proc/self/fd") else os.fspath(path)
                self.greps = _Greps(grep, ["-n", "-b", "-a"], _groups(needles, mail), [target], pass_fds=(fd,),
                                    sample=lambda: _file_sample(fd), mail=mail)
        except OSError as exc:
            self.error = exc

    def file(self):
        """The open file the candidates come from (its errors as open() raised them)."""
        if self.error is not None:
            raise self.error
        return self.handle

    def lines(self) -> Iterator[tuple[int, int, bytes]]:
        """(line number, byte offset of the line, line bytes without its newline) of every line holding
        a needle, in file order. Missing or unreadable files raise OSError like open() does."""
        handle = self.file()
        if not (self.needles.values or self.needles.after):
            return
        if self.greps is None:
            yield from _python_lines(handle, self.needles)
            return
        import heapq

        try:
            errors = self.greps.wait()
            if errors:
                raise OSError(f"grep failed: {errors[0]}")
            if not os.path.isdir("/proc/self/fd") and not os.path.samestat(os.fstat(handle.fileno()), os.stat(self.path)):
                raise OSError(f"{self.path} was replaced during the search; search again")
            last = -1
            for lineno, offset, line in heapq.merge(*map(_parse_grep_output, self.greps.outputs),
                                                    key=lambda t: t[1]):
                if offset != last:
                    last = offset
                    yield lineno, offset, line
        finally:
            self.greps.close()

    def close(self) -> None:
        if self.greps is not None:
            self.greps.close()
        if self.handle is not None:
            self.handle.close()


def _parse_grep_output(out) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset, line) from grep -n -b output; a line longer than `lines.max_line_bytes()`
    cut short after it (never read whole: its reader says it is too long)."""
    from .lines import max_line_bytes

    most = max_line_bytes() + 64  # with grep's "number:offset:" in front
    while raw := out.readline(most):
        if len(raw) == most and not raw.endswith(b"\n"):
            while (more := out.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
        lineno, _, rest = raw.partition(b":")
        offset, _, line = rest.partition(b":")
        yield int(lineno), int(offset), line[:-1] if line.endswith(b"\n") else line


def _python_lines(handle, needles: Needles) -> Iterator[tuple[int, int, bytes]]:
    from .atscan import blocks, lines_at

    for offset, lineno, part in blocks(handle.fileno(), _CHUNK):  # pread: the caller reads records meanwhile
        hits: set[int] = set()
        plain = needles.all
        if needles._at is not None:  # a batch: the e-mail needles are looked for around each `@`
            hits.update(needles._at.starts(part))
            plain = needles._rest + needles.after + needles.extra
        low = part.lower() if plain else b""
        for needle in plain:
            i = low.find(needle)
            while i != -1:
                hits.add(i)
                end = low.find(b"\n", i)
                if end == -1:
                    break
                i = low.find(needle, end)
        for pattern in needles.regex:
            hits.update(m.start() for m in re.finditer(pattern, part))
        yield from lines_at(part, offset, lineno, sorted(hits))


class FilesJob:
    """The Maildir message files directly in `root/<sub>` whose header block holds a needle (bodies are
    never searched), found by `atscan --files --headers` started at once: one process per core on a big
    folder, each with its part of the files (see `atscan`). `names()` gives their relative names
    (sub/name), or None when the scan failed (a file vanished meanwhile: the caller then reads each
    file itself)."""

    def __init__(self, root, subdirs: list[str], needles: Needles):
        from .atscan import plain_marker

        self.root, self.needles = os.fspath(root), needles
        self.scans: list[tuple[subprocess.Popen, object, object]] = []
        self.available = True
        folders = [os.path.join(self.root, sub) for sub in subdirs if os.path.isdir(os.path.join(self.root, sub))]
        if not (needles.values and folders):
            return
        args = [sys.executable, "-I", "-S", _ATSCAN, "--files", "--headers"]
        for value in needles.values + needles.after:
            args += ["-e", os.fsdecode(value)]
        for marker in needles.extra:
            args += ["-m" if plain_marker(marker) else "-e", os.fsdecode(marker)]
        for pattern in needles.regex:
            args += ["-x", os.fsdecode(pattern)]
        parts = _parts(folders)
        try:
            for i in range(parts):
                out = tempfile.TemporaryFile(prefix="dsarctl-scan-")
                err = tempfile.TemporaryFile(prefix="dsarctl-scan-")
                self.scans.append((subprocess.Popen([*args, *(["--part", f"{i}/{parts}"] if parts > 1 else []),
                                                     "--", *folders], stdout=out, stderr=err), out, err))
        except OSError:
            self.close()
            self.available = False

    def names(self) -> set[str] | None:
        if not self.available:
            return None
        try:
            found = set()
            prefix = self.root.rstrip(os.sep) + os.sep
            for proc, out, _err in self.scans:
                if not _finished(proc.wait()):
                    return None  # a file vanished while it was listed, or the scan was killed: read the folder in Python
                out.seek(0)
                for name in out.read().split(b"\0"):
                    path = os.fsdecode(name)
                    if not path.startswith(prefix):
                        continue
                    sub, _, base = path[len(prefix):].partition(os.sep)
                    if base and os.sep not in base and not base.startswith("."):
                        found.add(f"{sub}/{base}")
            return found
        finally:
            self.close()

    def close(self) -> None:
        for proc, out, err in self.scans:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
            err.close()
        self.scans = []


def _finished(status: int) -> bool:
    """Whether a scan ran to its end: grep's and atscan's 0 (found) or 1 (none). 2 is an error, and a
    negative status a signal (killed, out of memory): its output may stop anywhere, so it answers
    nothing (the caller reads the source itself or reports the failure)."""
    return status in (0, 1)


def _parts(folders: list[str]) -> int:
    """How many processes share the scan of the folders: one per core (two at most) when they hold
    thousands of files (a directory's size grows with its entries), else one."""
    try:
        size = sum(os.stat(folder).st_size for folder in folders)
    except OSError:
        return 1
    return max(1, min(2, os.cpu_count() or 1)) if size > (1 << 18) else 1
