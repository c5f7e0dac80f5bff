"""The project's promises about itself: README commands match CI."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_starts_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    install_and_run, test = commands
    assert "pip install ." in install_and_run and "dsarctl demo" in install_and_run
    assert "pip install -e '.[test]'" in test and "python -m pytest" in test
    # CI runs the same steps
    for step in ("pip install .", "dsarctl demo", "dsarctl find alice@example.com", "pip install -q -e '.[test]'",
                 "python -m pytest"):
        assert step.replace(" -q", "") in ci.replace(" -q", ""), step
    assert "DSARCTL_TEST_REQUIRE_SERVERS=1" in ci


def test_cli_reference_is_generated_and_current():
    """docs/cli.md is `python scripts/cli_reference.py > docs/cli.md`; it must not drift from --help."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "cli.md").read_text()
    assert current == module.generate(), "docs/cli.md is stale: run python scripts/cli_reference.py > docs/cli.md"


def test_every_command_is_documented():
    import typer

    from dsarctl.cli import app

    reference = (ROOT / "docs" / "cli.md").read_text()
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert f"## dsarctl {name}\n" in reference, name
        for sub in getattr(command, "commands", {}) or {}:
            assert f"## dsarctl {name} {sub}\n" in reference, f"{name} {sub}"


def test_known_codes_match_the_installed_holidays_and_phonenumbers():
    """dsarctl/inventory/known_codes.py lets the loader check `controller.holidays` and phone regions
    without importing every country of `holidays` or `phonenumbers`; it must list what they support."""
    import importlib.util

    import holidays
    import phonenumbers
    import pytest

    from dsarctl.inventory import known_codes

    installed = (holidays.__version__, phonenumbers.__version__)
    if installed != (known_codes.HOLIDAYS_VERSION, known_codes.PHONENUMBERS_VERSION):
        # another Python gets other releases (holidays 0.108 dropped Python 3.10): the lists are generated
        # for one pair of versions, the one the main CI run installs
        pytest.skip(f"known_codes.py lists holidays {known_codes.HOLIDAYS_VERSION} and phonenumbers "
                    f"{known_codes.PHONENUMBERS_VERSION}; installed: {installed[0]} and {installed[1]}")
    spec = importlib.util.spec_from_file_location("known_codes_script", ROOT / "scripts" / "known_codes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "dsarctl" / "inventory" / "known_codes.py").read_text()
    assert current == module.render(), (
        "dsarctl/inventory/known_codes.py is stale: run python scripts/known_codes.py > dsarctl/inventory/known_codes.py")


def test_a_calendar_missing_from_the_list_is_checked_against_holidays(monkeypatch):
    """A newer `holidays` may support a calendar the generated list lacks: it is accepted after asking
    `holidays` itself, and a code neither knows is still refused."""
    from dsarctl.inventory import known_codes, loader

    monkeypatch.setattr(known_codes, "CALENDARS", {})
    monkeypatch.setattr(known_codes, "PHONE_REGIONS", frozenset())
    assert loader._phone_region_known("gb") and not loader._phone_region_known("XX")
    assert loader._calendar_problem("GB-ENG") is None
    assert "unknown holiday calendar 'XX'" in loader._calendar_problem("XX")
    assert "unknown subdivision 'ZZZ'" in loader._calendar_problem("GB-ZZZ")
