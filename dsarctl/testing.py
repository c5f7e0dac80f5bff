"""The conformance suite of dsarctl sources: a source proves itself by passing it. Every built-in source
runs it (tests/test_conformance.py), and so does a plugin, in its own tests:

    import pytest
    from dsarctl.testing import SourceTests

    class NotesFixture:
        def make(self, folder, people):   # create the source in `folder` holding `people`'s records,
            ...                           # return the system's keys for inventory.yaml
        def records_of(self, person):     # the oracle: what the source holds now for `person`
            ...
        def break_source(self):           # make the source `make` created unreachable
            ...

    class TestNotes(SourceTests):
        @pytest.fixture
        def source_fixture(self):
            return NotesFixture()

The suite writes an inventory with one system, `people`, of the keys `make` returns (plus `erase:
delete` when the source is `Erasable`), and checks, through the real command line (`dsarctl.cli.main`,
in-process) and the library: `find` returns exactly the person's records (never the near miss
`xzoe@example.org.uk` for `zoe@example.org`, whatever the stored address's case), the access package holds
exactly them, `inventory check --connect` passes, `erase` removes exactly them and its verification finds
nothing left, a second `erase` changes nothing, an erase interrupted at each of its checkpoints (and by
SIGKILL) is finished by the next one, a source that cannot be reached fails in one line with exit 3, an
unknown key is refused with exit 2 and the inventory's file:line, and a source that is not `Erasable`
given an erase rule is refused when the inventory loads. The erase tests are skipped for a source that is
not `Erasable`.

The fixture (`SourceFixture`) knows the source; the suite knows the people (`PEOPLE`). Each person has
one record per label (`Person.labels`); a record holds the person's e-mail address in a field of identity
kind `email` and its label in a field the source exports (a note, a name, a mail's Subject), so that the
suite can tell which records a package holds. A record may also be reached through an identifier that
another of the person's records carries (a help desk's ticket through its requester's user id, a kind the
source declares): `find` must then say so in its `matched`.

A source that cannot be searched, whose records are made of identifiers another system holds (Google
Analytics' User Deletion API: a record is the deletion request for a client id), is *record-style*: its
fixture sets `record_style` to that identity kind, and the suite gives dsarctl each person's labels as
identifiers of that kind (`KIND:L-zoe-1 --id KIND:L-zoe-2`) instead of the address. The tests that need a
search by address (the stored case, an unknown address) are skipped with a reason naming
`record_style`; the others (find, export, check, erase, its crash and kill recovery, the audit chain,
an unreachable server failing the erase in one line, bad input) run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import pytest

__all__ = ["Person", "PEOPLE", "SUBJECT", "SYSTEM", "CONTROLLER_DOMAIN", "SourceFixture", "SourceTests",
           "CliResult", "run_cli", "write_inventory"]

SYSTEM = "people"  # the one system of the suite's inventory
CONTROLLER_DOMAIN = "controller.example"  # the controller's mail domain (a mailbox's own address: support@...)
CORE_CHECKPOINTS = frozenset({"journal.written", "audit.recorded", "unit.done", "suppressed", "tasks.opened"})


@dataclass(frozen=True)
class Person:
    """Someone whose records the source holds: one record per label."""

    name: str
    email: str  # as the source stores it (the case may differ from the one searched for)
    labels: tuple[str, ...]  # one per record, stored in an exported field of that record

    @property
    def searched(self) -> str:
        """The address as an operator types it: lower case."""
        return self.email.lower()


ZOE = Person("Zoe Adams", "zoe@example.org", ("L-zoe-1", "L-zoe-2"))
DECOY = Person("Xavier Zoeller", "xzoe@example.org.uk", ("L-xzoe-1",))  # holds Zoe's address as a substring
ANN = Person("Ann Lee", "Ann.Lee@Example.COM", ("L-ann-1",))  # stored in mixed case
BOB = Person("Bob Stone", "bob@example.net", ("L-bob-1",))
PEOPLE: tuple[Person, ...] = (ZOE, DECOY, ANN, BOB)
SUBJECT = ZOE  # the one the erase tests erase
_LABEL = re.compile(r"L-[a-z]+-[0-9]+")


class SourceFixture(Protocol):
    """What a source's tests provide to the suite. A new `make` replaces the source of the previous one
    (the crash tests make several); `records_of` and `break_source` read and break the latest."""

    def make(self, folder: Path, people: Sequence[Person]) -> dict[str, Any]:
        """Create the source, holding one record per label of each person (and nothing else), in `folder`
        (or in a server, under names no other test uses), and return the keys of its system in
        inventory.yaml: `connector`, where the data is (paths relative to `folder` or absolute), and
        `identities` mapping kind `email` to the field(s) that hold the address. No `erase:` rule: the
        suite adds it."""

    def records_of(self, person: Person) -> list[Any]:
        """The oracle: the person's records as the source holds them now, one item per record (a row, a
        file's bytes), read without dsarctl. Items must compare equal when the record did not change."""

    # Optional: a field of the records that an `anonymize` rule can mask (`redact`); the mask test is
    # skipped without it.
    masked_field: str | None

    # Optional, for a source that cannot be searched (record-style, see the module docstring): the
    # identity kind whose values given to dsarctl are its records. `make` then holds what the source keeps
    # under one identifier per label, the label itself as its value (Zoe: `L-zoe-1` and `L-zoe-2`), and
    # `records_of` returns what it still holds under the person's labels. The kind must be one the source
    # declares itself (`Source.implied_identities`): the suite's inventory declares only `email`.
    record_style: str | None

    def break_source(self) -> dict[str, Any] | None:
        """Make the source unreachable (delete its file or folder, drop its table), so that reading it
        fails; or return keys that replace the system's in the inventory to the same end (a server's
        `port` that nothing listens on)."""


@dataclass
class CliResult:
    """What `dsarctl ARGS` did: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[:500]!r}, err={self.err[:500]!r})"


def run_cli(capsys, *args: str) -> CliResult:
    """Run `dsarctl ARGS` in this process (pytest's `capsys` captures its output)."""
    from .cli import main

    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def write_inventory(folder: Path, system: dict[str, Any]) -> Path:
    """An inventory in `folder` with identity kind `email` and one system, `people`, of keys `system`."""
    from ruamel.yaml import YAML

    document = {
        "version": 1,
        "controller": {"name": "Conformance Ltd", "contact": f"privacy@{CONTROLLER_DOMAIN}", "timezone": "UTC"},
        "identities": {"email": {"type": "email"}},
        "systems": {SYSTEM: _plain(system)},
    }
    path = folder / "inventory.yaml"
    yaml = YAML()
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(document, out)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, (Path, str)) else value  # str subclasses too (a table's name)


def _unregistered(name: str) -> str:
    return (f"no source '{name}': is its package installed (pip install -e .), with an entry point in the "
            f"'dsarctl.sources.v2' group?")


class Crash(BaseException):
    """Stands in for kill -9 at a checkpoint: nothing in dsarctl catches it."""


class SourceTests:
    """The conformance suite. Subclass it in a class named `Test...` and override the `source_fixture`
    fixture to return your `SourceFixture`."""

    # -- what a subclass provides ----------------------------------------------------------------------
    @pytest.fixture
    def source_fixture(self) -> SourceFixture:
        pytest.fail("override the `source_fixture` fixture: return your source's SourceFixture")

    # -- the suite's own fixtures ----------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _isolated(self, tmp_path_factory, monkeypatch):
        """No user state: the inventory cache in a temp folder, no inventory or kill point from outside."""
        monkeypatch.setenv("DSARCTL_CACHE_DIR", str(tmp_path_factory.mktemp("dsarctl-cache")))
        for name in ("DSARCTL_INVENTORY", "DSARCTL_TEST_KILL_AT", "DSARCTL_DEBUG"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.setenv("COLUMNS", "200")

    @pytest.fixture
    def dsarctl(self, capsys):
        """`dsarctl(*args)` runs the command line in this process and returns a CliResult."""
        return lambda *args: run_cli(capsys, *args)

    @pytest.fixture
    def source_class(self, source_fixture, tmp_path):
        """The source class the fixture's `connector:` names, as the registry finds it."""
        from dsarctl import connectors

        (tmp_path / "probe").mkdir()
        name = source_fixture.make(tmp_path / "probe", PEOPLE)["connector"]
        cls = connectors.get(name)
        assert cls is not None, _unregistered(name)
        return cls

    @pytest.fixture
    def erasable(self, source_class):
        from dsarctl.sources import Erasable

        if not issubclass(source_class, Erasable):
            pytest.skip(f"{source_class.__name__} is not Erasable")
        return source_class

    # -- helpers ---------------------------------------------------------------------------------------
    def build(self, fixture: SourceFixture, folder: Path, *, erase: Any = None, **extra: Any) -> Path:
        """A fresh source holding PEOPLE in `folder`, and its inventory (with `erase` and `extra` keys)."""
        from dsarctl import connectors

        folder.mkdir(parents=True, exist_ok=True)
        system = dict(fixture.make(folder, PEOPLE))
        assert connectors.get(system["connector"]) is not None, _unregistered(system["connector"])
        system.pop("erase", None)
        if erase is not None:
            system["erase"] = erase
        system.update(extra)
        self.system = system
        return write_inventory(folder, system)

    @staticmethod
    def given(fixture: SourceFixture, person: Person) -> list[str]:
        """What the suite gives dsarctl for `person`: the address as typed; for a record-style source, one
        `KIND:LABEL` per label (see `SourceFixture.record_style`)."""
        kind = getattr(fixture, "record_style", None)
        return [f"{kind}:{label}" for label in person.labels] if kind else [person.searched]

    def subject_args(self, fixture: SourceFixture, person: Person) -> list[str]:
        """`SUBJECT [--id KIND:VALUE ...]` on a command line for `person`."""
        first, *rest = self.given(fixture, person)
        return [first] + [arg for value in rest for arg in ("--id", value)]

    @staticmethod
    def skip_if_record_style(fixture: SourceFixture, why: str) -> None:
        kind = getattr(fixture, "record_style", None)
        if kind:
            pytest.skip(f"record-style source (record_style = {kind!r}: its records are the {kind} values "
                        f"given, it cannot be searched): {why}")

    @staticmethod
    def assert_found_through(records: list[Any], given: list[Any]) -> None:
        """Each record says what led to it (`matched`): an identifier given, carried in that record's
        identities; or one that a record found before carries (expansion through a kind the source
        declares: a ticket through its requester's user id) — never anything else."""
        reachable = {(i.kind, i.value) for i in given}
        direct = [r for r in records if r.matched & reachable]
        assert direct or not records, f"no record was found by what was given ({reachable}): {records!r}"
        for record in direct:
            for kind, value in record.matched & reachable:
                assert value in record.identities.get(kind, set()), record
        grown = True
        while grown:
            grown = False
            for record in records:
                if record.matched & reachable:
                    carried = {(k, v) for k, values in record.identities.items() for v in values} - reachable
                    if carried:
                        reachable |= carried
                        grown = True
        for record in records:
            assert record.matched and record.matched <= reachable, record

    def stored(self, fixture: SourceFixture) -> dict[str, list[Any]]:
        stored = {person.email: list(fixture.records_of(person)) for person in PEOPLE}
        for person in PEOPLE:
            assert len(stored[person.email]) == len(person.labels), (
                f"the fixture's records_of({person.email!r}) gives {len(stored[person.email])} records, "
                f"make() was asked for {len(person.labels)}")
        return stored

    @staticmethod
    def labels(text: str) -> set[str]:
        return set(_LABEL.findall(text))

    def assert_erased(self, fixture: SourceFixture, before: dict[str, list[Any]], what: str = "the erase") -> None:
        for person in PEOPLE:
            now = list(fixture.records_of(person))
            if person == SUBJECT:
                assert now == [], f"after {what}, {person.email} still has records: {now!r}"
            else:
                assert now == before[person.email], f"{what} changed the records of {person.email}"

    def assert_one_line_failure(self, result: CliResult, code: int = 3) -> None:
        assert result.code == code, result
        assert "Traceback" not in result.out + result.err, result
        assert result.err.strip(), result
        assert all(len(line) < 1000 for line in result.err.splitlines()), result

    # -- find ------------------------------------------------------------------------------------------
    def test_find_returns_exactly_each_persons_records(self, source_fixture, tmp_path, dsarctl):
        from dsarctl.identity import parse_identifier
        from dsarctl.inventory import load_inventory
        from dsarctl.search import find_subject

        inventory_path = self.build(source_fixture, tmp_path)
        self.stored(source_fixture)
        inventory = load_inventory(inventory_path)
        for person in PEOPLE:
            given = [parse_identifier(text, inventory.identities) for text in self.given(source_fixture, person)]
            result = find_subject(inventory, given)
            assert not result.failures, result.failures
            records = list(result.records())
            found = self.labels(" ".join(json.dumps(r.data, default=str) for r in records))
            assert found == set(person.labels) and len(records) == len(person.labels), (person.email, records)
            self.assert_found_through(records, given)
            for record in records:
                assert record.system == SYSTEM
                json.dumps(record.key)  # the journal keeps keys as JSON: opaque, but serialisable
            cli = dsarctl("-i", str(inventory_path), "find", *self.subject_args(source_fixture, person), "--json")
            assert cli.code == 0, cli
            assert cli.json()["total"] == len(person.labels), cli

    def test_find_given_the_stored_case(self, source_fixture, tmp_path, dsarctl):
        self.skip_if_record_style(source_fixture, "no address is stored, in any case")
        inventory = self.build(source_fixture, tmp_path)
        result = dsarctl("-i", str(inventory), "find", ANN.email.upper(), "--json")
        assert result.code == 0 and result.json()["total"] == len(ANN.labels), result

    def test_nobody_is_found_for_an_unknown_address(self, source_fixture, tmp_path, dsarctl):
        self.skip_if_record_style(source_fixture, "it holds no address to miss, and any value given is a record "
                                                  "(a request that can be sent)")
        inventory = self.build(source_fixture, tmp_path)
        for address in ("oe@example.org", "zoe@example.org.uk", "nobody@example.org"):
            result = dsarctl("-i", str(inventory), "find", address, "--json")
            assert result.code == 1 and result.json()["total"] == 0, (address, result)  # 1: nothing found

    def test_check_connect_passes(self, source_fixture, tmp_path, dsarctl):
        inventory = self.build(source_fixture, tmp_path)
        result = dsarctl("-i", str(inventory), "inventory", "check", "--connect")
        assert result.code == 0, result

    # -- export ----------------------------------------------------------------------------------------
    def test_export_holds_exactly_the_persons_records(self, source_fixture, tmp_path, dsarctl):
        inventory = self.build(source_fixture, tmp_path / "source")
        for person in (ZOE, ANN):
            target = tmp_path / f"{person.labels[0]}.zip"
            result = dsarctl("-i", str(inventory), "export", *self.subject_args(source_fixture, person), "-o",
                             str(target), "--json")
            assert result.code == 0, result
            assert result.json()["total"] == len(person.labels), result
            with zipfile.ZipFile(target) as package:
                names = [n for n in package.namelist() if n.startswith(f"data/{SYSTEM}/")]
                assert names, package.namelist()
                text = " ".join(package.read(n).decode("utf-8", "replace") for n in names)
            assert self.labels(text) == set(person.labels), (person.email, names)
            others = {p.email.lower() for p in PEOPLE if p != person}
            assert not {m.lower() for m in re.findall(r"[\w.+-]+@[\w.-]+", text)} & others

    # -- erase -----------------------------------------------------------------------------------------
    def test_erase_removes_exactly_the_subjects_records(self, erasable, source_fixture, tmp_path, dsarctl):
        inventory = str(self.build(source_fixture, tmp_path, erase="delete"))
        before = self.stored(source_fixture)
        result = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
        assert result.code == 0, result
        report = result.json()
        assert report["status"] == "ok" and report["remaining"] == [] and report["problems"] == [], report
        assert report["plan"]["counts"]["delete"] == len(SUBJECT.labels), report["plan"]
        self.assert_erased(source_fixture, before)
        found = dsarctl("-i", inventory, "find", *self.subject_args(source_fixture, SUBJECT), "--json")
        assert found.code == 1 and found.json()["total"] == 0, found
        again = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
        assert again.code == 0 and again.json()["run"] is None, again
        self.assert_erased(source_fixture, before, "a second erase")
        verified = dsarctl("-i", inventory, "audit", "verify")
        assert verified.code == 0, verified

    def test_erase_dry_run_changes_nothing(self, erasable, source_fixture, tmp_path, dsarctl):
        inventory = str(self.build(source_fixture, tmp_path, erase="delete"))
        before = self.stored(source_fixture)
        result = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--dry-run", "--json")
        assert result.code == 0, result
        assert self.stored(source_fixture) == before

    def test_anonymize_masks_exactly_the_subjects_records(self, erasable, source_fixture, tmp_path, dsarctl):
        field = getattr(source_fixture, "masked_field", None)
        if field is None:
            pytest.skip("the fixture names no masked_field")
        rule = {"action": "anonymize", "fields": {field: "redact"}}
        inventory = str(self.build(source_fixture, tmp_path, erase=rule))
        before = self.stored(source_fixture)
        result = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
        assert result.code == 0, result
        assert result.json()["plan"]["counts"]["anonymize"] == len(SUBJECT.labels), result
        masked = self.stored(source_fixture)  # the subject's records are still there, one per label
        assert masked[SUBJECT.email] != before[SUBJECT.email]
        assert all(a != b for a, b in zip(masked[SUBJECT.email], before[SUBJECT.email])), masked
        assert {k: v for k, v in masked.items() if k != SUBJECT.email} == \
            {k: v for k, v in before.items() if k != SUBJECT.email}
        again = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
        assert again.code == 0, again
        assert self.stored(source_fixture) == masked, "a second erase changed the masked records"

    def test_erase_interrupted_at_each_checkpoint_is_finished_by_the_next(self, erasable, source_fixture,
                                                                          tmp_path, dsarctl):
        points = self.checkpoints(source_fixture, tmp_path / "reference")
        for index, point in enumerate(points):
            inventory = str(self.build(source_fixture, tmp_path / f"crash-{index}", erase="delete"))
            before = self.stored(source_fixture)
            with pytest.raises(Crash):
                self.erase_until(inventory, index, subject=self.given(source_fixture, SUBJECT))
            result = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
            assert result.code == 0, (point, result)
            self.assert_erased(source_fixture, before, f"an erase interrupted at {point}, then run again,")
            again = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
            assert again.code == 0 and again.json()["run"] is None, (point, again)

    @pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")
    def test_erase_killed_in_the_source_is_finished_by_the_next(self, erasable, source_fixture, tmp_path, dsarctl):
        from importlib.metadata import entry_points

        from dsarctl.connectors.registry import BUILTIN
        from dsarctl.sources import ENTRY_POINT_GROUP

        name = erasable.name
        if name not in BUILTIN and name not in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}:
            pytest.skip(f"'{name}' has no entry point: a new process would not find it (pip install -e .)")
        points = self.checkpoints(source_fixture, tmp_path / "reference")
        own = [p for p in points if p not in CORE_CHECKPOINTS]
        point = own[-1] if own else "unit.done"
        inventory = str(self.build(source_fixture, tmp_path / "killed", erase="delete"))
        before = self.stored(source_fixture)
        env = {k: v for k, v in os.environ.items() if k != "DSARCTL_INVENTORY"}
        killed = subprocess.run([sys.executable, "-m", "dsarctl", "-i", inventory, "erase",
                                 *self.subject_args(source_fixture, SUBJECT), "--yes", "--json"],
                                env={**env, "DSARCTL_TEST_KILL_AT": point},
                                capture_output=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr.decode())
        result = dsarctl("-i", inventory, "erase", *self.subject_args(source_fixture, SUBJECT), "--yes", "--json")
        assert result.code == 0, (point, result)
        self.assert_erased(source_fixture, before, f"an erase killed at {point}, then run again,")

    def checkpoints(self, fixture: SourceFixture, folder: Path) -> list[str]:
        """The checkpoints an uninterrupted erase of SUBJECT passes, in order."""
        inventory = str(self.build(fixture, folder, erase="delete"))
        points: list[str] = []
        self.erase_until(inventory, None, points.append, subject=self.given(fixture, SUBJECT))
        assert points, "the erase passed no checkpoint"
        return points

    @staticmethod
    def erase_until(inventory_path: str, index: int | None, seen=None, *, subject: Sequence[str] | None = None
                    ) -> None:
        """Erase SUBJECT (or the identifiers `subject`, `KIND:VALUE` texts) through the library, raising
        Crash at the `index`-th checkpoint."""
        from datetime import datetime, timezone

        from dsarctl.erase import carry_out, prepare
        from dsarctl.identity import parse_identifier
        from dsarctl.inventory import load_inventory

        inventory = load_inventory(inventory_path)
        identifiers = [parse_identifier(text, inventory.identities) for text in subject or [SUBJECT.searched]]
        now = datetime.now(timezone.utc)
        reached = [0]

        def checkpoint(point: str) -> None:
            if seen is not None:
                seen(point)
            if reached[0] == index:
                raise Crash(point)
            reached[0] += 1

        carry_out(inventory, prepare(inventory, [identifiers], now=now), operator="conformance", now=now,
                  checkpoint=checkpoint)

    # -- bad input -------------------------------------------------------------------------------------
    def test_an_unreachable_source_fails_in_one_line(self, source_fixture, source_class, tmp_path, dsarctl):
        from dsarctl.sources import Erasable

        erase = "delete" if issubclass(source_class, Erasable) else None
        record_style = getattr(source_fixture, "record_style", None)
        if record_style and not erase:
            self.skip_if_record_style(source_fixture, "find and export send nothing, and it cannot erase")
        inventory = str(self.build(source_fixture, tmp_path / "source", erase=erase))
        changed = source_fixture.break_source()
        if changed:
            write_inventory(tmp_path / "source", {**self.system, **changed})
        subject = self.subject_args(source_fixture, SUBJECT)
        if not record_style:  # a record-style source is not asked anything before the erase
            found = dsarctl("-i", inventory, "find", *subject)
            self.assert_one_line_failure(found)
            assert len(found.err.strip().splitlines()) == 1 and SYSTEM in found.err, found
            target = tmp_path / "package.zip"
            exported = dsarctl("-i", inventory, "export", *subject, "-o", str(target))
            self.assert_one_line_failure(exported)
            self.assert_one_failed_line(exported)
        if erase:
            erased = dsarctl("-i", inventory, "erase", *subject, "--yes")
            self.assert_one_line_failure(erased)
            self.assert_one_failed_line(erased)

    @staticmethod
    def assert_one_failed_line(result: CliResult) -> None:
        """One `failed:` line for the one system, however many of its collections failed alike."""
        failed = [line for line in result.err.splitlines() if line.startswith("failed: ")]
        assert len(failed) == 1 and failed[0].startswith(f"failed: {SYSTEM}"), result

    def test_an_unknown_key_is_refused_with_its_line(self, source_fixture, tmp_path, dsarctl):
        inventory = str(self.build(source_fixture, tmp_path, no_such_key="x"))
        result = dsarctl("-i", inventory, "find", SUBJECT.searched)
        self.assert_one_line_failure(result, 2)
        assert re.search(r"inventory\.yaml:\d+: .*no_such_key", result.err), result

    def test_an_erase_rule_on_a_source_that_cannot_erase_is_refused(self, source_fixture, source_class,
                                                                    tmp_path, dsarctl):
        from dsarctl.sources import Erasable

        if issubclass(source_class, Erasable):
            pytest.skip(f"{source_class.__name__} is Erasable")
        inventory = str(self.build(source_fixture, tmp_path, erase="delete"))
        result = dsarctl("-i", inventory, "find", SUBJECT.searched)
        self.assert_one_line_failure(result, 2)
        assert re.search(r"inventory\.yaml:\d+: .*cannot erase", result.err), result
