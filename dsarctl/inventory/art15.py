"""The Art. 15 information of the inventory: reading the keys that hold it, and saying what is missing.

An access package must tell the subject, for each system, the purposes (Art. 15(1)(a)), the categories of
data (b), the recipients (c), how long data is kept (d), where it came from (g), any automated
decision-making with its logic, significance and consequences (h), and transfers outside the UK/EEA with
their safeguards (Art. 15(2)); rights and the authority to complain to ((e), (f)) come from the regime.
The lawful basis is checked too: the package states it for every system.

`automated_decisions` and `transfers` may be written on the controller (for every system) and on a
system (replacing the controller's for that system). `none` (or `[]`, `false`) is an answer: there are
none. A key left out is not an answer: `inventory check` warns and `export` marks the package incomplete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..sources import Finding
    from .model import Inventory, System

# system-level keys, in the order of Art. 15(1), with what each answers
ITEMS = {
    "purposes": "Art. 15(1)(a)",
    "lawful_basis": "stated in the package",
    "recipients": "Art. 15(1)(c); [] for no one",
    "retention": "Art. 15(1)(d)",
    "source": "Art. 15(1)(g)",
    "automated_decisions": "Art. 15(1)(h); 'none' if none",
    "transfers": "Art. 15(2); 'none' if none",
}
CATEGORIES = "Art. 15(1)(b)"

DECISION_KEYS = {"name": False, "logic": True, "significance": True, "consequences": True}
TRANSFER_KEYS = {"country": True, "safeguard": True, "recipient": False}
_NONE = ("none", "no", "false")

# a loader error: (key path, message) -> InventoryError
Fail = Callable[[tuple, str], Exception]


def read_decisions(raw: Any, kp: tuple, fail: Fail) -> list[dict[str, str]]:
    """`automated_decisions`: none, or one or a list of {name?, logic, significance, consequences}."""
    return _entries(raw, kp, fail, DECISION_KEYS, "automated_decisions",
                    "{logic: ..., significance: ..., consequences: ...}")


def read_transfers(raw: Any, kp: tuple, fail: Fail) -> list[dict[str, str]]:
    """`transfers`: none, or one or a list of {country, safeguard, recipient?}."""
    return _entries(raw, kp, fail, TRANSFER_KEYS, "transfers", "{country: US, safeguard: UK IDTA}")


def _entries(raw: Any, kp: tuple, fail: Fail, keys: dict[str, bool], what: str, example: str) -> list[dict]:
    if raw is False or raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE):
        return []
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise fail(kp, f"{what} must be 'none' or a list of {example}")
    out = []
    for i, item in enumerate(items):
        ikp = kp + ((i,) if isinstance(raw, list) else ())
        if not isinstance(item, dict):
            raise fail(ikp, f"each entry of {what} must be a mapping like {example}")
        for key in item:
            if key not in keys:
                raise fail(ikp + (key,), f"unknown key '{key}' in {what} (allowed: {', '.join(keys)})")
        entry = {}
        for key, required in keys.items():
            value = item.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                if required:
                    raise fail(ikp, f"an entry of {what} needs '{key}:' ({example})")
                continue
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise fail(ikp + (key,), f"expected text, got {type(value).__name__}")
            entry[key] = str(value).strip()
        out.append(entry)
    return out


def instructions(raw: Any, kp: tuple, fail: Fail, request_types: tuple[str, ...]) -> dict[str, str]:
    """A manual system's `instructions`: one text for every request type (kept under "default"), or a
    mapping request type -> text, with an optional `default` for the types it does not name."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            raise fail(kp, "must not be empty")
        return {"default": raw.strip()}
    if not isinstance(raw, dict):
        raise fail(kp, "instructions must be a text, or a mapping of request type -> text "
                       "({access: ..., erasure: ...})")
    allowed = (*request_types, "default")
    out = {}
    for key, text in raw.items():
        if key not in allowed:
            raise fail(kp + (key,), f"unknown request type '{key}' in instructions (one of: {', '.join(allowed)})")
        if not isinstance(text, str) or not text.strip():
            raise fail(kp + (key,), "expected the instruction as text")
        out[key] = text.strip()
    return out


# --- what is missing --------------------------------------------------------------------------------------


def missing(system: "System") -> list[str]:
    """The Art. 15 keys not recorded for `system` (system-level keys, then `COLL.categories`)."""
    out = [key for key in ITEMS if key not in system.declared]
    for coll in system.collections.values():
        if not coll.categories:
            out.append(f"{coll.name}.categories" if coll.name != system.name else "categories")
    return out


def incomplete(inventory: "Inventory", systems: list[str] | None = None) -> list[str]:
    """`SYSTEM.KEY` (or `SYSTEM.COLLECTION.categories`) for every Art. 15 item not recorded."""
    names = systems if systems is not None else list(inventory.systems)
    return [f"{name}.{key}" for name in names for key in missing(inventory.systems[name])]


def unanswered_types(system: "System") -> list[str]:
    """The request types a manual system (a processor) is asked about — access by an export, erasure by an
    erase — that its `instructions` give no text for (neither the type nor `default`)."""
    from ..runs import RUN_REQUEST_TYPES

    if not system.is_manual:
        return []
    return [t for t in dict.fromkeys(RUN_REQUEST_TYPES.values()) if system.instruction_for(t) is None]


def findings(inventory: "Inventory") -> list["Finding"]:
    """`inventory check` warnings: one per missing item, one per collection naming the fields the
    inventory mentions (identity, erase, created fields) that `categories:` does not describe, and one per
    request type a processor is asked about without an instruction for it."""
    from ..sources import Finding

    out = []
    for system in inventory.systems.values():
        for key in missing(system):
            coll_name, _, leaf = key.rpartition(".")
            coll = system.collections.get(coll_name or system.name) if leaf == "categories" else None
            kp = coll.key_path if coll else system.key_path
            what = CATEGORIES if leaf == "categories" else ITEMS[key]
            owner = f"{system.name}.{coll_name}" if coll_name else system.name
            out.append(Finding("warning", owner, f"no '{leaf}' ({what})", inventory.where(kp)))
        for coll in system.collections.values():
            loose = uncategorised(coll)
            if loose:
                owner = system.name if coll.name == system.name else f"{system.name}.{coll.name}"
                out.append(Finding("warning", owner, "fields without a category: " + ", ".join(loose),
                                   inventory.where(coll.key_path + ("categories",))))
        for type_ in unanswered_types(system):
            out.append(Finding("warning", system.name, f"no instruction for {type_} (instructions: {{{type_}: ...}} "
                                                       f"or default): its {type_} tasks would not say what to do",
                               inventory.where(system.key_path)))
    return out


def uncategorised(coll) -> list[str]:
    """Fields the inventory names for `coll` that its field -> category mapping leaves out (none when it
    lists categories for the whole collection, or has none: that is reported as missing)."""
    if not coll.categories or all(field == label for field, label in coll.categories.items()):
        return []
    named = [f for fields in coll.identities.values() for f in fields]
    if coll.erase is not None:
        named += list(coll.erase.fields)
    if coll.created:
        named.append(coll.created)
    return [f for f in dict.fromkeys(named) if f not in coll.categories]
