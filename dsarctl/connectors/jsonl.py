"""JSON Lines files: one JSON object per line; identity fields are dotted paths into it."""

from __future__ import annotations

import json
from typing import Iterator

from ..sources import EraseOutcome, Erasable, Finding, KeySpec, Source
from ..wording import plural
from .files import LineRecords, display_path, iter_lines, offload_edits
from .lines import LongLine, max_line_bytes, too_long


def _number(literal: str) -> float:
    """A JSON number with a fraction or an exponent: a float, which keeps its literal when it has more
    significant digits than a float holds (see `identity.ExactFloat`)."""
    mantissa = literal.partition("e")[0].partition("E")[0]
    if len(mantissa.lstrip("-+").replace(".", "").lstrip("0")) < 16:
        return float(literal)
    from ..identity import ExactFloat

    return ExactFloat(literal)


_DECODER = json.JSONDecoder(parse_float=_number)

_FILE_KEYS = {
    "path": KeySpec("path", "The .jsonl file, relative to the inventory."),
    "encoding": KeySpec("encoding", "Text encoding (default utf-8; also utf-8-sig, utf-16, utf-32 …)."),
}


class JsonlConnector(LineRecords, Source, Erasable):
    name = "jsonl"
    system_keys = _FILE_KEYS
    collection_keys = _FILE_KEYS
    local_files = True

    prefilter_extra = (b"\\",)  # JSON may spell any character as \uXXXX: such lines are always parsed
    # a number in exponent form (5.1e1, 510E-1) is compared as the integer or decimal it is (51): its
    # digits need not be the value's, in order
    prefilter_regex = (rb"[0-9][eE]",)

    prefilter_follows = b'":,['  # with white space, what a JSON string's or number's text comes after

    def objects(self, collection) -> Iterator[tuple[int, dict, str]]:
        """(line number, object, raw line) for every non-blank line."""
        where = display_path(collection.path, self.inventory)
        for lineno, text in iter_lines(collection.path, self.encoding(collection), where, self.fail):
            if text.strip():
                yield lineno, self._parse(text, where, lineno), text

    def _parse(self, text: str, where: str, lineno: int) -> dict:
        try:
            if text.startswith("\ufeff"):  # as json.loads says it
                raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
            obj = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            raise self.fail(f"{where}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise self.fail(f"{where}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        return obj

    def entries(self, collection):
        for lineno, obj, text in self.objects(collection):
            yield lineno, lineno, obj, text

    def candidate_entries(self, collection, job):
        where = display_path(collection.path, self.inventory)
        for lineno, _offset, text in self.candidates(collection, job):
            if text.strip():
                yield lineno, lineno, self._parse(text, where, lineno), text

    # -- erase ---------------------------------------------------------------------------------------
    def erase(self, collection, targets, context) -> EraseOutcome:
        """Drop or mask the target lines (found by content hash); every other line is copied byte for
        byte. A file with a line that does not parse is not rewritten (the error names the line)."""
        from functools import partial

        from ..filelock import locked, rewrite_lines

        with locked(collection.path):
            edits, outcome = offload_edits(self._edits, collection, targets, context.masker)
            if edits:
                outcome.sha256 = rewrite_lines(collection.path, edits, context.checkpoint,
                                               newline=self.line_format(collection).newline,
                                               renaming=partial(context.replacing, collection),
                                               renamed=partial(context.replaced, collection))
        return outcome

    def _edits(self, collection, targets, masker) -> tuple[dict[int, tuple[int, bytes]], EraseOutcome]:
        """What `erase` changes: {line number: (lines replaced, new bytes)}, and the counts. Reads the
        file and computes only (it may run in a child process: see files.offload_edits). Every line is
        parsed, except one longer than `lines.max_line_bytes()`: it is hashed as it streams by (a
        search never returns such a line, so it is someone else's record and is copied as it is)."""
        from ..filelock import text_digest

        by_digest = {t.digest: t for t in targets}
        outcome = EraseOutcome()
        edits: dict[int, tuple[int, bytes]] = {}
        hit: set[str] = set()
        fmt = self.line_format(collection)
        where = display_path(collection.path, self.inventory)
        for lineno, text in iter_lines(collection.path, self.encoding(collection), where, self.fail, long_lines=True):
            if isinstance(text, LongLine):
                target = by_digest.get(text.digest(lineno == 1, where, lineno, self.fail))
                if target is not None and target.action != "delete":
                    raise self.fail(too_long(where, lineno, max_line_bytes()))
            elif not text.strip():
                continue
            else:
                obj = self._parse(text, where, lineno)
                target = by_digest.get(text_digest(text))
            if target is None:
                continue
            hit.add(target.digest)
            if target.action == "delete":
                edits[lineno] = (1, fmt.encode("", lineno == 1))  # the file's byte order mark stays
                outcome.deleted += 1
                continue
            masked = masker.mask(obj, target.fields)
            if masked == obj:
                outcome.unchanged += 1
                continue
            edits[lineno] = (1, self._line(masked, text, fmt, lineno == 1))
            outcome.masked += 1
        outcome.missing = len(set(by_digest) - hit)
        return edits, outcome

    @staticmethod
    def _line(obj: dict, text: str, fmt, first: bool) -> bytes:
        """A masked record as its line: compact when the line was; a string the encoding cannot hold
        (a lone surrogate, from a JSON "\\udc80" escape) written as the escape it came from."""
        from ..filelock import line_ending

        compact = '": ' not in text and '", ' not in text
        separators = (",", ":") if compact else None
        try:
            return fmt.encode(json.dumps(obj, ensure_ascii=False, separators=separators) + line_ending(text), first)
        except UnicodeEncodeError:
            return fmt.encode(json.dumps(obj, ensure_ascii=True, separators=separators) + line_ending(text), first)

    def check(self, collection) -> list[Finding]:
        count = sum(1 for _ in self.objects(collection))
        return [Finding("info", self.system.name, f"{display_path(collection.path, self.inventory)}: {plural(count, 'record')}")]
