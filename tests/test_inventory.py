"""The inventory loader: the demo loads; every broken file in tests/data/inventories fails with exit 2,
one line naming file:line and the key, and no traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsarctl.errors import InventoryError
from dsarctl.inventory import load_inventory

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "inventories"

# files that cannot carry an "# expect:" comment line
SPECIAL = {
    "empty.yaml": (None, "", "inventory file is empty"),
    "binary-garbage.yaml": (3, "", "not a text file"),
    "latin1.yaml": (3, "", "not UTF-8 text"),
}


def expectations():
    for path in sorted(CORPUS.glob("*.yaml")):
        if path.name in SPECIAL:
            line, key, message = SPECIAL[path.name]
        else:
            header = path.read_text().splitlines()[0]
            match = re.match(r"# expect: (\d+) \| (\S*) ?\| (.*)", header)
            assert match, f"{path.name} lacks an '# expect: LINE | KEY | MESSAGE' header"
            line, key, message = int(match.group(1)) or None, match.group(2), match.group(3)
        yield pytest.param(path, line, key, message, id=path.name)


@pytest.mark.parametrize("path,line,key,message", list(expectations()))
def test_broken_inventory_gives_one_line_with_file_line_and_key(cli, path, line, key, message):
    # CPU time of this process, not the clock: the alias bomb takes ~0.5 s to reach the loader's limit,
    # which on a loaded machine can take more than 2 s of wall time; expanding it whole would take hours
    started = time.process_time()
    result = cli("-i", str(path), "inventory", "check")
    elapsed = time.process_time() - started
    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    error = lines[0]
    location = f"{path.name}:{line}" if line else path.name
    assert error.startswith(f"dsarctl: error: {location}"), error
    if key:
        assert f": {key}: " in error, error
    assert message in error, error
    assert elapsed < 2, f"took {elapsed:.2f} s of CPU"  # an alias bomb must fail fast, not expand


def test_no_traceback_from_the_real_entry_point(tmp_path):
    bad = tmp_path / "inventory.yaml"
    bad.write_text("version: 1\ncontroller: [\n")
    proc = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(bad), "inventory", "check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dsarctl: error: inventory.yaml:")
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_inventory_file(cli, tmp_path):
    result = cli("-i", str(tmp_path / "nope.yaml"), "inventory", "check")
    assert result.code == 2
    assert "inventory file not found" in result.err


def test_default_inventory_from_environment(cli, demo_dir, monkeypatch):
    monkeypatch.setenv("DSARCTL_INVENTORY", str(demo_dir / "inventory.yaml"))
    result = cli("inventory", "check", "--json")
    assert result.code == 0, result
    assert result.json()["valid"] is True


def test_demo_inventory_loads_every_key(demo_inventory):
    inv = demo_inventory
    assert inv.controller.name == "Northwind Software Ltd"
    assert inv.controller.timezone == "Europe/London"
    assert inv.controller.regime == "uk-gdpr"
    assert inv.controller.holidays == "GB-ENG"
    assert inv.audit_path == inv.base_dir / ".dsarctl" / "audit.db"
    assert inv.identities["phone"].region == "GB"
    assert inv.identities["customer_id"].unique is True
    crm = inv.systems["crm"]
    assert crm.url == "sqlite:///demo/crm.db"
    assert crm.purposes == ["account management", "customer support"]
    assert crm.recipients == ["Stripe Payments Europe Ltd (payment processor)"]
    tickets = crm.collections["tickets"]
    assert tickets.erase.action == "anonymize"
    assert tickets.erase.fields == {"body": "redact", "subject": "redact", "customer_id": "null"}
    orders = inv.systems["orders"].collections["orders"]
    assert orders.erase.action == "retain"
    assert orders.erase.until.field == "created_at" and orders.erase.until.years == 6
    assert orders.erase.fields == {"phone": "null"}
    newsletter = inv.systems["newsletter"].collections["newsletter"]
    assert newsletter.identities == {"email": ["Email Address"]}
    assert newsletter.suppress is True
    assert newsletter.path == inv.base_dir / "demo" / "newsletter.csv"
    support = inv.systems["support"].collections["support"]
    assert support.identities == {"email": ["from", "to", "cc", "reply-to"]}
    assert support.erase.action == "delete"  # mailboxes delete whole messages by default
    assert support.expand is False
    telemetry = inv.systems["telemetry"].collections["telemetry"]
    assert telemetry.identities == {"customer_id": ["account"], "email": ["user.email"]}
    analytics = inv.systems["analytics"]
    assert analytics.is_manual and analytics.identity_kinds == ["email", "customer_id"]
    assert "Google" in analytics.processor
    assert len(inv.sha256) == 64


def test_env_expansion_with_default_and_value(tmp_path):
    text = (ROOT / "inventory.yaml").read_text()
    (tmp_path / "inventory.yaml").write_text(text)
    inv = load_inventory(tmp_path / "inventory.yaml", environ={})
    assert inv.systems["crm"].url == "sqlite:///demo/crm.db"
    inv = load_inventory(tmp_path / "inventory.yaml",
                         environ={"CRM_DATABASE_URL": "postgresql://app:s3cret-pw@db/crm"})
    assert inv.systems["crm"].url == "postgresql://app:s3cret-pw@db/crm"
    assert inv.redact("could not connect with s3cret-pw") == "could not connect with ***"
    assert inv.systems["crm"].display_url() == "postgresql://app:***@db/crm"


def test_dollar_escape(tmp_path):
    inv_text = (ROOT / "inventory.yaml").read_text().replace(
        "description: Website analytics", "description: costs $$5 a month")
    (tmp_path / "inventory.yaml").write_text(inv_text)
    assert load_inventory(tmp_path / "inventory.yaml").systems["analytics"].description == "costs $5 a month"


def test_paths_are_relative_to_the_inventory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inventory.yaml").write_text((ROOT / "inventory.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    inv = load_inventory("sub/inventory.yaml")
    assert inv.systems["newsletter"].path == tmp_path / "sub" / "demo" / "newsletter.csv"


def test_schema_is_valid_json_and_names_every_key(cli):
    result = cli("inventory", "schema")
    assert result.code == 0
    schema = result.json()
    assert schema["properties"]["controller"]["properties"]["regime"]["enum"][0] == "eu-gdpr"
    system = schema["properties"]["systems"]["additionalProperties"]
    for key in ("connector", "url", "path", "collections", "identities", "erase", "suppress", "processor"):
        assert key in system["properties"], key
    assert set(system["properties"]["connector"]["enum"]) >= {"sql", "csv", "jsonl", "mbox", "maildir", "manual"}


def test_inventory_error_is_an_exception_with_location(tmp_path):
    bad = tmp_path / "inv.yaml"
    bad.write_text((ROOT / "inventory.yaml").read_text().replace("version: 1", "version: 2"))
    with pytest.raises(InventoryError) as info:
        load_inventory(bad)
    assert info.value.where == "inv.yaml:4"
    assert info.value.key == "version"


def test_show_formats(cli, demo_dir):
    inv = str(demo_dir / "inventory.yaml")
    data = cli("-i", inv, "inventory", "show", "--json").json()
    rows = {(r["system"], r["collection"]): r for r in data["systems"]}
    assert rows[("crm", "customers")]["lawful_basis"] == "contract"
    assert "contact details (postal address)" in rows[("crm", "customers")]["categories"]
    assert rows[("analytics", None)]["erase"] == "manual task"
    md = cli("-i", inv, "inventory", "show", "--format", "markdown")
    assert md.code == 0 and md.out.startswith("# Record of processing — Northwind Software Ltd")
    assert "| crm | customers | sql |" in md.out
    csv_out = cli("-i", inv, "inventory", "show", "--format", "csv")
    assert csv_out.out.splitlines()[0].startswith("system,collection,connector")
    assert len(csv_out.out.splitlines()) == 1 + len(data["systems"])
    table = cli("-i", inv, "inventory", "show")
    assert table.code == 0 and "Record of processing" in table.out
    bad = cli("-i", inv, "inventory", "show", "--format", "xml")
    assert bad.code == 2 and "unknown format 'xml'" in bad.err


def test_check_connect_on_demo(cli, demo_dir):
    result = cli("-i", str(demo_dir / "inventory.yaml"), "inventory", "check", "--connect", "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["valid"] is True
    messages = [f["message"] for f in data["findings"]]
    assert any("newsletter.csv: 5 rows" in m for m in messages)
    # the demo has every index it needs: no warnings
    assert [f for f in data["findings"] if f["level"] == "warning"] == []


def test_check_connect_reports_missing_column_as_bad_input(cli, demo_dir):
    inv = demo_dir / "inventory.yaml"
    inv.write_text(inv.read_text().replace("identities: {email: Email Address}", "identities: {email: E-mail}"))
    result = cli("-i", str(inv), "inventory", "check", "--connect")
    assert result.code == 2, result
    assert "column 'E-mail' is not in the header of demo/newsletter.csv" in result.out
    assert "inventory.yaml:" in result.out and "systems.newsletter.identities.email" in result.out


def test_check_connect_advises_missing_index(cli, demo_dir):
    import sqlite3

    with sqlite3.connect(demo_dir / "demo" / "orders.db") as db:
        db.execute("DROP INDEX ix_orders_customer_id")
    result = cli("-i", str(demo_dir / "inventory.yaml"), "inventory", "check", "--connect", "--json")
    assert result.code == 0
    warnings = [f["message"] for f in result.json()["findings"] if f["level"] == "warning"]
    assert warnings == ["no index on orders.customer_id; create one: CREATE INDEX ix_orders_customer_id ON orders (customer_id)"]


def test_check_connect_unreachable_source_is_exit_3(cli, demo_dir):
    (demo_dir / "demo" / "usage.jsonl").unlink()
    result = cli("-i", str(demo_dir / "inventory.yaml"), "inventory", "check", "--connect")
    assert result.code == 3
    assert "file not found: demo/usage.jsonl" in result.out


def test_json_schema_matches_loader_on_demo():
    """Every key the demo uses is in the schema (the schema is generated from the loader's key lists)."""
    from dsarctl.inventory.schema import inventory_json_schema

    schema = json.loads(json.dumps(inventory_json_schema()))
    assert schema["required"] == ["version", "controller", "identities", "systems"]
