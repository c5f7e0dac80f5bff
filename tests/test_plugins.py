"""Third-party sources join the same registry as the built-ins, through the versioned entry-point group
(`dsarctl.sources.v2`), and are held to the contract of `dsarctl.sources`: an erase rule on a source that
cannot erase is refused when the inventory loads, and whatever a plugin raises fails its system only."""

from __future__ import annotations

import json
import sys
import types

import pytest

from dsarctl.connectors import registry
from dsarctl.connectors.base import Connector
from dsarctl.sources import EraseOutcome, Erasable, KeySpec, Record, Source
from helpers import find, load, write_inventory

ROWS = [{"id": 1, "mail": "alice@example.com"}, {"id": 2, "mail": "bob@example.net"}]


class FakeCrm(Source):
    """An in-memory CRM a plugin author would write first: locate and check, nothing to erase with."""

    name = "fakecrm"
    system_keys = {"tenant": KeySpec("str", "tenant id", required=True)}

    def locate(self, collection, wanted, *, lookup_only=False):
        for row in ROWS:
            if row["mail"] in wanted.get("email", ()):
                yield Record(self.system.name, collection.name, row["id"], dict(row), {"email": {row["mail"]}},
                             {("email", row["mail"])}, f"row {row['id']}")

    def check(self, collection):
        return []


class BuggyErase(FakeCrm, Erasable):
    """Erasable, but its erase has a bug."""

    name = "buggycrm"

    def scan(self, collection):
        return self.locate(collection, {"email": frozenset(r["mail"] for r in ROWS)})

    def erase(self, collection, targets, context):
        return {}["boom"]  # KeyError: 'boom'


class BuggyLocate(FakeCrm):
    name = "buggylocate"

    def locate(self, collection, wanted, *, lookup_only=False):
        raise NotImplementedError("locate is not written yet")


class BuggyExport(FakeCrm):
    name = "buggyexport"

    def export_files(self, collection, records):
        raise ValueError("no attachments today")


class NoOutcome(FakeCrm, Erasable):
    """Its erase does the work and forgets `return outcome`."""

    name = "nooutcome"

    def erase(self, collection, targets, context):
        EraseOutcome(deleted=len(targets))


class DictLocate(FakeCrm):
    """Its locate yields the rows themselves, not Records."""

    name = "dictlocate"

    def locate(self, collection, wanted, *, lookup_only=False):
        yield from (dict(row) for row in ROWS if row["mail"] in wanted.get("email", ()))


class ListRead(FakeCrm, Erasable):
    """Masks, then reads the records back as a list instead of key -> data."""

    name = "listread"

    def erase(self, collection, targets, context):
        return EraseOutcome(masked=len(targets))

    def read_records(self, collection, keys):
        return [dict(row) for row in ROWS if row["id"] in keys]


class OldCrm(Connector):
    """A plugin of version 1: `locate` without `lookup_only`, `check_collection`."""

    name = "oldcrm"

    def locate(self, collection, wanted):
        return FakeCrm.locate(self, collection, wanted)

    def check_collection(self, collection):
        return []


class NotASource:
    name = "notasource"


PLUGINS = [FakeCrm, BuggyErase, BuggyLocate, BuggyExport, NotASource, NoOutcome, DictLocate, ListRead]


@pytest.fixture
def plugin_module(monkeypatch):
    """The plugins as an installed package would register them: entry points naming module:Class."""
    module = types.ModuleType("dsarctl_fake_plugin")
    for cls in PLUGINS + [OldCrm]:
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "dsarctl_fake_plugin", module)
    targets = {cls.name: f"dsarctl_fake_plugin:{cls.__name__}" for cls in PLUGINS}
    targets["broken"] = "dsarctl_no_such_module:Nope"
    monkeypatch.setattr(registry, "_plugins", targets)
    monkeypatch.setattr(registry, "_v1_plugins", {"oldcrm": "dsarctl_fake_plugin:OldCrm"})
    yield
    for name in [cls.name for cls in PLUGINS] + ["oldcrm"]:
        registry.unregister(name)


def test_plugin_source_through_the_entry_point_group(tmp_path, plugin_module):
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


def test_a_plugin_that_declares_url_and_path_reads_them_in_its_options(tmp_path, plugin_module):
    """`url` and `path` are keys the core reads too (SQL, files), but a plugin that declares them finds
    them in `collection.options`, as the contract says of every declared key."""

    class Located(FakeCrm):
        name = "locatedcrm"
        system_keys = {"url": KeySpec("url", "the CRM's address"), "path": KeySpec("path", "an export folder")}

    registry.register(Located)
    try:
        inv = load(tmp_path, """
crm:
  connector: locatedcrm
  url: https://crm.example/api
  path: exports
  identities: {email: mail}
""")
        options = inv.systems["crm"].collections["crm"].options
        assert options["url"] == "https://crm.example/api"
        assert options["path"] == tmp_path / "exports"
    finally:
        registry.unregister("locatedcrm")


def test_plugin_keys_are_validated(tmp_path, plugin_module):
    from dsarctl.errors import InventoryError

    with pytest.raises(InventoryError, match="did you mean 'tenant'"):
        load(tmp_path, """
crm:
  connector: fakecrm
  tenent: t1
  identities: {email: mail}
""")


def test_a_plugin_that_fails_to_import_is_named_in_one_line(tmp_path, plugin_module, cli):
    """Not a Python warning with loader.py's path, nor "unknown connector 'broken'; did you mean
    'broken'?": one line at the inventory's line, naming the entry point and the import error, exit 2."""
    import warnings

    inv = write_inventory(tmp_path, """
crm:
  connector: broken
  identities: {email: mail}
""")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("dsarctl: error: inventory.yaml:") and "systems.crm.connector" in lines[0], r.err
    assert ("connector 'broken' is installed but cannot be used: its entry point (dsarctl.sources.v2: broken = "
            "dsarctl_no_such_module:Nope) failed to load: ModuleNotFoundError: No module named "
            "'dsarctl_no_such_module'") in lines[0], r.err
    assert "did you mean" not in r.err and "Warning" not in r.err and "loader.py" not in r.err


def test_a_class_that_is_not_a_source_is_not_loaded(tmp_path, plugin_module):
    from dsarctl.errors import InventoryError

    with pytest.raises(InventoryError, match="connector 'notasource' is installed but cannot be used: its entry "
                                             r"point \(dsarctl.sources.v2: notasource = dsarctl_fake_plugin:"
                                             r"NotASource\) is not a dsarctl.sources.Source"):
        load(tmp_path, """
crm:
  connector: notasource
  identities: {email: mail}
""")


def test_a_version_1_plugin_still_searches_with_a_warning_but_cannot_erase(tmp_path, plugin_module):
    from dsarctl.errors import InventoryError

    with pytest.warns(FutureWarning, match="version 1 group 'dsarctl.connectors'.*cannot erase"):
        inv = load(tmp_path, """
crm:
  connector: oldcrm
  identities: {email: mail}
""")
    assert [r.key for r in find(inv, "bob@example.net").records()] == [2]
    assert [r.key for r in find(inv, "bob@example.net", contents=False).records()] == [2]
    with pytest.raises(InventoryError, match=r"inventory.yaml:\d+: systems.crm.erase: system 'crm' cannot erase"):
        load(tmp_path, """
crm:
  connector: oldcrm
  identities: {email: mail}
  erase: delete
""")


def test_builtins_are_declared_in_the_entry_point_group_too():
    from pathlib import Path

    from dsarctl.sources import ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP == "dsarctl.sources.v2"
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the table's `name = "module:Class"` lines, read as written
        table = text.split(f'[project.entry-points."{ENTRY_POINT_GROUP}"]\n', 1)[1].split("\n[", 1)[0]
        declared = {}
        for line in table.splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                declared[name.strip()] = value.strip().strip('"')
    else:
        declared = tomllib.loads(text)["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == registry.BUILTIN


def test_the_core_asks_capabilities_not_names():
    from dsarctl.connectors import get

    erasable = {name for name in registry.BUILTIN if issubclass(get(name), Erasable)}
    assert erasable == {"sql", "csv", "jsonl", "mbox", "maildir", "imap", "http"}
    assert [name for name in registry.BUILTIN if get(name).manual] == ["manual"]
    assert {name for name in registry.BUILTIN if get(name).local_files} == {"csv", "jsonl", "mbox", "maildir"}
    assert {name for name in registry.BUILTIN if get(name).mailbox} == {"mbox", "maildir", "imap"}


# -- the contract's promises, tried as a plugin author would -------------------------------------------------

def _company(tmp_path, connector: str, erase: str = "erase: delete") -> str:
    """A CSV newsletter the built-ins erase, and a CRM of the plugin's."""
    (tmp_path / "people.csv").write_text("email,name\nalice@example.com,Alice\nbob@example.net,Bob\n"
                                         "carol@example.org,Carol\n")
    return str(write_inventory(tmp_path, f"""
newsletter:
  connector: csv
  path: people.csv
  identities: {{email: email}}
  erase: delete
crm:
  connector: {connector}
  tenant: t1
  identities: {{email: mail}}
  {erase}
"""))


def test_an_erase_rule_on_a_source_that_cannot_erase_is_refused_at_load(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "fakecrm")
    line = [i for i, text in enumerate(open(inv), 1) if text.strip() == "erase: delete"][-1]  # the CRM's
    for args in (["inventory", "check"], ["erase", "alice@example.com", "--yes"], ["find", "alice@example.com"]):
        r = cli("-i", inv, *args)
        assert r.code == 2, r
        assert r.err.strip() == (f"dsarctl: error: inventory.yaml:{line}: systems.crm.erase: system 'crm' cannot erase: its "
                                 "connector 'fakecrm' has no erase capability, so the rule's action 'delete' would "
                                 "never be carried out (remove the rule, or keep the records with 'action: retain', "
                                 "a 'reason:' and no 'fields:')"), r
    assert not (tmp_path / ".dsarctl" / "journal").exists()


@pytest.mark.parametrize("rule, refused", [
    ("erase: {action: anonymize, fields: {mail: redact}}", True),
    ("erase: {action: retain, reason: kept for the tax office, fields: {mail: hash}}", True),
    ("erase: {action: retain, reason: kept for the tax office}", False),  # changes nothing: any source
])
def test_only_rules_that_change_records_need_the_erase_capability(tmp_path, plugin_module, cli, rule, refused):
    inv = _company(tmp_path, "fakecrm", rule)
    r = cli("-i", inv, "inventory", "check")
    assert (r.code, "cannot erase" in r.err) == ((2, True) if refused else (0, False)), r
    if not refused:
        r = cli("-i", inv, "erase", "alice@example.com", "--yes", "--json")
        assert r.code == 0, r
        crm = next(c for c in r.json()["plan"]["collections"] if c["system"] == "crm")
        assert crm["action"] == "retain" and crm["count"] == 1


def test_a_system_erase_rule_inherited_by_its_collections_is_refused_at_its_own_line(tmp_path, plugin_module, cli):
    inv = write_inventory(tmp_path, """
crm:
  connector: fakecrm
  tenant: t1
  erase: delete
  collections:
    customers: {identities: {email: mail}}
""")
    r = cli("-i", str(inv), "inventory", "check")
    assert r.code == 2 and "inventory.yaml:15: systems.crm.erase: system 'crm' cannot erase" in r.err, r


def _erasures(tmp_path) -> list[dict]:
    from dsarctl.audit import AuditLog

    with AuditLog.open(tmp_path / ".dsarctl" / "audit.db") as audit:
        return [e["data"] for e in audit.events() if e["kind"] == "erasure.recorded"]


def test_a_plugin_bug_in_erase_fails_its_system_only_and_blocks_no_later_erase(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "buggycrm")
    r = cli("-i", inv, "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert "failed: crm: KeyError: 'boom'" in r.err.splitlines(), r
    [crm] = [u for u in r.json()["run"]["units"] if u["system"] == "crm"]
    assert crm == {"system": "crm", "status": "failed", "collections": {}, "error": "KeyError: 'boom'"}
    # the other system was erased, and the audit log records the erasure of that system alone
    assert (tmp_path / "people.csv").read_text() == "email,name\nbob@example.net,Bob\ncarol@example.org,Carol\n"
    [recorded] = _erasures(tmp_path)
    assert list(recorded["plan"]["erased"]) == ["newsletter"]
    # the next erase, of someone the plugin does not hold, retries the failed unit, says so, does its own
    # subject's work, and exits 3: a source (of the run it finished first) still fails
    r = cli("-i", inv, "erase", "carol@example.org", "--yes", "--json")
    assert r.code == 3, r
    assert "(1 source still failing)" in r.err
    [line] = [x for x in r.err.splitlines() if x.startswith("failed: ")]
    assert line.startswith("failed: crm: KeyError: 'boom' (interrupted erase run ") and "still pending" in line, r
    assert r.json()["status"] == "ok" and r.json()["problems"] == [], r  # Carol's own erase: done
    assert r.json()["resumed_problems"] == [line[len("failed: "):]], r
    assert (tmp_path / "people.csv").read_text() == "email,name\nbob@example.net,Bob\n"
    assert [list(e["plan"]["erased"]) for e in _erasures(tmp_path)] == [["newsletter"], ["newsletter"]]


def test_an_erasure_that_did_not_happen_is_not_recorded(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "buggycrm")
    (tmp_path / "people.csv").write_text("email,name\nbob@example.net,Bob\n")  # Alice is in the CRM only
    r = cli("-i", inv, "erase", "alice@example.com", "--yes")
    assert r.code == 3 and "failed: crm: KeyError: 'boom'" in r.err, r
    assert _erasures(tmp_path) == []
    journal = list((tmp_path / ".dsarctl" / "journal").glob("*.jsonl"))
    assert len(journal) == 1 and '"recorded"' not in journal[0].read_text()


def test_a_plugin_bug_in_locate_fails_its_collection(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "buggylocate", "")
    r = cli("-i", inv, "find", "alice@example.com", "--json")
    assert r.code == 3, r
    assert r.json()["failures"] == [{"system": "crm", "collection": "crm",
                                     "error": "NotImplementedError: locate is not written yet"}]
    newsletter = next(s for s in r.json()["systems"] if s["system"] == "newsletter")
    assert newsletter["count"] == 1
    r = cli("-i", inv, "erase", "alice@example.com", "--yes")
    assert r.code == 3 and "crm.crm: NotImplementedError: locate is not written yet" in r.err, r


def test_an_erase_that_returns_no_outcome_fails_its_system_in_one_line(tmp_path, plugin_module, cli):
    """Issue 19: a plugin's bug fails its system (exit 3), never dsarctl (exit 70): what `erase` returns
    is checked where the core takes it."""
    inv = _company(tmp_path, "nooutcome")
    r = cli("-i", inv, "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert "failed: crm: NoOutcome.erase returned None, not an EraseOutcome (collection 'crm')" in r.err.splitlines(), r
    assert "internal error" not in r.err and "Traceback" not in r.err, r
    [crm] = [u for u in r.json()["run"]["units"] if u["system"] == "crm"]
    assert crm["status"] == "failed", crm
    assert (tmp_path / "people.csv").read_text() == "email,name\nbob@example.net,Bob\ncarol@example.org,Carol\n"


def test_a_locate_that_yields_no_records_fails_its_collection_in_one_line(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "dictlocate", "")
    r = cli("-i", inv, "find", "alice@example.com", "--json")
    assert r.code == 3, r
    assert r.json()["failures"] == [{"system": "crm", "collection": "crm",
                                     "error": "DictLocate.locate yielded a dict, not a Record"}], r
    assert next(s for s in r.json()["systems"] if s["system"] == "newsletter")["count"] == 1
    assert "alice" not in r.json()["failures"][0]["error"]  # what it yielded by its type only


def test_a_read_records_that_returns_no_dict_fails_the_check_of_its_collection(tmp_path, plugin_module, cli):
    inv = _company(tmp_path, "listread", "erase: {action: anonymize, fields: {mail: redact}}")
    r = cli("-i", inv, "erase", "alice@example.com", "--yes", "--json")
    assert r.code == 3, r
    assert "ListRead.read_records returned a list, not a dict (key -> data) or None" in r.err, r
    assert "internal error" not in r.err, r


def test_a_plugin_bug_in_export_fails_its_collection(tmp_path, plugin_module, cli):
    import zipfile

    inv = _company(tmp_path, "buggyexport", "")
    out = tmp_path / "alice.zip"
    r = cli("-i", inv, "export", "alice@example.com", "-o", str(out))
    assert r.code == 3, r
    assert "ValueError: no attachments today" in r.err, r
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    crm = next(s for s in manifest["systems"] if s["system"] == "crm")
    assert crm["status"] == "failed"
    assert crm["collections"][0]["error"] == "while exporting files: ValueError: no attachments today"


def test_check_reports_a_plugin_bug_as_a_failed_source(tmp_path, plugin_module, cli, monkeypatch):
    inv = _company(tmp_path, "fakecrm", "")
    monkeypatch.setattr(FakeCrm, "check", lambda self, collection: [][1])
    r = cli("-i", inv, "inventory", "check", "--connect", "--json")
    assert r.code == 3, r
    assert "IndexError: list index out of range" in r.out, r


def test_the_erase_context_is_the_only_channel_of_erase_state(tmp_path, plugin_module):
    """An Erasable written against the contract alone: its outcome and the context's calls are all the core
    sees; `erase_system` by default erases one collection after the other."""
    from dsarctl.erase.mask import Masker
    from dsarctl.sources import EraseContext, EraseTarget

    calls = []

    class Recording(FakeCrm, Erasable):
        name = "recording"

        def erase(self, collection, targets, context):
            context.checkpoint("recording.before")
            calls.append(("erase", collection.name, [t.key for t in targets], context.masker.mask({"a": "x"}, {"a": "null"})))
            return EraseOutcome(deleted=len(targets))

    inv = load(tmp_path, """
crm:
  connector: fakecrm
  tenant: t1
  collections:
    a: {identities: {email: mail}}
    b: {identities: {email: mail}}
""")
    source = Recording(inv.systems["crm"], inv)
    context = EraseContext(Masker(b"k" * 32), calls.append)
    work = [(coll, [EraseTarget(1, None, "delete")]) for coll in inv.systems["crm"].collections.values()]
    outcomes = source.erase_system(work, context)
    assert {name: o.deleted for name, o in outcomes.items()} == {"a": 1, "b": 1}
    assert calls == ["recording.before", ("erase", "a", [1], {"a": None}),
                     "recording.before", ("erase", "b", [1], {"a": None})]


def test_debug_shows_the_traceback_of_a_plugin_bug(tmp_path, plugin_module, cli, monkeypatch):
    inv = _company(tmp_path, "buggylocate", "")
    r = cli("-i", inv, "find", "alice@example.com")
    assert r.code == 3 and "Traceback" not in r.err, r
    monkeypatch.setenv("DSARCTL_DEBUG", "1")
    r = cli("-i", inv, "find", "alice@example.com")
    assert r.code == 3 and "Traceback (most recent call last)" in r.err and "in locate" in r.err, r
