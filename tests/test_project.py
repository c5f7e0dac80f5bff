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
