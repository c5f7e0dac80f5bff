"""The plugin tutorial cannot drift from its example package: each code block that names a file
(```python file=dsarctl_notes.py) is that file's text, verbatim, and together the blocks show every line
of the package's code, so that a plugin written from the tutorial alone is the example (which passes the
conformance suite: examples/dsarctl-notes/tests, run by .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "plugins" / "tutorial.md"
EXAMPLE = ROOT / "examples" / "dsarctl-notes"
SHOWN = ["pyproject.toml", "dsarctl_notes.py", "tests/test_notes.py", "example/inventory.yaml"]
_BLOCK = re.compile(r"^```[a-z]+ file=(\S+)\n(.*?)^```$", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))]


def test_every_block_that_names_a_file_is_in_that_file_verbatim():
    found = blocks()
    assert len(found) >= len(SHOWN)
    for name, code in found:
        path = EXAMPLE / name
        assert path.is_file(), f"the tutorial names {name}, which examples/dsarctl-notes does not have"
        assert code in path.read_text(encoding="utf-8"), f"a block of {name} differs from the file:\n{code}"


def test_the_blocks_show_every_line_of_the_package():
    shown: dict[str, set[str]] = {}
    for name, code in blocks():
        shown.setdefault(name, set()).update(code.splitlines())
    for name in SHOWN:
        missing = [line for line in (EXAMPLE / name).read_text(encoding="utf-8").splitlines()
                   if line.strip() and line not in shown.get(name, set())]
        assert not missing, f"the tutorial does not show these lines of {name}: {missing}"


def test_the_tutorial_is_linked_from_the_readme_and_the_inventory_reference():
    assert "(docs/plugins/tutorial.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(plugins/tutorial.md)" in (ROOT / "docs" / "inventory.md").read_text(encoding="utf-8")


def test_the_example_registers_its_source_in_the_version_2_group():
    from dsarctl.sources import ENTRY_POINT_GROUP

    text = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]\nnotes = "dsarctl_notes:NotesSource"' in text
