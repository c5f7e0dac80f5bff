import json
import shutil

import pytest

from dsarctl.testing import SourceTests


class NotesFixture:
    """A folder of notes holding the suite's people, and the oracle that reads it without dsarctl."""

    masked_field = "name"  # the suite also tries `erase: {action: anonymize, fields: {name: redact}}`

    def make(self, folder, people):
        self.folder = folder / "notes"
        self.folder.mkdir()
        number = 0
        for person in people:
            for label in person.labels:
                number += 1
                note = {"email": person.email, "name": person.name, "text": label}
                (self.folder / f"{number:04}.json").write_text(json.dumps(note), encoding="utf-8")
        return {"connector": "notes", "folder": "notes", "identities": {"email": "email"}}

    def records_of(self, person):
        notes = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(self.folder.glob("*.json"))]
        return [note for note in notes if note["email"].lower() == person.email.lower()]

    def break_source(self):
        shutil.rmtree(self.folder)


class TestNotes(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        return NotesFixture()
