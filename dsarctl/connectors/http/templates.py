"""Placeholders in a definition's requests: `{name}`, `{name|filter}`, `{{` and `}}` for braces."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable
from urllib.parse import quote

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][\w.\-]*)((?:\|[a-z][a-z0-9]*)*)\}")
FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "md5": lambda text: hashlib.md5(text.lower().encode("utf-8")).hexdigest(),  # Mailchimp's subscriber hash
    "quote": lambda text: re.sub(r"(['\"\\])", r"\\\1", text),  # inside a quoted search term (Stripe)
}
MASKED = "{masked}"  # a mask request's body: the masked fields as an object


def names(template: str) -> list[tuple[str, list[str]]]:
    """(name, filters) of each placeholder; ValueError for an unknown filter or a stray brace."""
    out = []
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError(f"a brace that is not a placeholder in {template!r} (write {{{{ or }}}} for a brace)")
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) is None:
            continue
        filters = [f for f in match.group(2).split("|") if f]
        for name in filters:
            if name not in FILTERS:
                raise ValueError(f"unknown filter '{name}' in {template!r} (filters: {', '.join(FILTERS)})")
        out.append((match.group(1), filters))
    return out


def render(template: str, lookup: Callable[[str], Any], *, segment: bool = False) -> str:
    """`template` with each placeholder replaced by `lookup(name)` (text) through its filters; `segment`:
    each value percent-encoded as one path segment."""

    def sub(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        value = lookup(match.group(1))
        text = "" if value is None else (value if isinstance(value, str) else _text(value))
        for name in (f for f in match.group(2).split("|") if f):
            text = FILTERS[name](text)
        return quote(text, safe="") if segment else text

    return _PLACEHOLDER.sub(sub, template)


def render_tree(node: Any, lookup: Callable[[str], Any]) -> Any:
    """Render every text value of a JSON-like tree (query, json and form bodies)."""
    if isinstance(node, dict):
        return {key: render_tree(value, lookup) for key, value in node.items()}
    if isinstance(node, list):
        return [render_tree(value, lookup) for value in node]
    if isinstance(node, str):
        return render(node, lookup)
    return node


def tree_names(node: Any) -> list[tuple[str, list[str]]]:
    if isinstance(node, dict):
        return [n for value in node.values() for n in tree_names(value)]
    if isinstance(node, list):
        return [n for value in node for n in tree_names(value)]
    if isinstance(node, str) and node != MASKED:
        return names(node)
    return []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path ("exact_matches.members", "data.0.id", "." the whole); None if absent."""
    if path in ("", "."):
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit():
            index = int(part)
            data = data[index] if -len(data) <= index < len(data) else None
        else:
            return None
        if data is None:
            return None
    return data
