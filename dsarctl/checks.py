"""`inventory check --connect`: reach every source and compare it with the inventory."""

from __future__ import annotations

from .connectors import Finding, close_quietly, failure, open_connector
from .errors import DsarError, ExitStatus, MismatchError
from .inventory.model import Collection, Inventory
from .sources import Erasable, Source


def check_sources(inventory: Inventory) -> list[Finding]:
    """Findings for every system: errors (unreachable, missing table/column/file), warnings (no index)."""
    findings: list[Finding] = []
    for system in inventory.systems.values():
        if system.is_manual:
            findings.append(Finding("info", system.name, f"manual: {system.processor or 'handled by hand'}"))
            continue
        try:
            source = open_connector(system, inventory)
        except Exception as exc:
            findings.append(Finding("error", system.name, failure(inventory, exc), inventory.where(system.key_path),
                                    _status(exc)))
            continue
        try:
            for collection in system.collections.values():
                findings.extend(check_collection(inventory, source, collection))
        finally:
            close_quietly(source)
    return findings


def check_collection(inventory: Inventory, source: Source, collection: Collection) -> list[Finding]:
    """The source's own findings for one collection, and the masks of its erase rule it cannot take.
    Whatever the source raises is one error finding: a missing table or column is bad input (exit 2),
    anything else a failed source (exit 3)."""
    system = collection.system.name
    try:
        findings = list(source.check(collection))
        if isinstance(source, Erasable):
            findings.extend(Finding("error", system, message, where, int(ExitStatus.BAD_INPUT))
                            for where, message in impossible_masks(inventory, source, collection))
        return findings
    except Exception as exc:
        message = inventory.redact(str(exc)) if isinstance(exc, OSError) else failure(inventory, exc)
        return [Finding("error", system, message, inventory.where(collection.key_path), _status(exc))]


def _status(exc: BaseException) -> int:
    if isinstance(exc, MismatchError):  # checking the inventory against the source: it names what is not there
        return int(ExitStatus.BAD_INPUT)
    if isinstance(exc, DsarError):
        return int(exc.exit_status)
    return int(ExitStatus.SOURCE_FAILED)


def impossible_masks(inventory: Inventory, source: Erasable, collection: Collection) -> list[tuple[str, str]]:
    """(inventory file:line, one line naming system.collection.field and why) for every field of the
    collection's erase rule the source cannot take (`Erasable.mask_problems`): what both `erase`
    (refusing at plan time) and `inventory check --connect` say."""
    rule = collection.erase
    if rule is None or not rule.fields:
        return []
    path = collection.key_path + ("erase",)
    if path not in inventory.lines:  # the system's erase rule, inherited
        path = collection.system.key_path + ("erase",)
    out = []
    for name, why in source.mask_problems(collection):
        where = inventory.where(path + ("fields", name))
        out.append((where, f"{where}: {collection.system.name}.{collection.name}.{name}: "
                           f"{rule.fields[name]} is impossible: {why}"))
    return out
