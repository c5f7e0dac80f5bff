"""Words in output: counted nouns ("1 day", "2 days", never "1 days" or "day(s)"), and what a task says
when it has no instruction."""

from __future__ import annotations


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`count` and the noun that agrees with it: plural(1, "day") is "1 day", plural(3, "entry", "entries")
    "3 entries"; the plural is `singular` + "s" unless `many` is given."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def no_instruction(request_type: str | None) -> str:
    """What a processor's task says when the inventory gives no instruction for its request type."""
    return f"no instruction for {request_type} in the inventory" if request_type else "no instruction in the inventory"
