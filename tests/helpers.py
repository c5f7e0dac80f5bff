"""Building small inventories for tests."""

from __future__ import annotations

import os
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


def benchmark_company(folder: Path, records: int = 2000) -> dict:
    """benchmarks/generate.py's synthetic company written into `folder`; returns its planted.json."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bench_generate", root / "benchmarks" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.generate(folder, records)


def find(inventory, *identifiers: str, **kwargs):
    from dsarctl.identity import parse_identifier
    from dsarctl.search import find_subject

    return find_subject(inventory, [parse_identifier(i, inventory.identities) for i in identifiers], **kwargs)


def records(result, system: str, collection: str | None = None):
    coll = result.systems[system].collections[collection or system]
    return coll.records


class Scanner:
    """A context that makes the byte prefilter use GNU grep ("grep") or the Python scanner ("python")."""

    def __init__(self, kind: str):
        self.kind = kind

    def __enter__(self):
        import shutil

        from dsarctl.connectors import bytescan

        self.saved = os.environ.get("DSARCTL_GREP")
        if self.kind == "grep":
            if not shutil.which("grep"):
                import pytest

                pytest.fail("GNU grep is needed for this test (apt-get install grep)")
            os.environ["DSARCTL_GREP"] = shutil.which("grep")
        else:
            os.environ["DSARCTL_GREP"] = "off"
        bytescan._reset_grep()
        if self.kind == "grep":
            assert bytescan.grep_binary(), "grep on PATH is not GNU grep"
        return self

    def __exit__(self, *exc):
        from dsarctl.connectors import bytescan

        if self.saved is None:
            os.environ.pop("DSARCTL_GREP", None)
        else:
            os.environ["DSARCTL_GREP"] = self.saved
        bytescan._reset_grep()
        return False

    def __repr__(self) -> str:
        return f"Scanner({self.kind!r})"


def both_paths(cli, monkeypatch, module):
    """`run(*args)` running `dsarctl ARGS` through a fast path module's `parse`/`invoke` (morning, lookup),
    then through typer (its `parse` answering None); returns both CliResults."""
    invoked = []
    real_invoke = module.invoke
    monkeypatch.setattr(module, "invoke", lambda options: invoked.append(options) or real_invoke(options))
    real_parse = module.parse

    def run(*args: str):
        monkeypatch.setattr(module, "parse", real_parse)
        fast = cli(*args)
        assert len(invoked) == 1, f"{args} did not take the fast path"
        monkeypatch.setattr(module, "parse", lambda args: None)
        slow = cli(*args)
        assert len(invoked) == 1, f"{args} did not take the typer path"
        invoked.clear()
        return fast, slow

    return run


def at(monkeypatch, when: str) -> None:
    """The CLI's clock (DSARCTL_NOW) set to `when`."""
    monkeypatch.setenv("DSARCTL_NOW", when)


def one_error_line(result, text: str) -> None:
    """A refusal: exit 2, nothing on stdout, one line on stderr holding `text`."""
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.count("\n") == 1 and text in result.err, result.err



def required_binary(var: str, example: str, what: str) -> str:
    """The program a live test runs, from the environment variable `var`; without it (or when it is not
    executable) the test skips saying why, or fails when DSARCTL_TEST_REQUIRE_SERVERS=1 (CI). `example`:
    the value to set, with the Debian package it comes from; `what`: the kind of test, for the message."""
    import pytest  # here: scripts import this module's neighbours without pytest

    path = os.environ.get(var)
    reason = None
    if not path:
        reason = f"{var} is not set (e.g. {var}={example})"
    elif not os.access(path, os.X_OK):
        reason = f"{var}={path} is not an executable"
    if reason:
        if os.environ.get("DSARCTL_TEST_REQUIRE_SERVERS"):
            pytest.fail(f"{what} test required but {reason}")
        pytest.skip(reason)
    return path
