"""Building small inventories for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEAD = """\
version: 1
controller:
  name: Test Ltd
  contact: privacy@test.example
  timezone: Europe/London
identities:
  email: {type: email}
  phone: {type: phone, region: GB}
  customer_id: {type: string, unique: true}
  order_id: {type: string}
systems:
"""


def write_inventory(folder: Path, systems: str) -> Path:
    """An inventory in `folder` with the test identity kinds and the given `systems:` body."""
    path = folder / "inventory.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(systems).strip("\n"), "  ") + "\n")
    return path


def load(folder: Path, systems: str):
    from dsarctl.inventory import load_inventory

    return load_inventory(write_inventory(folder, systems))


def find(inventory, *identifiers: str, **kwargs):
    from dsarctl.identity import parse_identifier
    from dsarctl.search import find_subject

    return find_subject(inventory, [parse_identifier(i, inventory.identities) for i in identifiers], **kwargs)


def records(result, system: str, collection: str | None = None):
    coll = result.systems[system].collections[collection or system]
    return coll.records
