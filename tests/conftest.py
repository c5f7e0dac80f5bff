"""Shared fixtures: a demo company in a temp folder, CLI invocation, and live database servers.

Server tests read their URL from DSARCTL_TEST_POSTGRES_URL / DSARCTL_TEST_MYSQL_URL and skip with the
reason when it is unset, so a laptop without servers still passes. `.ci/run` sets both and also sets
DSARCTL_TEST_REQUIRE_SERVERS=1, which turns those skips into failures: CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _private_inventory_cache(tmp_path_factory):
    """The parsed-inventory cache of the test run lives in a temp folder, not in the user's ~/.cache."""
    os.environ["DSARCTL_CACHE_DIR"] = str(tmp_path_factory.mktemp("dsarctl-cache"))
    yield


_EXAMPLE_URLS = {
    "DSARCTL_TEST_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "DSARCTL_TEST_MYSQL_URL": "mysql+pymysql://root@127.0.0.1:3306/test",
}


def _server_url(var: str) -> str:
    url = os.environ.get(var)
    if not url:
        reason = f"{var} is not set (e.g. {var}={_EXAMPLE_URLS.get(var, '...')})"
        if os.environ.get("DSARCTL_TEST_REQUIRE_SERVERS"):
            pytest.fail(f"server test required but {reason}")
        pytest.skip(reason)
    return url


_SERVERS = {"postgres_url": "postgres", "mysql_url": "mysql", "dovecot": "imap", "dovecot_without_uidplus": "imap"}


def pytest_collection_modifyitems(config, items):
    """A test that needs a live server carries its marker (`postgres`, `mysql`), so that
    `-m "not postgres and not mysql"` deselects it (`.ci/run` does under its other Pythons): a test that
    requests `postgres_url`/`mysql_url` (also through `server_url`, or another fixture), or that is
    parametrized with the value "postgres"/"mysql" (the param of a fixture that asks for the server's URL
    with request.getfixturevalue)."""
    for item in items:
        wanted = {_SERVERS[name] for name in getattr(item, "fixturenames", ()) if name in _SERVERS}
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            wanted.update(v for v in callspec.params.values() if isinstance(v, str) and v in _SERVERS.values())
            if "server_url" in callspec.params:
                wanted = (wanted - set(_SERVERS.values())) | {callspec.params["server_url"]}
        for marker in sorted(wanted):
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture
def postgres_url() -> str:
    return _server_url("DSARCTL_TEST_POSTGRES_URL")


@pytest.fixture
def mysql_url() -> str:
    return _server_url("DSARCTL_TEST_MYSQL_URL")


@pytest.fixture(params=["postgres", "mysql"])
def server_url(request) -> str:
    """Each live server in turn."""
    return _server_url("DSARCTL_TEST_POSTGRES_URL" if request.param == "postgres" else "DSARCTL_TEST_MYSQL_URL")


@pytest.fixture
def unique_name() -> str:
    """A table/schema name no other test run uses (tests share the live servers)."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the demo inventory with its sources created, in a temp folder."""
    from dsarctl.demo import create_demo
    from dsarctl.inventory import load_inventory

    monkeypatch.delenv("CRM_DATABASE_URL", raising=False)
    monkeypatch.delenv("DSARCTL_INVENTORY", raising=False)
    shutil.copy(ROOT / "inventory.yaml", tmp_path / "inventory.yaml")
    create_demo(load_inventory(tmp_path / "inventory.yaml"))
    return tmp_path


@pytest.fixture
def demo_inventory(demo_dir: Path):
    from dsarctl.inventory import load_inventory

    return load_inventory(demo_dir / "inventory.yaml")


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `dsarctl ARGS` in-process: returns CliResult(code, stdout, stderr)."""
    from dsarctl.testing import run_cli

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: run_cli(capsys, *args)
