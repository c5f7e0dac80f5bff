"""`dsarctl letter`: every kind written as an .eml draft and read back with the standard library's e-mail
parser, the regimes' dates and authorities, company templates, the package gate, the extend gate."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from helpers import one_error_line, write_inventory

NOW = "2026-02-10T09:00:00Z"


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    """`dsarctl -i <demo inventory> ARGS` in the demo folder at 2026-02-10 09:00 UTC, as operator ann."""
    monkeypatch.setenv("DSARCTL_NOW", NOW)
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    monkeypatch.chdir(demo_dir)
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


def parse(path):
    with open(path, "rb") as f:
        return BytesParser(policy=policy.default).parse(f)


def parts(msg) -> tuple[str, str]:
    """(plain text, HTML) of a letter, from its multipart/alternative."""
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def events(run, request: str, kind: str | None = None) -> list[dict]:
    result = run("audit", "log", "--request", request, "--json")
    assert result.code == 0, result
    return [e for e in result.json()["events"] if kind is None or e["kind"] == kind]


def new(run, subject: str, type_: str, received: str = "2026-01-31", *extra: str) -> str:
    result = run("request", "new", subject, "--type", type_, "--received", received, "--json", *extra)
    assert result.code == 0, result
    return result.json()["id"]


# --- the draft and its record ----------------------------------------------------------------------------


def test_acknowledge_is_a_draft_with_both_parts_recorded_by_its_hash(run, demo_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # piped: each line whole, whatever COLUMNS says (output.py)
    rid = new(run, "Alice@Example.com", "access")
    result = run("letter", rid, "--kind", "acknowledge")
    assert result.code == 0, result
    assert result.out == (f"Wrote letter-{rid}-acknowledge.eml (acknowledge letter for {rid} to alice@example.com)\n"
                          f"Subject: We have received your request ({rid})\n")
    path = demo_dir / f"letter-{rid}-acknowledge.eml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    msg = parse(path)
    assert msg["From"] == "Northwind Software Ltd <privacy@northwind.example>"
    assert msg["To"] == "alice@example.com"
    assert msg["Subject"] == f"We have received your request ({rid})"
    assert parsedate_to_datetime(msg["Date"]).isoformat() == "2026-02-10T09:00:00+00:00"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@northwind.example>")
    assert msg["X-Unsent"] == "1"  # Outlook and Thunderbird open it as a draft to send
    assert msg.get_content_type() == "multipart/alternative"
    text, html = parts(msg)
    # uk-gdpr, received Saturday 2026-01-31: one month is 2026-02-28 (a Saturday), rolled to Monday 2 March
    assert "We received your request for a copy of your personal data on 31 January 2026." in text
    assert "We will answer by 2 March 2026.\n" in text
    assert ("Before we act on it, we may need to confirm that the request comes from you. If so, we will ask only "
            "for details we already hold, such as your postcode or the number of your last order, not for new "
            "documents. Under the UK GDPR, the one month we have to answer then starts again on the day we have "
            "confirmed your identity, and we will tell you the new date.\n\nIf your request turns out") in text
    assert ("the UK GDPR allows us to take up to two months more. We would tell you so, with our reasons, "
            "by 28 February 2026.") in text
    assert "<p>We will answer by 2 March 2026.</p>" in html
    assert html.startswith("<!DOCTYPE html>") and "<title>We have received your request" in html
    [event] = events(run, rid, "letter.acknowledge")
    assert event["data"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event["data"]["sent"] is False and event["data"]["template"] == "shipped"
    assert "alice" not in json.dumps(event)  # the log keeps the hash, never the address or the body
    assert run("audit", "verify").code == 0


def test_a_letter_never_replaces_a_file(run, demo_dir):
    rid = new(run, "alice@example.com", "access")
    (demo_dir / "mine.eml").write_bytes(b"keep me")
    result = run("letter", rid, "--kind", "acknowledge", "-o", "mine.eml")
    one_error_line(result, "mine.eml already exists; a letter never overwrites a file")
    assert (demo_dir / "mine.eml").read_bytes() == b"keep me"
    assert events(run, rid, "letter.acknowledge") == []
    assert run("letter", rid, "--kind", "acknowledge", "-o", "mine2.eml").code == 0
    one_error_line(run("letter", rid, "--kind", "acknowledge", "-o", "mine2.eml"), "already exists")
    assert len(events(run, rid, "letter.acknowledge")) == 1
    assert sorted(p.name for p in demo_dir.iterdir() if "eml" in p.name) == ["mine.eml", "mine2.eml"]


def test_unknown_kind_request_and_missing_address(run):
    rid = new(run, "alice@example.com", "access")
    one_error_line(run("letter", rid, "--kind", "thanks"), "--kind: unknown letter 'thanks' (one of: acknowledge, "
                                                          "verify, clarify, extend, response, refuse)")
    # a near miss gets a "did you mean", as every choice does (issue 20)
    one_error_line(run("letter", rid, "--kind", "acknowlege"), "--kind: unknown letter 'acknowlege'; did you mean "
                                                               "'acknowledge'?")
    one_error_line(run("letter", "R-2026-0099", "--kind", "verify"), "unknown request id 'R-2026-0099'")
    cid = new(run, "customer_id:1042", "access")
    one_error_line(run("letter", cid, "--kind", "verify"), f"request {cid} has no e-mail address: give the "
                                                           "recipient with --to ADDRESS")
    result = run("letter", cid, "--kind", "verify", "--to", "Alice <alice@example.com>", "--json")
    assert result.code == 0, result
    assert result.json()["to"] == "Alice <alice@example.com>"
    one_error_line(run("letter", cid, "--kind", "verify", "--to", "alice at example"),
                   "--to: 'alice at example' is not an e-mail address")


@pytest.mark.parametrize("to, error", [
    ("alice@example.com, attacker@evil.example", "names 2 addresses; a letter goes to exactly one"),
    ("<alice@example.com> <attacker@evil.example>", "names 2 addresses; a letter goes to exactly one"),
    ("alice@example.com; attacker@evil.example", "names 2 addresses; a letter goes to exactly one"),
    ("alice@example.com attacker@evil.example", "names 2 addresses; a letter goes to exactly one"),
    ('"alice@example.com" <attacker@evil.example>', "names 2 addresses; a letter goes to exactly one"),
    (" , ", "is not an e-mail address"),
])
def test_to_is_exactly_one_address(run, demo_dir, to, error):
    # a second address was dropped in silence (To: alice@example.com, exit 0): refused, nothing written
    rid = new(run, "alice@example.com", "access")
    one_error_line(run("letter", rid, "--kind", "acknowledge", "--to", to), f"--to: '{to}' {error}")
    assert not (demo_dir / f"letter-{rid}-acknowledge.eml").exists()
    assert events(run, rid, "letter.acknowledge") == []
    result = run("letter", rid, "--kind", "acknowledge", "--to", '"Smith, Alice" <Alice@Example.com>', "--json")
    assert result.code == 0, result
    assert parse(demo_dir / result.json()["file"])["To"].addresses[0].addr_spec == "alice@example.com"
    # the same address in the display name is one address, not two
    again = run("letter", rid, "--kind", "clarify", "--to", '"Alice (alice@example.com)" <Alice@Example.com>', "--json")
    assert again.code == 0, again


@pytest.mark.parametrize("kind, extra, subject, sentences", [
    ("verify", [], "Please confirm it is you", [
        "we need to be sure that we are dealing with you, so that your personal data goes to you and nobody else.",
        "We do not need any new documents.",
        "Under the UK GDPR, the one month we have to answer starts when we have confirmed your identity."]),
    ("clarify", ["--reason", "Which of your two accounts do you mean?"], "A question about your request", [
        "we need to know more:\n\nWhich of your two accounts do you mean?\n",
        "Under the UK GDPR, the time we have to answer stops from today until we receive your reply."]),
    ("extend", ["--reason", "Your data is held in eight systems, two run by processors."],
     "More time is needed for your request", [
         "for these reasons:\n\nYour data is held in eight systems, two run by processors.\n",
         "The UK GDPR allows us to extend the time to answer by up to two months (UK GDPR Art. 12(3), 12A). "
         "We will now answer by 30 April 2026.",
         "If you are not satisfied with how we have handled your request, please tell us by replying to this "
         "e-mail. You also have the right to complain to a data protection supervisory authority: Information "
         "Commissioner's Office (ICO) (https://ico.org.uk/make-a-complaint/)."]),
    ("refuse", ["--reason", "We could not confirm your identity."], "Our decision on your request", [
        "we are not able to act on it, for this reason:\n\nWe could not confirm your identity.\n",
        "You also have the right to complain to a data protection supervisory authority: Information Commissioner's "
        "Office (ICO) (https://ico.org.uk/make-a-complaint/).\nYou may also take the matter to court (a judicial remedy, UK GDPR Art. 79)."]),
    ("response", [], "Our answer to your request", [
        "This is our answer to your request for a copy of your personal data, received on 31 January 2026.",
        "Reference: R-2026-0001"]),
])
def test_every_kind_reads_back(run, demo_dir, kind, extra, subject, sentences):
    rid = new(run, "alice@example.com", "access")
    if kind == "response":  # an access request's answer reports its export
        assert run("export", "alice@example.com", "--request", rid, "-o", "alice.zip").code == 0
    result = run("letter", rid, "--kind", kind, *extra, "--json")
    assert result.code == 0, result
    data = result.json()
    assert (data["request"], data["kind"], data["to"], data["sent"]) == (rid, kind, "alice@example.com", False)
    assert data["subject"] == f"{subject} ({rid})"
    raw = (demo_dir / data["file"]).read_bytes()
    assert data["sha256"] == hashlib.sha256(raw).hexdigest() and data["bytes"] == len(raw)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Subject"] == data["subject"]
    text, html = parts(msg)
    for sentence in sentences:
        assert sentence in text, text
    assert text.endswith("\n\nKind regards,\nNorthwind Software Ltd\nprivacy@northwind.example\n"
                         "1 Harbour Street, Bristol BS1 4XX, United Kingdom\nReference: R-2026-0001\n")
    assert "Northwind Software Ltd<br>" in html
    [event] = events(run, rid, f"letter.{kind}")
    assert event["data"]["sha256"] == data["sha256"]
    if kind in ("extend", "refuse"):
        assert event["data"]["reason"] == extra[1]


def test_html_is_escaped_and_text_is_not(run, demo_dir):
    rid = new(run, "alice@example.com", "erasure")
    reason = 'Your message said <script>alert("x")</script> & asked for "everything"'
    result = run("letter", rid, "--kind", "refuse", "--reason", reason, "--json")
    assert result.code == 0, result
    text, html = parts(parse(demo_dir / result.json()["file"]))
    assert f"\n{reason}\n" in text
    assert "<script>" not in html
    assert ("<p>Your message said &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; asked for "
            "&#34;everything&#34;</p>") in html


def test_refuse_takes_the_recorded_refusal_and_needs_a_reason(run, demo_dir):
    rid = new(run, "alice@example.com", "erasure")
    one_error_line(run("letter", rid, "--kind", "refuse"), "--reason: a refusal letter must give the reason")
    assert run("request", "deny", rid, "--reason", "The account is still under contract.").code == 0
    result = run("letter", rid, "--kind", "refuse", "--json")
    assert result.code == 0, result
    text, _ = parts(parse(demo_dir / result.json()["file"]))
    assert "for this reason:\n\nThe account is still under contract.\n" in text
    one_error_line(run("letter", rid, "--kind", "extend", "--reason", "x"),
                   f"request {rid} is denied: there is no extend letter to write")
    other = new(run, "bob@example.net", "access")
    assert run("request", "verify", other, "--method", "reply from the account address").code == 0
    one_error_line(run("letter", other, "--kind", "verify"),
                   f"request {other} is already verified (2026-02-10): there is no verify letter to write")


# --- regimes: deadlines and authorities --------------------------------------------------------------------


def test_us_state_refusal_offers_the_appeal_and_names_the_attorney_general(run, demo_dir, monkeypatch):
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", "us-va")
    assert run("request", "deny", rid, "--reason", "We hold no data about you under this address.").code == 0
    result = run("letter", rid, "--kind", "refuse", "--json")
    assert result.code == 0, result
    text, _ = parts(parse(demo_dir / result.json()["file"]))
    assert ("You may appeal this decision: reply to this e-mail saying that you appeal, and quote the reference "
            f"{rid}. We will answer your appeal within 60 days of receiving it. If we deny your appeal, you may "
            "submit a complaint to the Virginia Attorney General.") in text
    assert "Information Commissioner" not in text
    # the appeal's own refusal: no second appeal, the attorney general
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-11T09:00:00Z")
    appeal = new(run, "alice@example.com", "appeal", "2026-02-10T10:00:00+00:00", "--appeal-of", rid)
    result = run("letter", appeal, "--kind", "refuse", "--reason", "The refusal stands.", "--json")
    assert result.code == 0, result
    text, _ = parts(parse(demo_dir / result.json()["file"]))
    msg = parse(demo_dir / result.json()["file"])
    assert msg["Subject"] == f"Our decision on your appeal ({appeal})"
    assert (f"We have reviewed your appeal of our decision on your request {rid}, received on 10 February 2026, "
            "and we are not able to change our decision, for this reason:\n\nThe refusal stands.\n") in text
    assert ("This is our final answer to your appeal. If you disagree with it, you may submit a complaint to the "
            "Virginia Attorney General, who enforces the Virginia Consumer Data Protection Act.") in text
    assert "You may appeal" not in text


def test_us_ca_acknowledgement_and_complaint_to_the_cppa(run, demo_dir):
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", "us-ca")
    result = run("letter", rid, "--kind", "acknowledge", "--json")
    text, _ = parts(parse(demo_dir / result.json()["file"]))
    # 45 calendar days from 2026-02-02, no roll; extension notice due with the first period
    assert "We will answer by 19 March 2026.\n" in text
    assert ("the California Consumer Privacy Act (CCPA) allows us to take up to 45 days more. We would tell you "
            "so, with our reasons, by 19 March 2026.") in text
    result = run("letter", rid, "--kind", "refuse", "--reason", "No data.", "--json")
    text, _ = parts(parse(demo_dir / result.json()["file"]))
    assert ("please tell us by replying to this e-mail. You may also contact the California Privacy Protection "
            "Agency (CPPA) or the California Attorney General (https://cppa.ca.gov/webapplications/complaint), "
            "which enforce the California Consumer Privacy Act (CCPA).") in text


def test_eu_gdpr_names_the_lead_authority_of_the_inventory_and_uk_gdpr_the_ico(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", NOW)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("email\nalice@example.com\n")
    (tmp_path / "inventory.yaml").write_text(
        "version: 1\n"
        "controller:\n"
        "  name: Ostwind GmbH\n"
        "  contact: datenschutz@ostwind.example\n"
        "  timezone: Europe/Berlin\n"
        "  regime: eu-gdpr\n"
        "  holidays: DE-BE\n"
        "  dpo: dpo@ostwind.example\n"
        "  authority: {name: Berliner Beauftragte für Datenschutz und Informationsfreiheit, "
        "url: 'https://www.datenschutz-berlin.de/'}\n"
        "identities:\n  email: {type: email}\n"
        "systems:\n  people:\n    connector: csv\n    path: people.csv\n    identities: {email: email}\n")
    run = lambda *args: cli("-i", str(tmp_path / "inventory.yaml"), *args)  # noqa: E731
    rid = new(run, "alice@example.com", "access", "2026-01-20")
    result = run("letter", rid, "--kind", "refuse", "--reason", "Manifestly excessive.", "--json")
    assert result.code == 0, result
    msg = parse(tmp_path / result.json()["file"])
    text, html = parts(msg)
    assert msg["From"] == "Ostwind GmbH <datenschutz@ostwind.example>"
    assert msg["Date"] == "Tue, 10 Feb 2026 10:00:00 +0100"  # now, in the controller's zone
    assert ("You also have the right to complain to a data protection supervisory authority: Berliner Beauftragte für "
            "Datenschutz und Informationsfreiheit (https://www.datenschutz-berlin.de/).") in text
    assert "You may also take the matter to court (a judicial remedy, GDPR Art. 79)." in text
    assert "Data protection officer: dpo@ostwind.example" in text
    assert '<a href="https://www.datenschutz-berlin.de/">https://www.datenschutz-berlin.de/</a>' in html
    uk = new(run, "alice@example.com", "erasure", "2026-01-20", "--regime", "uk-gdpr")
    result = run("letter", uk, "--kind", "refuse", "--reason", "Kept by law.", "--json")
    text, _ = parts(parse(tmp_path / result.json()["file"]))
    assert ("a data protection supervisory authority: the Information Commissioner's Office (ICO) "
            "(https://ico.org.uk/make-a-complaint/).") in text


# --- the response: the last run ----------------------------------------------------------------------------


def test_erasure_report_counts_what_was_erased_and_why_some_is_kept(run, demo_dir):
    rid = new(run, "alice@example.com", "erasure", "2026-02-01")
    assert run("erase", "alice@example.com", "--yes", "--request", rid).code == 0
    result = run("letter", rid, "--kind", "response", "--json")
    assert result.code == 0, result
    text, html = parts(parse(demo_dir / result.json()["file"]))
    run_summary = [e for e in events(run, rid) if e["kind"] == "run.erase"][0]["data"]["summary"]
    counts = run_summary["counts"]
    assert f"On 10 February 2026 we erased your personal data from our systems:\n\n- {counts['delete']} records " \
           "deleted\n" in text
    assert f"- {counts['anonymize']} records anonymised (what identified you was removed)\n" in text
    retained = [r for r in run_summary["remaining"] if r["status"] == "retained"]
    assert retained
    for r in retained:
        assert f"{r['count']} record{'s' if r['count'] != 1 else ''} kept until 18 July 2032. Why: {r['reason']}" \
            in text
    assert "We have asked these service providers to erase the data they hold for us about you:\n" \
           "- Google Ireland Ltd (Google Analytics)\n" in text
    assert "<li>" in html and "Why: Invoices must be kept 6 years (HMRC)</li>" in html


@pytest.mark.parametrize("type_, step", [("access", "export"), ("portability", "export"), ("erasure", "erase")])
def test_a_response_needs_the_step_that_answers_the_request(run, demo_dir, type_, step):
    # an access request never exported got a response holding no data (exit 0)
    rid = new(run, "alice@example.com", type_)
    article = "a" if type_ == "portability" else "an"
    one_error_line(run("letter", rid, "--kind", "response"),
                   f"request {rid} is {article} {type_} request and no {step} of it is recorded: a response reports "
                   f"what the {step} found; run it first (dsarctl {step} SUBJECT --request {rid})")
    assert not (demo_dir / f"letter-{rid}-response.eml").exists()
    assert events(run, rid, "letter.response") == []
    # another request's run does not answer this one
    other = new(run, "alice@example.com", type_, "2026-01-30", "--allow-duplicate")
    assert run(step, "alice@example.com", "--request", other, *(("--yes",) if step == "erase" else ("-o", "a.zip"))
               ).code == 0
    one_error_line(run("letter", rid, "--kind", "response"), f"no {step} of it is recorded")
    assert run("letter", other, "--kind", "response").code == 0


# --- the access package: verified and complete only --------------------------------------------------------


def _export(run, demo_dir, rid: str, subject: str = "erin@example.com", name: str = "package.zip"):
    result = run("export", subject, "--request", rid, "-o", name, "--json")
    assert result.code == 0, result
    return demo_dir / name


def test_package_goes_only_to_a_verified_requester(run, demo_dir):
    rid = new(run, "erin@example.com", "access", "2026-02-01")
    package = _export(run, demo_dir, rid)
    result = run("letter", rid, "--kind", "response", "--package")
    one_error_line(result, f"request {rid} is not verified: an access package goes only to a verified requester. "
                           f"Verify first (dsarctl request verify {rid}), or send anyway with --unverified "
                           "--reason TEXT (recorded in the audit log)")
    assert not (demo_dir / f"letter-{rid}-response.eml").exists()
    # the same zip attached by path is recognised by its hash: the gate holds
    one_error_line(run("letter", rid, "--kind", "response", "--attach", str(package)), "is not verified")
    one_error_line(run("letter", rid, "--kind", "response", "--package", "--unverified"),
                   "--unverified needs --reason")
    assert events(run, rid, "letter.response") == []
    # verified after the export: that package still says "Draft: identity not verified"; a new export goes
    assert run("request", "verify", rid, "--method", "reply from account e-mail").code == 0
    one_error_line(run("letter", rid, "--kind", "response", "--package"),
                   f"package.zip was exported before request {rid} was verified and is marked as an unverified "
                   f"draft: export again (dsarctl export SUBJECT --request {rid}), or send it anyway with "
                   "--unverified --reason TEXT (recorded in the audit log)")
    package.unlink()
    package = _export(run, demo_dir, rid)
    result = run("letter", rid, "--kind", "response", "--package", "--json")
    assert result.code == 0, result
    msg = parse(demo_dir / result.json()["file"])
    assert msg.get_content_type() == "multipart/mixed"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "package.zip" and attachment.get_content_type() == "application/zip"
    assert attachment.get_content() == package.read_bytes()
    text, _ = parts(msg)
    assert "found 2 records about you:\n\n- Newsletter subscribers" in text
    assert "They are all in the attached file package.zip. Open index.html inside it" in text
    [event] = events(run, rid, "letter.response")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    assert event["data"]["package_sha256"] == digest and event["data"]["attachments"] == [digest]
    assert "unverified_reason" not in event["data"]


def test_unverified_package_with_a_reason_is_recorded(run, demo_dir):
    rid = new(run, "erin@example.com", "access", "2026-02-01")
    package = _export(run, demo_dir, rid)
    result = run("letter", rid, "--kind", "response", "--package", "--unverified", "--reason",
                 "Identity confirmed by phone call to the number on the account", "--json")
    assert result.code == 0, result
    [event] = events(run, rid, "letter.response")
    assert event["data"]["unverified_reason"] == "Identity confirmed by phone call to the number on the account"
    assert event["data"]["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()


def _recipient_hash(demo_dir, address: str) -> str:
    import hmac

    [key] = demo_dir.rglob("secret.key")
    return hmac.new(key.read_bytes(), f"recipient:{address}".encode(), hashlib.sha256).hexdigest()


def test_the_subjects_data_goes_only_to_the_subjects_address(run, demo_dir):
    # an acceptance test sent a verified subject's package to any --to address, and the log did not say so
    rid = new(run, "erin@example.com", "access", "2026-02-01")
    assert run("request", "verify", rid, "--method", "reply from account e-mail").code == 0
    package = _export(run, demo_dir, rid)
    result = run("letter", rid, "--kind", "response", "--package", "--to", "attacker@evil.example")
    one_error_line(result, f"--to: attacker@evil.example is not an e-mail address of request {rid}'s subject, and "
                           "this letter carries their data: leave out --to to write to the subject, or send it "
                           "anyway with --to-other --reason TEXT (recorded in the audit log)")
    # a response without the package, or another attachment, tells the subject's data too
    one_error_line(run("letter", rid, "--kind", "response", "--to", "Eve <eve@evil.example>"),
                   "eve@evil.example is not an e-mail address of request")
    (demo_dir / "notes.txt").write_text("Erin's records\n")
    one_error_line(run("letter", rid, "--kind", "acknowledge", "--attach", "notes.txt", "--to", "eve@evil.example"),
                   "eve@evil.example is not an e-mail address of request")
    one_error_line(run("letter", rid, "--kind", "response", "--package", "--to", "eve@evil.example", "--to-other"),
                   "--to-other needs --reason: why the subject's data may go to that address")
    assert sorted(p.name for p in demo_dir.glob("*.eml")) == []
    assert [e for e in events(run, rid) if e["kind"].startswith("letter.")] == []
    # the subject's own address, in any case or with a name: no override needed, recorded as the subject's
    result = run("letter", rid, "--kind", "response", "--package", "--to", "Erin <ERIN@Example.com>", "--json")
    assert result.code == 0, result
    assert result.json()["to_subject"] is True
    [event] = events(run, rid, "letter.response")
    assert event["data"]["to_subject"] is True and "to_other_reason" not in event["data"]
    assert event["data"]["to_hash"] == _recipient_hash(demo_dir, "erin@example.com")
    # an authorised agent: sent with a reason, which the log keeps beside the recipient's keyed hash
    result = run("letter", rid, "--kind", "response", "--package", "--to", "Agent <Agent@Lawyers.example>",
                 "--to-other", "--reason", "Authorised agent, signed mandate on file", "-o", "agent.eml", "--json")
    assert result.code == 0, result
    assert result.json()["to_subject"] is False
    assert parse(demo_dir / "agent.eml")["To"].addresses[0].addr_spec == "agent@lawyers.example"
    event = events(run, rid, "letter.response")[-1]
    assert event["data"]["to_subject"] is False
    assert event["data"]["to_other_reason"] == "Authorised agent, signed mandate on file"
    assert event["data"]["to_hash"] == _recipient_hash(demo_dir, "agent@lawyers.example")
    assert event["data"]["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert "lawyers" not in json.dumps(event).lower() and "erin" not in json.dumps(event).lower()
    shown = run("audit", "log", "--request", rid)
    assert "to an address not the subject's: Authorised agent, signed mandate on file" in shown.out, shown.out
    # a letter that carries no data may go elsewhere, and says where it went
    result = run("letter", rid, "--kind", "acknowledge", "--to", "agent@lawyers.example")
    assert result.code == 0, result
    [event] = events(run, rid, "letter.acknowledge")
    assert event["data"]["to_subject"] is False
    assert event["data"]["to_hash"] == _recipient_hash(demo_dir, "agent@lawyers.example")


def test_a_request_without_an_address_sends_data_only_with_a_reason(run, demo_dir):
    rid = new(run, "customer_id:1042", "rectification")
    one_error_line(run("letter", rid, "--kind", "response", "--to", "alice@example.com"),
                   f"--to: request {rid} has no e-mail address of its own, so alice@example.com cannot be told to "
                   "be the subject's, and this letter carries their data: send it anyway with --to-other --reason "
                   "TEXT (recorded in the audit log)")
    result = run("letter", rid, "--kind", "response", "--to", "alice@example.com", "--to-other", "--reason",
                 "the address on customer 1042's account", "--json")
    assert result.code == 0, result
    assert events(run, rid, "letter.response")[0]["data"]["to_other_reason"] == "the address on customer 1042's account"


def test_an_incomplete_unverified_package_is_held_back_until_verified_and_complete(cli, tmp_path, monkeypatch):
    """End to end, as a privacy team meets it: an inventory missing two Art. 15 items, a request not yet
    verified; the package is marked both ways, the letter refuses, `request verify --match` verifies, a new
    export is still incomplete, `--allow-incomplete` lets it go and the log records what was missing."""
    monkeypatch.setenv("DSARCTL_NOW", NOW)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("email,name,postcode\nann@example.com,Ann Lee,BS1 1AA\n")
    inventory = write_inventory(tmp_path, """
        people:
          connector: csv
          path: people.csv
          identities: {email: email}
          categories: {email: contact details, name: contact details, postcode: contact details}
          purposes: [accounts]
          lawful_basis: contract
          recipients: []
          source: the subject
          transfers: none
          erase: delete
    """)
    run = lambda *args: cli("-i", str(inventory), *args)  # noqa: E731
    assert run("inventory", "check").out == (
        "warning: people: no 'retention' (Art. 15(1)(d)) (inventory.yaml:12)\n"
        "warning: people: no 'automated_decisions' (Art. 15(1)(h); 'none' if none) (inventory.yaml:12)\n"
        "inventory.yaml is valid: 1 system, 1 collection\n")
    rid = new(run, "ann@example.com", "access", "2026-02-02")
    result = run("export", "ann@example.com", "--request", rid, "-o", "first.zip")
    assert result.code == 0, result
    assert result.err == (
        f"warning: request {rid} is not verified: the package is marked unverified and must not be sent until it "
        f"is (verify with: dsarctl request verify {rid} --match FIELD=VALUE, or --method TEXT)\n"
        "warning: Art. 15 information missing from the inventory, shown as 'not recorded' in the package: "
        "people.retention, people.automated_decisions (see: dsarctl inventory check)\n")
    with zipfile.ZipFile(tmp_path / "first.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["verified"], manifest["incomplete"]) == (False, ["people.retention",
                                                                      "people.automated_decisions"])
    one_error_line(run("letter", rid, "--kind", "response", "--package"), f"request {rid} is not verified")
    result = run("request", "verify", rid, "--match", "postcode=bs11aa", "--json")
    assert (result.code, result.json()["verified"]) == (0, True)
    one_error_line(run("letter", rid, "--kind", "response", "--package"),
                   "first.zip was exported before request")
    result = run("export", "ann@example.com", "--request", rid, "-o", "second.zip", "--json")
    assert result.code == 0, result
    assert result.err == ("warning: Art. 15 information missing from the inventory, shown as 'not recorded' in "
                          "the package: people.retention, people.automated_decisions (see: dsarctl inventory "
                          "check)\n")
    assert (result.json()["verified"], result.json()["incomplete"]) == (True, ["people.retention",
                                                                              "people.automated_decisions"])
    one_error_line(run("letter", rid, "--kind", "response", "--package"),
                   "second.zip lacks Art. 15 information: people.retention, people.automated_decisions. Complete "
                   "the inventory and export again, or send it anyway with --allow-incomplete")
    assert not (tmp_path / f"letter-{rid}-response.eml").exists()
    assert events(run, rid, "letter.response") == []
    result = run("letter", rid, "--kind", "response", "--package", "--allow-incomplete", "--json")
    assert result.code == 0, result
    msg = parse(tmp_path / result.json()["file"])
    [attachment] = list(msg.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("second.zip",
                                                                     (tmp_path / "second.zip").read_bytes())
    text, _ = parts(msg)
    assert "found 1 record about you:\n\n- people: 1 record\n\nThey are all in the attached file second.zip." \
        in text
    [event] = events(run, rid, "letter.response")
    assert event["data"]["incomplete"] == ["people.retention", "people.automated_decisions"]
    assert "unverified_reason" not in event["data"]
    assert event["data"]["package_sha256"] == hashlib.sha256((tmp_path / "second.zip").read_bytes()).hexdigest()
    # the inventory completed: the next package is complete and goes without the flag
    inventory.write_text(inventory.read_text().replace("    transfers: none\n", "    transfers: none\n"
                                                       "    retention: 2 years after the account is closed\n"
                                                       "    automated_decisions: none\n"))
    result = run("export", "ann@example.com", "--request", rid, "-o", "third.zip", "--json")
    assert (result.code, result.err, result.json()["incomplete"]) == (0, "", [])
    result = run("letter", rid, "--kind", "response", "--package", "-o", "final.eml", "--json")
    assert result.code == 0, result
    assert "incomplete" not in events(run, rid, "letter.response")[-1]["data"]
    assert run("audit", "verify").code == 0


def test_another_requests_package_or_a_changed_one_is_refused(run, demo_dir):
    erin = new(run, "erin@example.com", "access", "2026-02-01")
    package = _export(run, demo_dir, erin)
    alice = new(run, "alice@example.com", "access", "2026-02-01")
    assert run("request", "verify", alice).code == 0
    one_error_line(run("letter", alice, "--kind", "response", "--attach", str(package)),
                   f"is the access package of request {erin}, not of {alice}")
    one_error_line(run("letter", alice, "--kind", "response", "--package"),
                   f"--package: request {alice} has no export yet")
    assert run("request", "verify", erin).code == 0
    # a package changed after export, attached under any name to any request, is not told apart from
    # another person's: refused (here: a file added to Erin's zip, attached for Alice)
    import shutil
    import zipfile

    changed = demo_dir / "changed.zip"
    shutil.copy(package, changed)
    with zipfile.ZipFile(changed, "a") as zf:
        zf.writestr("note.txt", "added by hand")
    one_error_line(run("letter", alice, "--kind", "response", "--attach", str(changed)),
                   "is an access package that no export recorded")
    package.write_bytes(package.read_bytes() + b"\0")
    one_error_line(run("letter", erin, "--kind", "response", "--package"),
                   f"changed since the export of {erin} recorded it")


def test_attachments_are_sent_as_given(run, demo_dir):
    rid = new(run, "alice@example.com", "rectification")
    (demo_dir / "corrected.csv").write_bytes(b"name,email\r\nAlice Smith,alice@example.com\r\n")
    (demo_dir / "notes.txt").write_text("caf\u00e9 \u2713\n", encoding="utf-8")
    result = run("letter", rid, "--kind", "response", "--attach", "corrected.csv", "--attach", "notes.txt", "--json")
    assert result.code == 0, result
    assert result.out.count("\n") == 1 and result.json()["package"] is None
    msg = parse(demo_dir / result.json()["file"])
    got = {a.get_filename(): a for a in msg.iter_attachments()}
    assert sorted(got) == ["corrected.csv", "notes.txt"]
    assert got["corrected.csv"].get_payload(decode=True) == b"name,email\r\nAlice Smith,alice@example.com\r\n"
    assert got["notes.txt"].get_payload(decode=True) == "caf\u00e9 \u2713\n".encode()
    text, _ = parts(msg)
    assert "We have carried out your request." in text
    one_error_line(run("letter", rid, "--kind", "response", "--attach", "missing.pdf", "-o", "x.eml"),
                   "--attach: cannot read missing.pdf")


# --- company templates -------------------------------------------------------------------------------------


def test_company_template_overrides_and_its_html_follows_the_text(run, demo_dir):
    rid = new(run, "alice@example.com", "access")
    folder = demo_dir / "letters" / "en"
    folder.mkdir(parents=True)
    (folder / "acknowledge.txt.j2").write_text(
        "Subject: Got it: {{ request.id }}\n"
        "Hi,\n\n"
        "{{ controller.name }} has your {{ request.type }} request & will answer by {{ request.due|longdate }} "
        "({{ regime.id }}, {{ regime.period }}).\n\n"
        "- first\n- <second>\n")
    result = run("letter", rid, "--kind", "acknowledge", "--json")
    assert result.code == 0, result
    assert result.json()["template"] == "company"
    msg = parse(demo_dir / result.json()["file"])
    assert msg["Subject"] == f"Got it: {rid}"
    text, html = parts(msg)
    assert text == ("Hi,\n\nNorthwind Software Ltd has your access request & will answer by 2 March 2026 "
                    "(uk-gdpr, one month).\n\n- first\n- <second>\n")
    assert "<p>Northwind Software Ltd has your access request &amp; will answer by 2 March 2026" in html
    assert "<li>first</li>\n<li>&lt;second&gt;</li>" in html
    # the shipped templates still answer the other kinds
    assert run("letter", rid, "--kind", "verify", "--json").json()["template"] == "shipped"
    # the company's own HTML, autoescaped
    (folder / "refuse.txt.j2").write_text("Subject: No\n{{ reason }}\n")
    (folder / "refuse.html.j2").write_text("<html><body><p><b>{{ reason }}</b> {{ subject }}</p></body></html>\n")
    result = run("letter", rid, "--kind", "refuse", "--reason", "<b>no</b>", "--json")
    assert result.code == 0, result
    _, html = parts(parse(demo_dir / result.json()["file"]))
    assert html == "<html><body><p><b>&lt;b&gt;no&lt;/b&gt;</b> No</p></body></html>\n"


def test_a_bad_template_is_one_line_with_its_file_and_line(run, demo_dir):
    rid = new(run, "alice@example.com", "access")
    folder = demo_dir / "letters" / "en"
    folder.mkdir(parents=True)
    template = folder / "acknowledge.txt.j2"
    template.write_text("Subject: x\n\n{% if request.id %}\nno end\n")
    one_error_line(run("letter", rid, "--kind", "acknowledge"),
                   "letters/en/acknowledge.txt.j2:4: Unexpected end of template")
    template.write_text("Subject: x\n\nHello {{ reqest.id }}\n")
    one_error_line(run("letter", rid, "--kind", "acknowledge"), "letters/en/acknowledge.txt.j2:3: 'reqest' is undefined")
    template.write_text("Dear {{ request.subject }}\n")
    one_error_line(run("letter", rid, "--kind", "acknowledge"),
                   "letters/en/acknowledge.txt.j2:1: a letter's text template starts with a 'Subject: ...' line")
    (folder / "verify.txt.j2").write_text("Subject: x\n{% include '_missing.txt.j2' %}\n")
    one_error_line(run("letter", rid, "--kind", "verify"), "letters/en/verify.txt.j2:2: template not found: "
                                                           "_missing.txt.j2")
    assert not list(demo_dir.glob("letter-*.eml"))
    assert events(run, rid, "letter.acknowledge") == []


def test_another_language_needs_its_templates(run, demo_dir):
    rid = new(run, "alice@example.com", "access")
    one_error_line(run("letter", rid, "--kind", "acknowledge", "--lang", "de"),
                   "no de template for the acknowledge letter: add ")
    folder = demo_dir / "letters" / "de"
    folder.mkdir(parents=True)
    (folder / "acknowledge.txt.j2").write_text(
        "Subject: Eingangsbestätigung {{ request.id }}\n\nWir antworten bis zum {{ request.due.strftime('%d.%m.%Y') }}.\n")
    result = run("letter", rid, "--kind", "acknowledge", "--lang", "de", "--json")
    assert result.code == 0, result
    msg = parse(demo_dir / result.json()["file"])
    assert msg["Subject"] == f"Eingangsbestätigung {rid}"
    text, html = parts(msg)
    assert text == "Wir antworten bis zum 02.03.2026.\n"
    assert '<html lang="de">' in html
    assert events(run, rid, "letter.acknowledge")[0]["data"]["lang"] == "de"


# --- the extend gate ----------------------------------------------------------------------------------------


def test_extend_needs_the_letter_or_the_date_the_subject_was_told(run, demo_dir):
    rid = new(run, "alice@example.com", "access")
    one_error_line(run("request", "extend", rid, "--reason", "many systems"),
                   f"request {rid}: uk-gdpr requires telling the subject of an extension, with the reasons, by "
                   f"2026-02-28: write the letter first (dsarctl letter {rid} --kind extend --reason ...), or give "
                   "the date they were told another way with --notified-on DATE")
    assert run("letter", rid, "--kind", "extend", "--reason", "Eight systems to search.").code == 0
    result = run("request", "extend", rid, "--reason", "many systems", "--json")
    assert result.code == 0, result
    assert result.json()["due_date"] == "2026-04-30"
    [event] = events(run, rid, "request.extended")
    assert (event["data"]["notified_by"], event["data"]["notified_on"]) == ("letter", "2026-02-10")


def test_extend_notified_another_way(run, monkeypatch):
    rid = new(run, "alice@example.com", "access")
    one_error_line(run("request", "extend", rid, "--reason", "x", "--notified-on", "2026-02-11"),
                   "--notified-on 2026-02-11: must be between the request's receipt (2026-01-31) and today "
                   "(2026-02-10)")
    one_error_line(run("request", "extend", rid, "--reason", "x", "--notified-on", "2026-02-31"),
                   "--notified-on: '2026-02-31' is not an ISO date")
    result = run("request", "extend", rid, "--reason", "many systems", "--notified-on", "2026-02-05")
    assert result.code == 0, result
    [event] = events(run, rid, "request.extended")
    assert (event["data"]["notified_by"], event["data"]["notified_on"]) == ("other", "2026-02-05")


def test_a_notice_too_late_is_refused_and_one_in_time_may_be_entered_late(run, monkeypatch):
    rid = new(run, "alice@example.com", "access")
    monkeypatch.setenv("DSARCTL_NOW", "2026-03-01T10:00:00Z")  # the notice date (2026-02-28) has passed
    one_error_line(run("letter", rid, "--kind", "extend", "--reason", "x"),
                   f"request {rid}: the subject had to be told of an extension by 2026-02-28; it is too late")
    one_error_line(run("request", "extend", rid, "--reason", "x", "--notified-on", "2026-03-01"),
                   f"request {rid}: the subject had to be told of an extension by 2026-02-28; it is too late")
    one_error_line(run("request", "extend", rid, "--reason", "x", "--late", "--notified-on", "2026-03-01"),
                   f"request {rid}: the subject was told of the extension on 2026-03-01, after 2026-02-28, the last "
                   "day uk-gdpr allows; the extension cannot be recorded")
    one_error_line(run("request", "extend", rid, "--reason", "x", "--late"),
                   f"request {rid}: uk-gdpr requires telling the subject of an extension")
    result = run("request", "extend", rid, "--reason", "x", "--notified-on", "2026-02-27", "--json")
    assert result.code == 0, result
    assert events(run, rid, "request.extended")[0]["data"]["late"] is True


def test_no_extension_letter_where_the_regime_has_none(run):
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", "br-lgpd")
    one_error_line(run("letter", rid, "--kind", "extend", "--reason", "x"),
                   f"request {rid}: br-lgpd allows no extension for access requests: there is no extension letter")


def test_custom_regime_extends_without_notice(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DSARCTL_NOW", NOW)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "people.csv").write_text("email\n")
    (tmp_path / "inventory.yaml").write_text(
        "version: 1\ncontroller: {name: Own Rules Ltd, contact: privacy@own.example, regime: custom}\n"
        "custom_regime: {period: 30 days, extension: 30 days}\n"
        "identities:\n  email: {type: email}\n"
        "systems:\n  people: {connector: csv, path: people.csv, identities: {email: email}}\n")
    run = lambda *args: cli("-i", str(tmp_path / "inventory.yaml"), *args)  # noqa: E731
    rid = new(run, "alice@example.com", "access", "2026-02-01")
    result = run("request", "extend", rid, "--reason", "busy", "--json")
    assert result.code == 0, result
    assert result.json()["due_date"] == "2026-04-02"


# --- the words: whom to complain to, what could not be done -------------------------------------------------


def _text(run, demo_dir, rid: str, kind: str, *extra: str) -> str:
    result = run("letter", rid, "--kind", kind, *extra, "--json")
    assert result.code == 0, result
    return parts(parse(demo_dir / result.json()["file"]))[0]


def test_an_eu_gdpr_request_to_a_uk_controller_names_the_authority_where_the_subject_lives(run, demo_dir):
    # the demo inventory's authority is the ICO, the authority of its own regime (uk-gdpr), not of the GDPR
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", "eu-gdpr")
    text = _text(run, demo_dir, rid, "refuse", "--reason", "Manifestly unfounded.")
    assert ("You also have the right to complain to a data protection supervisory authority: the data protection "
            "authority of the EU/EEA country where you live, work, or where the alleged infringement took place "
            "(https://www.edpb.europa.eu/about-edpb/about-edpb/members_en).\n"
            "You may also take the matter to court (a judicial remedy, GDPR Art. 79).") in text
    assert "Information Commissioner" not in text


@pytest.mark.parametrize("regime, act, authority", [
    ("us-co", "the Colorado Privacy Act", "the Colorado Attorney General"),
    ("us-nh", "the New Hampshire consumer data privacy law", "the New Hampshire Attorney General"),
    ("ca-pipeda", "PIPEDA", None),
])
def test_letters_name_the_act_and_the_right_authority(run, demo_dir, regime, act, authority):
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", regime)
    text = _text(run, demo_dir, rid, "extend", "--reason", "Eleven systems.")
    if authority:
        assert (f"You may also contact {authority}, who enforces {act}.") in text
    else:
        assert (f"{act} allows us to extend the time to answer by up to 30 days (PIPEDA s.8)." in text
                and "You also have the right to complain to the privacy regulator: the Office of the Privacy "
                    "Commissioner of Canada (https://www.priv.gc.ca/)." in text), text


def test_the_response_says_which_systems_could_not_be_searched(run, demo_dir):
    rid = new(run, "alice@example.com", "access", "2026-02-02")
    assert run("request", "verify", rid, "--method", "reply from the account address").code == 0
    (demo_dir / "demo" / "usage.jsonl").unlink()
    result = run("export", "alice@example.com", "--request", rid, "-o", "alice.zip")
    assert result.code == 3, result
    text = _text(run, demo_dir, rid, "response", "--package")
    assert "We searched the systems where we keep personal data and found 14 records about you:\n" in text
    assert ("We could not search Product usage events sent by the desktop app when we prepared this answer. We will "
            "write to you again with anything it holds about you.\n") in text
    assert "every system" not in text


def test_an_erasure_that_found_nothing_does_not_claim_to_have_erased(run, demo_dir):
    rid = new(run, "nobody@example.com", "erasure", "2026-02-02")
    assert run("erase", "nobody@example.com", "--request", rid, "--yes").code == 0
    text = _text(run, demo_dir, rid, "response")
    assert ("On 10 February 2026 we searched our systems and found no personal data about you that needed "
            "erasing.\n") in text
    assert "deleted" not in text and "we erased" not in text


def test_an_appeal_is_acknowledged_as_an_appeal(run, demo_dir, monkeypatch):
    rid = new(run, "alice@example.com", "access", "2026-02-02", "--regime", "us-co")
    assert run("request", "deny", rid, "--reason", "We could not confirm your identity.").code == 0
    monkeypatch.setenv("DSARCTL_NOW", "2026-02-12T09:00:00Z")
    appeal = new(run, "alice@example.com", "appeal", "2026-02-11T08:00:00+00:00", "--appeal-of", rid)
    text = _text(run, demo_dir, appeal, "acknowledge")
    # Colorado: the appeal is answered within 45 days (2026-03-28, a Saturday: Colorado rolls to Monday),
    # extendable by 60 with notice inside the 45 (not rolled)
    assert text.startswith("Hello,\n\nWe received your appeal of our decision on your request on 11 February 2026. "
                           f"Our reference is {appeal}; please quote it if you write to us about it.\n\n"
                           "We will answer by 30 March 2026.\n\n"
                           "If your appeal turns out to be complex, the Colorado Privacy Act allows us to take up to "
                           "60 days more. We would tell you so, with our reasons, by 28 March 2026.\n\n"), text
    assert "confirm that the request comes from you" not in text
    text = _text(run, demo_dir, appeal, "extend", "--reason", "We are reviewing records held by two processors.")
    # 45 + 60 = 105 days from 11 February 2026
    assert ("The Colorado Privacy Act allows us to extend the time to answer by up to 60 days (C.R.S. "
            "§6-1-1306(3)). We will now answer by 27 May 2026.") in text
