"""KeySpec: one inventory key, its type and its help. Its own module so that reading the inventory's
settings (the morning `overdue`) does not import the connector machinery."""

from __future__ import annotations

from typing import NamedTuple


class KeySpec(NamedTuple):
    """An inventory key a connector (or the inventory itself) accepts."""

    type: str  # str | path | bool | int | strlist | emails | secret (never shown: a password) | ...
    doc: str
    required: bool = False
    choices: tuple[str, ...] = ()  # the values a str key accepts (empty: any text)
