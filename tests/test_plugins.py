"""Third-party connectors join the same registry as the built-ins, through the entry-point group."""

from __future__ import annotations

import sys
import types

import pytest

from dsarctl.connectors import Connector, KeySpec, Record, registry
from helpers import find, load


class FakeCrm(Connector):
    name = "fakecrm"
    description = "an in-memory CRM for tests"
    system_keys = {"tenant": KeySpec("str", "tenant id", required=True)}
    implicit_collection = True

    ROWS = [{"id": 1, "mail": "alice@example.com"}, {"id": 2, "mail": "bob@example.net"}]

    def locate(self, collection, wanted):
        for row in self.ROWS:
            if row["mail"] in wanted.get("email", ()):
                yield Record(self.system.name, collection.name, row["id"], row, {"email": {row["mail"]}},
                             {("email", row["mail"])})


@pytest.fixture
def plugin_module(monkeypatch):
    module = types.ModuleType("dsarctl_fake_plugin")
    module.FakeCrm = FakeCrm
    monkeypatch.setitem(sys.modules, "dsarctl_fake_plugin", module)
    monkeypatch.setattr(registry, "_plugins", {"fakecrm": "dsarctl_fake_plugin:FakeCrm",
                                               "broken": "dsarctl_no_such_module:Nope"})
    yield
    registry.unregister("fakecrm")


def test_plugin_connector_through_the_entry_point_group(tmp_path, plugin_module):
    assert "fakecrm" in registry.names()
    inv = load(tmp_path, """
crm:
  connector: fakecrm
  tenant: t1
  identities: {email: mail}
""")
    assert inv.systems["crm"].options == {"tenant": "t1"}
    result = find(inv, "alice@example.com")
    assert [r.key for r in result.records()] == [1]


def test_plugin_keys_are_validated(tmp_path, plugin_module):
    from dsarctl.errors import InventoryError

    with pytest.raises(InventoryError, match="did you mean 'tenant'"):
        load(tmp_path, """
crm:
  connector: fakecrm
  tenent: t1
  identities: {email: mail}
""")


def test_broken_plugin_warns_instead_of_crashing(tmp_path, plugin_module):
    from dsarctl.errors import InventoryError

    with pytest.warns(UserWarning, match="connector plugin 'broken'"):
        with pytest.raises(InventoryError, match="unknown connector 'broken'"):
            load(tmp_path, """
crm:
  connector: broken
  identities: {email: mail}
""")


def test_builtins_are_declared_in_the_entry_point_group_too():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the table's `name = "module:Class"` lines, read as written
        table = text.split('[project.entry-points."dsarctl.connectors"]\n', 1)[1].split("\n[", 1)[0]
        declared = {}
        for line in table.splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                declared[name.strip()] = value.strip().strip('"')
    else:
        declared = tomllib.loads(text)["project"]["entry-points"]["dsarctl.connectors"]
    assert declared == registry.BUILTIN
