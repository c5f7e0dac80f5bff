"""dsarctl-notes: a dsarctl source for a folder of JSON notes, one file per note.

    notes/
      0001.json   {"email": "zoe@example.org", "name": "Zoe Adams", "text": "Asked for a refund"}
      0002.json   {"email": "bob@example.net", "name": "Bob Stone", "text": "Changed address"}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dsarctl.sources import EraseOutcome, Erasable, ExportFile, Finding, KeySpec, Source


class NotesSource(Source, Erasable):
    name = "notes"
    system_keys = {
        "folder": KeySpec("path", "The folder of .json notes, relative to the inventory.", required=True),
    }

    # -- reading ---------------------------------------------------------------------------------------
    def notes(self, collection) -> list[tuple[str, dict]]:
        """(file name, note) for every note of the folder, in name order."""
        folder = collection.options["folder"]
        if not folder.is_dir():
            raise self.fail(f"no such folder: {folder}")
        out = []
        for path in sorted(folder.glob("*.json")):
            try:
                note = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise self.fail(f"{path}: not a JSON note: {exc}") from None
            if not isinstance(note, dict):
                raise self.fail(f"{path}: not a JSON object")
            out.append((path.name, note))
        return out

    def records(self, collection, wanted=None):
        """Every note as a Record (its key is the file's name: notes are never renamed), its identity
        values read by `Source.record` as the built-in sources read them, `matched` against `wanted`."""
        for name, note in self.notes(collection):
            yield self.record(collection, name, note, wanted,
                              location=f"{collection.options['folder'].name}/{name}")

    # -- Source ----------------------------------------------------------------------------------------
    def locate(self, collection, wanted, *, lookup_only=False):
        return (record for record in self.records(collection, wanted) if record.matched)

    def check(self, collection):
        count = len(self.notes(collection))
        return [Finding("info", self.system.name, f"{count} notes")]

    def export_files(self, collection, records):
        folder = collection.options["folder"]
        return [ExportFile(f"note-{record.key}", lambda path=folder / record.key: [path.read_bytes()])
                for record in records]

    # -- Erasable --------------------------------------------------------------------------------------
    def scan(self, collection):
        return self.records(collection)

    def erase(self, collection, targets, context):
        folder: Path = collection.options["folder"]
        outcome = EraseOutcome()
        for target in targets:
            path = folder / Path(target.key).name
            if not path.exists():
                outcome.missing += 1  # deleted by an earlier, interrupted run
            elif target.action == "delete":
                path.unlink()
                outcome.deleted += 1
                context.checkpoint("notes.deleted")
            else:  # mask
                note = json.loads(path.read_text(encoding="utf-8"))
                masked = context.masker.mask(note, target.fields)
                if masked == note:
                    outcome.unchanged += 1  # masked by an earlier, interrupted run
                    continue
                temporary = path.with_name(f".{path.name}.tmp")
                temporary.write_text(json.dumps(masked), encoding="utf-8")
                context.checkpoint("notes.before-replace")
                os.replace(temporary, path)  # atomic: the note is either the old one or the masked one
                outcome.masked += 1
        return outcome
