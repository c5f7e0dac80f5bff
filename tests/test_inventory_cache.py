"""The parsed-inventory cache and the settings-only load (issue 6: `overdue` start-up).

The cache keeps the parsed YAML tree (before `${VAR}` expansion) with the file's bytes and is used only
for the very same bytes; `load_settings` validates the settings as `load_inventory` does and reads
nothing of the systems.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsarctl.errors import InventoryError
from dsarctl.inventory import cache, load_inventory, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DSARCTL_CACHE_DIR", str(folder))
    return folder / "inventory"


@pytest.fixture
def inventory_file(tmp_path) -> Path:
    path = tmp_path / "inventory.yaml"
    shutil.copy(ROOT / "inventory.yaml", path)
    return path


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.marshal")) if folder.exists() else []


def test_a_second_load_reads_the_cache_and_gives_the_same_inventory(cache_dir, inventory_file):
    first = load_inventory(inventory_file)
    [entry] = entries(cache_dir)
    assert oct(entry.stat().st_mode & 0o777) == oct(0o600) and oct(cache_dir.stat().st_mode & 0o777) == oct(0o700)
    # the entry holds the file's exact bytes: a tree is only used for the very same file
    kept, tree, lines = marshal.loads(entry.read_bytes())
    assert kept == inventory_file.read_bytes() and tree["version"] == 1 and lines[("systems",)] > 1
    second = load_inventory(inventory_file)
    assert shape(second) == shape(first)  # systems, collections, rules, line numbers, sha256: all equal


def shape(inventory) -> tuple:
    """Everything a load decides, without the collection <-> system cycle."""
    systems = {
        name: (s.connector, s.url, s.path, s.options, s.purposes, s.identity_kinds, s.key_path,
               {c.name: (c.identities, c.categories, c.erase, c.suppress, c.expand, c.table, c.schema, c.key, c.path,
                         c.options, c.key_path) for c in s.collections.values()})
        for name, s in inventory.systems.items()}
    return (inventory.sha256, inventory.controller, inventory.audit_path, inventory.identities, inventory.lines,
            inventory.custom_regime, systems)


def test_a_warm_cache_spares_the_yaml_parser(cache_dir, inventory_file):
    load_inventory(inventory_file)
    code = ("import sys; from dsarctl.inventory import load_inventory; "
            f"load_inventory({str(inventory_file)!r}); print('ruamel' in {{m.split('.')[0] for m in sys.modules}})")
    env = {**os.environ, "DSARCTL_CACHE_DIR": str(cache_dir.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "False"
    env["DSARCTL_CACHE_DIR"] = "off"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "True"


def test_an_edited_inventory_is_parsed_again(cache_dir, inventory_file):
    assert load_inventory(inventory_file).controller.timezone == "Europe/London"
    text = inventory_file.read_text()
    inventory_file.write_text(text.replace("timezone: Europe/London", "timezone: Europe/Paris  "))
    assert load_inventory(inventory_file).controller.timezone == "Europe/Paris"
    assert len(entries(cache_dir)) == 2
    # an edit that keeps the length and even the CRC-32 would still differ in bytes: the bytes are compared
    raw = inventory_file.read_bytes()
    [entry] = [e for e in entries(cache_dir) if marshal.loads(e.read_bytes())[0] == raw]
    kept, tree, lines = marshal.loads(entry.read_bytes())
    tree["controller"]["timezone"] = "Asia/Tokyo"
    entry.write_bytes(marshal.dumps((raw[:-1] + b"#", tree, lines)))  # an entry for other bytes, same name
    assert load_inventory(inventory_file).controller.timezone == "Europe/Paris"


def write_sql_inventory(path: Path, url: str) -> None:
    path.write_text(
        "version: 1\n"
        "controller: {name: Acme, contact: privacy@acme.example}\n"
        "identities: {email: email}\n"
        "systems:\n"
        "  crm:\n"
        "    connector: sql\n"
        f"    url: {url}\n"
        "    collections: {customers: {identities: {email: email}}}\n")


def test_environment_values_are_never_written_to_the_cache(cache_dir, tmp_path, monkeypatch):
    (tmp_path / "crm.db").touch()
    path = tmp_path / "inventory.yaml"
    write_sql_inventory(path, "postgresql://app:${CRM_PASSWORD}@db.internal/crm")
    monkeypatch.setenv("CRM_PASSWORD", "hunter2-very-secret")
    inventory = load_inventory(path)
    assert inventory.systems["crm"].url == "postgresql://app:hunter2-very-secret@db.internal/crm"
    [entry] = entries(cache_dir)
    assert b"hunter2" not in entry.read_bytes() and b"${CRM_PASSWORD}" in entry.read_bytes()
    monkeypatch.setenv("CRM_PASSWORD", "changed-secret")  # the cached tree is expanded on every load
    assert load_inventory(path).systems["crm"].url == "postgresql://app:changed-secret@db.internal/crm"


def test_errors_from_a_cached_tree_name_the_same_line(cache_dir, tmp_path, monkeypatch):
    path = tmp_path / "inventory.yaml"
    write_sql_inventory(path, "${CRM_URL}")  # the url is line 7
    monkeypatch.delenv("CRM_URL", raising=False)
    messages = []
    for _ in range(2):  # the first parses and stores, the second reads the cache
        with pytest.raises(InventoryError) as err:
            load_inventory(path)
        messages.append(str(err.value))
    assert len(entries(cache_dir)) == 1
    assert messages[0] == messages[1] and "inventory.yaml:7" in messages[0] and "CRM_URL" in messages[0]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_an_entry_others_can_write_or_a_broken_entry_is_ignored(cache_dir, inventory_file):
    load_inventory(inventory_file)
    [entry] = entries(cache_dir)
    kept, tree, lines = marshal.loads(entry.read_bytes())
    tree["controller"]["timezone"] = "Asia/Tokyo"  # what a tampered entry would make dsarctl believe
    entry.write_bytes(marshal.dumps((kept, tree, lines)))
    entry.chmod(0o666)
    assert load_inventory(inventory_file).controller.timezone == "Europe/London"
    # the file was parsed and the entry written afresh, private again
    assert oct(entry.stat().st_mode & 0o777) == oct(0o600)
    assert marshal.loads(entry.read_bytes())[1]["controller"]["timezone"] == "Europe/London"
    entry.write_bytes(marshal.dumps((kept, tree, lines)))
    entry.chmod(0o600)
    assert load_inventory(inventory_file).controller.timezone == "Asia/Tokyo"  # (proves the entry is read)
    entry.write_bytes(b"\x00not marshal")
    assert load_inventory(inventory_file).controller.timezone == "Europe/London"


def test_a_cache_that_cannot_be_written_is_not_an_error(tmp_path, inventory_file, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("DSARCTL_CACHE_DIR", str(blocker))
    assert load_inventory(inventory_file).controller.name
    monkeypatch.setenv("DSARCTL_CACHE_DIR", "off")
    assert cache.directory() is None and load_inventory(inventory_file).controller.name


def test_old_entries_are_pruned(cache_dir, inventory_file):
    text = inventory_file.read_text()
    for n in range(cache.KEEP + 5):
        inventory_file.write_text(text + f"\n# edit {n}\n")
        load_inventory(inventory_file)
    assert len(entries(cache_dir)) == cache.KEEP


# --- load_settings -----------------------------------------------------------------------------------------


def test_settings_equal_the_full_loads_settings_and_hold_no_systems(inventory_file):
    full = load_inventory(inventory_file)
    settings = load_settings(inventory_file)
    assert settings.settings_only and not full.settings_only
    assert settings.controller == full.controller and settings.audit_path == full.audit_path
    assert settings.custom_regime == full.custom_regime
    assert settings.systems == {} and settings.identities == {} and settings.sha256 == ""


def test_settings_do_not_need_what_only_systems_use(tmp_path, monkeypatch):
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "version: 1\n"
        "controller: {name: Acme, contact: privacy@acme.example, timezone: Europe/Berlin}\n"
        "audit:\n  path: ${AUDIT_DIR:-logs}/audit.db\n"
        "identities: {email: email}\n"
        "systems:\n"
        "  crm:\n"
        "    connector: sql\n"
        "    url: ${CRM_URL}\n"
        "    colections: {customers: {identities: {email: email}}}\n")
    monkeypatch.delenv("CRM_URL", raising=False)
    with pytest.raises(InventoryError, match="CRM_URL"):
        load_inventory(path)
    settings = load_settings(path)
    assert settings.controller.timezone == "Europe/Berlin"
    assert settings.audit_path == tmp_path.resolve() / "logs" / "audit.db"


@pytest.mark.parametrize("change, where, message", [
    (("timezone: Europe/London", "timezone: Europe/Londres"), "inventory.yaml:", "unknown time zone 'Europe/Londres'"),
    (("regime: uk-gdpr", "regime: uk-gpdr"), "inventory.yaml:", "did you mean 'uk-gdpr'"),
    (("version: 1", "version: 2"), "inventory.yaml:", "unsupported inventory version 2"),
    (("systems:", "sytems:"), "inventory.yaml:", "unknown key 'sytems'"),
])
def test_settings_are_validated_like_the_full_load(inventory_file, change, where, message):
    inventory_file.write_text(inventory_file.read_text().replace(*change, 1))
    errors = []
    for load in (load_inventory, load_settings):
        with pytest.raises(InventoryError) as err:
            load(inventory_file)
        errors.append(str(err.value))
    assert errors[0] == errors[1] and where in errors[0] and message in errors[0]


def test_overdue_runs_while_a_system_is_being_edited(demo_dir, cli):
    inventory = demo_dir / "inventory.yaml"
    assert cli("-i", str(inventory), "request", "new", "alice@example.com", "--type", "access",
               "--received", "2026-01-02").code == 0
    text = inventory.read_text()
    inventory.write_text(text.replace("connector: csv", "connector: cvs", 1))
    broken = cli("-i", str(inventory), "find", "alice@example.com")
    assert broken.code == 2 and "unknown connector 'cvs'" in broken.err
    result = cli("-i", str(inventory), "overdue", "--json")
    assert result.code == 1, result  # the request is overdue: the morning check still sees it
    assert [r["subject"] for r in result.json()["overdue"]] == ["alice@example.com"]


def test_json_is_one_line_when_piped_and_indented_for_a_person():
    from dsarctl.cli.output import dumps

    data = {"a": [1, {"b": "ü"}], "c": None}
    assert dumps(data, pretty=False) == '{"a": [1, {"b": "ü"}], "c": null}'
    assert dumps(data, pretty=True) == json.dumps(data, indent=2, ensure_ascii=False)
    assert "\n" not in dumps(data)  # pytest's captured stdout is not a terminal
