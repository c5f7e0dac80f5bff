"""`dsarctl demo --apis`: the demo's SaaS fakes run on localhost with the demo people's records, and
inventory-apis.yaml is the demo inventory plus API systems pointing at them. Run as a real process (it
serves until SIGTERM / Ctrl-C); the fakes are checked with plain urllib and the files with ruamel and csv."""

from __future__ import annotations

import base64
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent


def start_demo(folder: Path, *args: str, pythonpath: Path = ROOT) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("DSARCTL_INVENTORY", "CRM_DATABASE_URL")}
    env["PYTHONPATH"] = str(pythonpath)
    process = subprocess.Popen([sys.executable, "-m", "dsarctl", "-i", str(folder / "inventory.yaml"), "demo",
                                "--apis", *args, "--json"], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    text = ""
    while True:  # the JSON document comes first, whole; then the process serves
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=30)
            pytest.fail(f"demo --apis ended: {process.returncode} {process.stderr.read()}")
        text += line
        try:
            return process, json.loads(text)
        except ValueError:
            continue


def stop_demo(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def get(url: str, headers: dict, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers={
        **headers, "Content-Type": "application/json"}, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "inventory.yaml").write_text((ROOT / "inventory.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_demo_apis_serves_the_demo_people_and_writes_the_inventory(folder):
    process, started = start_demo(folder, "--port", "0")
    try:
        urls = started["apis"]
        assert list(urls) == ["mailchimp", "hubspot", "zendesk", "stripe", "google-analytics"]
        env = started["env"]
        hubspot = get(f"{urls['hubspot']}/crm/v3/objects/contacts/search",
                      {"Authorization": f"Bearer {env['DEMO_HUBSPOT_TOKEN']}"},
                      {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ",
                                                      "value": "alice@example.com"}]}]})
        assert [c["properties"]["firstname"] for c in hubspot["results"]] == ["Alice"]
        basic = base64.b64encode(f"agent@northwind.example/token:{env['DEMO_ZENDESK_TOKEN']}".encode()).decode()
        zendesk = get(f"{urls['zendesk']}/api/v2/users/search.json?query=email:alice@example.com",
                      {"Authorization": f"Basic {basic}"})
        user = zendesk["users"][0]
        tickets = get(f"{urls['zendesk']}/api/v2/users/{user['id']}/tickets/requested.json",
                      {"Authorization": f"Basic {basic}"})
        assert [t["subject"] for t in tickets["tickets"]] == ["Cannot activate licence", "Refund for order 5002"]
        written = Path(started["inventory"])
        assert written == folder / "inventory-apis.yaml"
        document = YAML(typ="safe").load(written.read_text(encoding="utf-8"))
        original = YAML(typ="safe").load((folder / "inventory.yaml").read_text(encoding="utf-8"))
        assert set(original["systems"]) - {"analytics"} < set(document["systems"])  # the demo's systems, and more
        assert document["systems"]["crm_api"]["definition"] == "hubspot"
        assert document["systems"]["crm_api"]["base_url"] == f"${{DEMO_HUBSPOT_URL:-{urls['hubspot']}}}"
        assert document["systems"]["helpdesk_api"]["auth"]["basic"]["username"] == "agent@northwind.example/token"
        from dsarctl.demo_apis import usable

        assert started["left_out"] == ([] if usable("google-analytics") else ["google-analytics"])
        assert {"newsletter_api", "payments_api"} <= set(document["systems"])
        if usable("google-analytics"):  # the engine takes its params and request-less locate
            assert document["systems"]["web_analytics_api"]["params"] == {"property_id": "318000000"}
            assert "analytics" not in document["systems"]  # the manual task it replaces
            assert set(original["systems"]) - {"analytics"} < set(document["systems"])
        else:  # the fake runs, the system is left out rather than breaking the inventory
            assert "web_analytics_api" not in document["systems"] and "google-analytics" in urls
        assert {"ga_client_id", "ga_user_id"} <= set(document["identities"])  # the rest: the definitions' own
        with (folder / "demo" / "analytics-ids.csv").open(newline="", encoding="utf-8") as source:
            rows = list(csv.DictReader(source))
        assert rows[0] == {"customer_id": "1042", "email": "alice@example.com",
                           "ga_client_id": "1789012345.1700000000", "ga_user_id": "1042"}
        assert (folder / "demo" / "crm.db").exists()  # the file sources too
    finally:
        err = stop_demo(process)
    assert "fakes stopped" in err
    with pytest.raises(OSError):
        urllib.request.urlopen(urls["hubspot"], timeout=2)


def test_demo_apis_on_a_port_in_use_fails_in_one_line(folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "DSARCTL_INVENTORY"}
        env["PYTHONPATH"] = str(ROOT)
        result = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(folder / "inventory.yaml"), "demo",
                                 "--apis", "--port", str(port - 1 if port > 1024 else port)],
                                cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and "--port" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "inventory-apis.yaml").exists()


def test_the_newcomer_flow_find_and_erase_against_the_demo_apis(folder, cli, monkeypatch):
    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    process, started = start_demo(folder, "--port", "0")
    try:
        inventory = started["inventory"]
        found = cli("-i", inventory, "find", "alice@example.com", "--json")
        assert found.code == 0, found
        counts = {(s["system"], c["collection"]): c["count"] for s in found.json()["systems"]
                  for c in s.get("collections", [])}
        assert counts[("crm_api", "contacts")] == 1 and counts[("crm_api", "emails")] == 0
        assert counts[("helpdesk_api", "users")] == 1 and counts[("helpdesk_api", "tickets")] == 2
        assert counts[("crm", "customers")] == 1  # the demo's own systems are still searched
        assert counts[("newsletter_api", "members")] == 2 and counts[("payments_api", "customers")] == 1
        via = {i["kind"]: i.get("found_in") for i in found.json()["identifiers"]}
        assert via["zendesk_user"] == "helpdesk_api.users" and via["ga_client_id"] == "analytics_ids.analytics_ids"
        erased = cli("-i", inventory, "erase", "bob@example.net", "--yes", "--json")
        assert erased.code == 0, erased
        again = cli("-i", inventory, "find", "bob@example.net", "--json")
        left = {(s["system"], c["collection"]): c["count"] for s in again.json()["systems"]
                for c in s.get("collections", [])}
        assert left[("helpdesk_api", "users")] == 0 and left[("helpdesk_api", "tickets")] == 0
        assert left[("crm_api", "contacts")] == 0
    finally:
        stop_demo(process)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DSARCTL_TEST_SLOW"), reason="builds dsarctl with pip: set DSARCTL_TEST_SLOW=1")
def test_demo_apis_runs_all_five_fakes_from_an_installed_dsarctl(tmp_path):
    """Installed as a user installs it (not editable, no tests/ beside it), the demo still runs every fake."""
    source, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    source.mkdir()
    import shutil

    shutil.copytree(ROOT / "dsarctl", source / "dsarctl", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert not (site / "tests").exists() and (site / "dsarctl" / "fakes" / "stripe.py").is_file()
    work.mkdir()
    (work / "inventory.yaml").write_text((ROOT / "inventory.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    process, started = start_demo(work, "--port", "0", pythonpath=site)
    try:
        urls, env = started["apis"], started["env"]
        assert list(urls) == ["mailchimp", "hubspot", "zendesk", "stripe", "google-analytics"]
        assert started["left_out"] == []
        basic = base64.b64encode(f"demo:{env['DEMO_MAILCHIMP_KEY']}".encode()).decode()
        members = get(f"{urls['mailchimp']}/3.0/search-members?query=alice@example.com",
                      {"Authorization": f"Basic {basic}"})
        assert sorted(m["list_id"] for m in members["exact_matches"]["members"]) == ["nw0beta01", "nw0news01"]
        customers = get(f"{urls['stripe']}/v1/customers/search?query=email:%27bob@example.net%27",
                        {"Authorization": f"Bearer {env['DEMO_STRIPE_KEY']}"})
        assert [c["name"] for c in customers["data"]] == ["Bob Builder"]
        document = YAML(typ="safe").load(Path(started["inventory"]).read_text(encoding="utf-8"))
        assert {"newsletter_api", "crm_api", "helpdesk_api", "payments_api", "web_analytics_api"} <= \
            set(document["systems"])
    finally:
        stop_demo(process)
