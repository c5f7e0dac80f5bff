"""Counted nouns in output: "1 day", "2 days", never "1 days" or "day(s)"."""

from __future__ import annotations


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`count` and the noun that agrees with it: plural(1, "day") is "1 day", plural(3, "entry", "entries")
    "3 entries"; the plural is `singular` + "s" unless `many` is given."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"
