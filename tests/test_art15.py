"""Complete Art. 15 answers: the inventory's Art. 15 keys (automated_decisions, transfers), what `inventory
check` and `export` say is missing, the verified/incomplete marks of the package (the contract with
`letter`), and processor tasks per request type (instructions, always_ask)."""

from __future__ import annotations

import json
import zipfile

import pytest

from helpers import at, one_error_line, write_inventory

# systems start at line 12 of helpers.HEAD's inventory
PEOPLE = """
people:
  connector: csv
  path: people.csv
  identities: {email: email}
  categories: {email: contact details (e-mail address), name: contact details (name)}
  purposes: [accounts]
  erase: delete
mailer:
  connector: manual
  processor: Acme Mail Ltd
  identities: [email]
  instructions:
    access: Ask Acme for a copy of the subscriber record.
    default: Open a ticket with Acme.
"""


@pytest.fixture
def small(tmp_path, cli, monkeypatch):
    """An inventory with little Art. 15 information, and `run(*args)` on it."""
    at(monkeypatch, "2026-02-10T09:00:00Z")
    (tmp_path / "people.csv").write_text("email,name,plan\nann@example.com,Ann,pro\n")
    path = write_inventory(tmp_path, PEOPLE)
    return lambda *args: cli("-i", str(path), *args)


@pytest.fixture
def demo(cli, demo_dir, monkeypatch):
    at(monkeypatch, "2026-02-10T09:00:00Z")
    return lambda *args: cli("-i", str(demo_dir / "inventory.yaml"), *args)


def _zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


# --- inventory check -------------------------------------------------------------------------------------


def test_check_warns_once_per_missing_item_and_exits_0(small):
    result = small("inventory", "check")
    assert result.code == 0, result
    assert result.out == (
        "warning: people: no 'lawful_basis' (stated in the package) (inventory.yaml:12)\n"
        "warning: people: no 'recipients' (Art. 15(1)(c); [] for no one) (inventory.yaml:12)\n"
        "warning: people: no 'retention' (Art. 15(1)(d)) (inventory.yaml:12)\n"
        "warning: people: no 'source' (Art. 15(1)(g)) (inventory.yaml:12)\n"
        "warning: people: no 'automated_decisions' (Art. 15(1)(h); 'none' if none) (inventory.yaml:12)\n"
        "warning: people: no 'transfers' (Art. 15(2); 'none' if none) (inventory.yaml:12)\n"
        "warning: mailer: no 'purposes' (Art. 15(1)(a)) (inventory.yaml:19)\n"
        "warning: mailer: no 'lawful_basis' (stated in the package) (inventory.yaml:19)\n"
        "warning: mailer: no 'recipients' (Art. 15(1)(c); [] for no one) (inventory.yaml:19)\n"
        "warning: mailer: no 'retention' (Art. 15(1)(d)) (inventory.yaml:19)\n"
        "warning: mailer: no 'source' (Art. 15(1)(g)) (inventory.yaml:19)\n"
        "warning: mailer: no 'automated_decisions' (Art. 15(1)(h); 'none' if none) (inventory.yaml:19)\n"
        "warning: mailer: no 'transfers' (Art. 15(2); 'none' if none) (inventory.yaml:19)\n"
        "inventory.yaml is valid: 2 systems, 1 collection\n")
    data = small("inventory", "check", "--json").json()
    assert data["valid"] is True
    assert data["findings"][0] == {"level": "warning", "system": "people",
                                   "message": "no 'lawful_basis' (stated in the package)",
                                   "where": "inventory.yaml:12"}


def test_controller_answers_for_every_system_and_uncategorised_fields_are_named(tmp_path, cli):
    (tmp_path / "people.csv").write_text("email\n")
    path = write_inventory(tmp_path, """
        people:
          connector: csv
          path: people.csv
          identities: {email: email, customer_id: account}
          categories: {email: contact details}
          purposes: [accounts]
          lawful_basis: contract
          recipients: []
          retention: 1 year
          source: the subject
          erase: {action: anonymize, fields: {note: redact}}
          created: joined
        tickets:
          connector: csv
          path: people.csv
          identities: {email: email}
          purposes: [support]
          lawful_basis: contract
          recipients: []
          retention: 1 year
          source: the subject
          transfers: [{country: United States, safeguard: standard contractual clauses}]
    """)
    text = path.read_text().replace("  timezone: Europe/London\n", "  timezone: Europe/London\n"
                                    "  automated_decisions: none\n  transfers: none\n")
    path.write_text(text)
    result = cli("-i", str(path), "inventory", "check")
    assert result.code == 0, result
    assert result.out == (
        "warning: people: fields without a category: account, note, joined (inventory.yaml:18)\n"
        "warning: tickets: no 'categories' (Art. 15(1)(b)) (inventory.yaml:26)\n"
        "inventory.yaml is valid: 2 systems, 2 collections\n")
    rows = {r["system"]: r for r in cli("-i", str(path), "inventory", "show", "--json").json()["systems"]}
    assert (rows["people"]["automated_decisions"], rows["people"]["transfers"]) == (["none"], ["none"])
    assert rows["tickets"]["transfers"] == ["United States (standard contractual clauses)"]


def test_the_demo_inventory_is_art15_complete(demo):
    result = demo("inventory", "check")
    assert result.code == 0, result
    assert result.out == "inventory.yaml is valid: 8 systems, 9 collections\n"
    rows = {r["collection"] or r["system"]: r for r in demo("inventory", "show", "--json").json()["systems"]}
    assert rows["telemetry"]["automated_decisions"] == [
        "Licence enforcement: A licence key seen on more devices at once than the licence allows is suspended "
        "automatically. (significance: The app stops working on the extra devices until the licence is checked.; "
        "consequences: You can ask us to review the suspension; a person checks it and lifts it within one "
        "working day.)"]
    assert rows["newsletter"]["transfers"] == [
        "United States (UK Extension to the EU-US Data Privacy Framework (UK adequacy regulations); "
        "to The Rocket Science Group LLC (Mailchimp))"]
    assert rows["customers"]["transfers"] == ["none"]  # the controller's answer
    header = demo("inventory", "show", "--format", "csv").out.splitlines()[0]
    assert header == ("system,collection,connector,description,categories,purposes,lawful_basis,retention,"
                      "recipients,source,automated_decisions,transfers,erase,owner")


@pytest.mark.parametrize("body, where, message", [
    ("automated_decisions: {logic: scores}", "inventory.yaml:18: systems.people.automated_decisions",
     "an entry of automated_decisions needs 'significance:'"),
    ("automated_decisions: [{logic: a, significance: b, consequences: c, weight: 3}]",
     "inventory.yaml:18: systems.people.automated_decisions[0].weight", "unknown key 'weight' in automated_decisions"),
    ("transfers: [{country: US}]", "inventory.yaml:18: systems.people.transfers[0]",
     "an entry of transfers needs 'safeguard:'"),
    ("transfers: 3", "inventory.yaml:18: systems.people.transfers", "transfers must be 'none' or a list"),
])
def test_bad_art15_keys_name_file_line_and_key(tmp_path, cli, body, where, message):
    (tmp_path / "people.csv").write_text("email\n")
    path = write_inventory(tmp_path, PEOPLE.replace("  purposes: [accounts]\n", f"  purposes: [accounts]\n  {body}\n"))
    result = cli("-i", str(path), "inventory", "check")
    one_error_line(result, f"{where}: {message}")


def test_bad_instructions_name_file_line_and_key(tmp_path, cli):
    path = write_inventory(tmp_path, PEOPLE.replace("    default: Open", "    erasre: Open"))
    one_error_line(cli("-i", str(path), "inventory", "check"),
                   "inventory.yaml:25: systems.mailer.instructions.erasre: unknown request type 'erasre' in "
                   "instructions (one of: access, erasure, rectification, restriction, objection, portability, "
                   "appeal, default)")


# --- the package -----------------------------------------------------------------------------------------


def test_an_unverified_package_says_so(demo, demo_dir):
    target = demo_dir / "a.zip"
    result = demo("export", "alice@example.com", "-o", str(target), "--json")
    assert result.code == 0, result
    assert result.err == (
        "opened request R-2026-0001, received 2026-02-10 (today; give --received DATE when the request arrived "
        "earlier), due 2026-03-10\n"  # issue 20: the request the export opened
        "warning: request R-2026-0001 is not verified: the package is marked unverified and must not be sent "
        "until it is (verify with: dsarctl request verify R-2026-0001 --match FIELD=VALUE, or --method TEXT)\n")
    data = result.json()
    assert (data["verified"], data["incomplete"]) == (False, [])
    files = _zip(target)
    manifest = json.loads(files["manifest.json"])
    assert (manifest["verified"], manifest["incomplete"]) == (False, [])
    index = files["index.html"].decode()
    assert index.count('<div class="box unverified">') == 1
    assert "Draft: identity not verified." in index


def test_a_verified_package_carries_no_banner(demo, demo_dir):
    rid = demo("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    assert demo("request", "verify", rid, "--match", "postcode=BS1 1AA").code == 0
    target = demo_dir / "a.zip"
    result = demo("export", "alice@example.com", "-o", str(target))
    assert (result.code, result.err) == (0, "")
    files = _zip(target)
    manifest = json.loads(files["manifest.json"])
    assert (manifest["request_id"], manifest["verified"], manifest["incomplete"]) == (rid, True, [])
    index = files["index.html"].decode()
    assert '<div class="box unverified">' not in index
    # Art. 15(1)(h) and 15(2) as the subject reads them
    assert ("<dt>Automated decisions</dt><dd><strong>Licence enforcement</strong>: A licence key seen on more "
            "devices at once than the licence allows is suspended automatically.") in index
    assert ("<dt>Transfers outside the UK/EEA</dt><dd>United States (The Rocket Science Group LLC (Mailchimp)): "
            "UK Extension to the EU-US Data Privacy Framework (UK adequacy regulations)</dd>") in index
    assert "not yet described" not in index and "not recorded" not in index


def test_an_incomplete_package_names_what_is_missing(small, tmp_path):
    # a system where nothing of her is found is only listed as searched: what it lacks is not in her package
    (tmp_path / "other.csv").write_text("email\nbob@example.com\n")
    path = tmp_path / "inventory.yaml"
    path.write_text(path.read_text() + "  other:\n    connector: csv\n    path: other.csv\n"
                                       "    identities: {email: email}\n")
    target = tmp_path / "ann.zip"
    result = small("export", "ann@example.com", "-o", str(target))
    assert result.code == 0, result
    missing = ["people.lawful_basis", "people.recipients", "people.retention", "people.source",
               "people.automated_decisions", "people.transfers", "mailer.purposes", "mailer.lawful_basis",
               "mailer.recipients", "mailer.retention", "mailer.source", "mailer.automated_decisions",
               "mailer.transfers"]
    assert result.err.splitlines()[2] == (  # after the request it opened and that it is not verified
        "warning: Art. 15 information missing from the inventory, shown as 'not recorded' in the package: "
        + ", ".join(missing) + " (see: dsarctl inventory check)")
    files = _zip(target)
    manifest = json.loads(files["manifest.json"])
    assert (manifest["verified"], manifest["incomplete"]) == (False, missing)
    index = files["index.html"].decode()
    assert "<dt>Automated decisions</dt><dd>not recorded</dd>" in index
    # a field the categories do not describe is named as such, not shown as if it were described
    assert ("Kinds of data: contact details (e-mail address), contact details (name); other fields we hold, "
            "not yet described: plan") in index


# --- processor tasks ----------------------------------------------------------------------------------------


def _tasks(run) -> list[tuple[str, str, str]]:
    return [(t["request_id"], t["system"], t["instructions"]) for t in run("task", "list", "--json").json()["tasks"]]


def test_tasks_take_the_instruction_of_the_request_type(small, tmp_path):
    assert small("export", "ann@example.com", "-o", str(tmp_path / "a.zip")).code == 0
    assert small("request", "new", "ann@example.com", "--type", "rectification").code == 0
    assert small("find", "ann@example.com", "--request", "R-2026-0002").code == 0
    assert small("erase", "ann@example.com", "--yes").code == 0
    assert _tasks(small) == [("R-2026-0001", "mailer", "Ask Acme for a copy of the subscriber record."),
                             ("R-2026-0002", "mailer", "Open a ticket with Acme."),
                             ("R-2026-0003", "mailer", "Open a ticket with Acme.")]


def test_a_processor_without_an_instruction_for_a_request_type_is_named(tmp_path, cli, monkeypatch):
    # only `instructions: {erasure: ...}`: inventory check was silent and the access task showed nothing
    at(monkeypatch, "2026-02-10T09:00:00Z")
    (tmp_path / "people.csv").write_text("email,name,plan\nann@example.com,Ann,pro\n")
    path = write_inventory(tmp_path, PEOPLE.replace(
        "    access: Ask Acme for a copy of the subscriber record.\n    default: Open a ticket with Acme.\n",
        "    erasure: Delete the subscriber in Acme's console.\n").replace(
        "  identities: [email]\n  instructions:", "  identities: [email]\n  always_ask: true\n  instructions:"))
    run = lambda *args: cli("-i", str(path), *args)  # noqa: E731
    result = run("inventory", "check")
    assert result.code == 0, result
    warnings = [line for line in result.out.splitlines() if "instruction" in line]
    assert warnings == ["warning: mailer: no instruction for access (instructions: {access: ...} or default): its "
                        "access tasks would not say what to do (inventory.yaml:19)"]
    assert run("export", "ann@example.com", "-o", str(tmp_path / "a.zip")).code == 0
    listed = run("task", "list")
    assert listed.code == 0, listed
    assert listed.out.splitlines()[-1] == "task 1 (mailer): no instruction for access in the inventory"
    [task] = run("task", "list", "--json").json()["tasks"]
    assert (task["instructions"], task["request_type"]) == (None, "access")
    found = run("find", "ann@example.com")
    assert "  no instruction for access in the inventory\n" in found.out, found.out
    # no instructions at all: one warning per request type it is asked about
    (tmp_path / "bare").mkdir()
    path = write_inventory(tmp_path / "bare", PEOPLE.split("  instructions:")[0])
    (tmp_path / "bare" / "people.csv").write_text("email,name,plan\nann@example.com,Ann,pro\n")
    warnings = [line for line in run("inventory", "check").out.splitlines() if "instruction" in line]
    assert [w.split(": ")[2].split(" (")[0] for w in warnings] == ["no instruction for access",
                                                                   "no instruction for erasure"]
    plan = run("erase", "ann@example.com", "--dry-run")
    assert "  no instruction for erasure in the inventory\n" in plan.out, plan.out


def test_demo_processor_access_and_erasure_instructions(demo, demo_dir):
    assert demo("export", "bob@example.net", "-o", str(demo_dir / "b.zip")).code == 0
    manifest = json.loads(_zip(demo_dir / "b.zip")["manifest.json"])
    task = next(s["task"] for s in manifest["systems"] if s["system"] == "analytics")
    assert task["instructions"].startswith("In Analytics Admin > User explorer, export")
    assert task["needed"] is True
    assert demo("erase", "bob@example.net", "--yes").code == 0
    assert [i[2].split(",")[0] for i in _tasks(demo)] == [
        "In Analytics Admin > User explorer", "In Analytics Admin > Data deletion requests"]


def test_no_task_when_nothing_was_found_unless_always_ask(small, tmp_path):
    assert small("export", "nobody@example.com", "-o", str(tmp_path / "n.zip")).code == 1
    assert small("erase", "nobody@example.com", "--yes").code == 0
    assert _tasks(small) == []
    found = small("find", "nobody@example.com", "--json")
    assert [s["task"]["needed"] for s in found.json()["systems"] if s["system"] == "mailer"] == [False]
    assert "Manual task" not in small("find", "nobody@example.com").out
    assert "Manual task — mailer: Acme Mail Ltd" in small("find", "ann@example.com").out
    path = tmp_path / "inventory.yaml"
    path.write_text(path.read_text().replace("    processor: Acme Mail Ltd\n",
                                             "    processor: Acme Mail Ltd\n    always_ask: true\n"))
    assert small("export", "nobody@example.com", "-o", str(tmp_path / "n.zip")).code == 1
    assert small("erase", "nobody@example.com", "--yes").code == 0
    assert "Manual task — mailer: Acme Mail Ltd" in small("find", "nobody@example.com").out
    assert _tasks(small) == [("R-2026-0001", "mailer", "Ask Acme for a copy of the subscriber record."),
                             ("R-2026-0002", "mailer", "Open a ticket with Acme.")]


def test_the_package_states_the_rights_and_authority_of_the_requests_regime(demo, demo_dir):
    """A UK controller answering a Virginia consumer, or an EU resident under the GDPR: the package names
    whom they may complain to under their law (as the letters do), not the controller's own authority."""
    rid = demo("request", "new", "alice@example.com", "--type", "access", "--regime", "us-va", "--json").json()["id"]
    assert demo("export", "alice@example.com", "--request", rid, "-o", str(demo_dir / "va.zip")).code == 0
    index = _zip(demo_dir / "va.zip")["index.html"].decode()
    assert ("If you are unhappy with how we handle your data, you can complain to\nthe Virginia Attorney General."
            in index)
    assert "Information Commissioner" not in index and "Art. 15" not in index.split("<h2>Your rights</h2>")[1]
    demo("request", "close", rid)
    rid = demo("request", "new", "alice@example.com", "--type", "access", "--regime", "eu-gdpr",
               "--json").json()["id"]
    assert demo("export", "alice@example.com", "--request", rid, "-o", str(demo_dir / "eu.zip")).code == 0
    index = _zip(demo_dir / "eu.zip")["index.html"].decode()
    assert ('you can complain to\n<a href="https://www.edpb.europa.eu/about-edpb/about-edpb/members_en">the data '
            "protection authority of the EU/EEA country where you live, work, or where the alleged infringement "
            "took place</a>") in index
    assert "<strong>Access (Art. 15)</strong>" in index
    # the controller's own regime: the inventory's authority, as before
    demo("request", "close", rid)
    rid = demo("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    assert demo("export", "alice@example.com", "--request", rid, "-o", str(demo_dir / "uk.zip")).code == 0
    assert "https://ico.org.uk/make-a-complaint/" in _zip(demo_dir / "uk.zip")["index.html"].decode()


def test_the_response_letter_names_only_the_processors_that_were_asked(small, tmp_path):
    from email import policy
    from email.parser import BytesParser

    def letter(rid: str, name: str) -> str:
        result = small("letter", rid, "--kind", "response", "-o", str(tmp_path / name))
        assert result.code == 0, result
        with open(tmp_path / name, "rb") as f:
            return BytesParser(policy=policy.default).parse(f).get_body(("plain",)).get_content()

    assert small("export", "nobody@example.com", "-o", str(tmp_path / "n.zip")).code == 1
    text = letter("R-2026-0001", "nobody.eml")
    assert "found no personal data about you.\n\nIf you are not satisfied" in text
    assert "Acme" not in text
    assert small("export", "ann@example.com", "-o", str(tmp_path / "a.zip")).code == 0
    assert ("We have also asked these service providers for the data they hold for us about you, and will send it "
            "on when we receive it:\n- Acme Mail Ltd\n") in letter("R-2026-0002", "ann.eml")
