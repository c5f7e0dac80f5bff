"""`request verify --match`: data points checked against the records held, kept as keyed hashes; the
clock rules around verification (uk-gdpr restarts the month, Art. 12A pause grounds); `request new`
noticing a likely duplicate."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import sys
from email import policy
from email.parser import BytesParser

import pytest

import terminal
from helpers import at, one_error_line


@pytest.fixture
def run(cli, demo_dir, monkeypatch):
    """`dsarctl -i <demo inventory> ARGS` at 2026-02-10 09:00 UTC, as operator ann."""
    at(monkeypatch, "2026-02-10T09:00:00Z")
    monkeypatch.setenv("DSARCTL_OPERATOR", "ann")
    inventory = str(demo_dir / "inventory.yaml")
    return lambda *args: cli("-i", inventory, *args)


def events(run, request):
    result = run("audit", "log", "--json", "--request", request)
    assert result.code == 0, result
    return result.json()["events"]


def alice(run, received="2026-02-02") -> str:
    result = run("request", "new", "alice@example.com", "--type", "access", "--received", received, "--json")
    assert result.code == 0, result
    return result.json()["id"]


# --- matching ---------------------------------------------------------------------------------------------


def test_postcode_and_order_number_verify_and_restart_the_uk_clock(run, demo_dir, monkeypatch):
    rid = alice(run)
    assert run("request", "show", rid, "--json").json()["due_date"] == "2026-03-02"
    at(monkeypatch, "2026-02-03T09:00:00Z")  # the data points were asked for (UK GDPR Art. 12A)
    assert run("letter", rid, "--kind", "verify", "-o", str(demo_dir / "verify.eml")).code == 0
    at(monkeypatch, "2026-02-10T09:00:00Z")
    result = run("request", "verify", rid, "--match", "postcode=bs1 1aa", "--match", "order_id=5002")
    assert result.code == 0, result
    assert result.out == (
        "  postcode: matched (crm.customers, orders.orders)\n"
        "  order_id: matched (orders.order_items, orders.orders)\n"
        f"{rid} verified (matched: postcode, order_id): verified, due 2026-03-10 "
        "(any extension to be notified by 2026-03-10)\n")
    shown = run("request", "show", rid, "--json").json()
    assert (shown["status"], shown["verified_at"], shown["verify_method"]) == (
        "verified", "2026-02-10T09:00:00+00:00", "data points matched: postcode, order_id")
    # the search that was compared is on record under the request, then the verification with its evidence
    kinds = [e["kind"] for e in events(run, rid)]
    assert kinds == ["request.new", "letter.verify", "run.find", "request.verified"]
    data = events(run, rid)[-1]["data"]
    assert [(c["key"], c["outcome"], c["counts"], c["where"]) for c in data["checks"]] == [
        ("postcode", "matched", True, ["crm.customers", "orders.orders"]),
        ("order_id", "matched", True, ["orders.order_items", "orders.orders"])]
    assert (data["minimum"], data["why"]) == (1, "matched: postcode, order_id")


def test_only_keyed_hashes_of_the_values_are_kept(run, demo_dir):
    rid = alice(run)
    phone = "+44 20 7946 0958"  # the CRM holds "020 7946 0958": compared in E.164
    result = run("request", "verify", rid, "--match", "postcode=BS1 1AA", "--match", f"phone={phone}", "--json")
    assert result.code == 0, result
    checks = result.json()["checks"]
    key = (demo_dir / ".dsarctl" / "secret.key").read_bytes()

    def oracle(kind: str, value: str) -> str:
        return hmac.new(key, f"match:{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    assert [c["hash"] for c in checks] == [oracle("postcode", "bs11aa"), oracle("phone", "+442079460958")]
    assert [c["compared_as"] for c in checks] == ["postcode", "identity kind phone (phone)"]
    stored = (demo_dir / ".dsarctl" / "audit.db").read_bytes()
    for value in (b"BS1 1AA", b"bs11aa", b"+442079460958"):
        assert value not in stored
    # the phone's digits in any form, but not by chance inside the hex of a hash or an id (the log holds
    # some 800 hex digits made with a random key: about one run in a hundred held "7946" there)
    assert b"7946" not in re.sub(rb"[0-9a-f]{32,}", b"", stored)


def test_a_mismatch_fails_even_when_another_point_matches(run):
    rid = alice(run)
    result = run("request", "verify", rid, "--match", "postcode=BS1 1AB", "--match", "order_id=5002")
    assert result.code == 1, result
    assert result.out == (
        "  postcode: DID NOT MATCH\n"
        "  order_id: matched (orders.order_items, orders.orders)\n"
        f"{rid} NOT verified: did not match the records found: postcode; the request stays open, due 2026-03-02\n")
    shown = run("request", "show", rid, "--json").json()
    assert (shown["status"], shown["verified_at"], shown["due_date"]) == ("open", None, "2026-03-02")
    last = events(run, rid)[-1]
    assert last["kind"] == "request.verification_failed"
    assert [(c["key"], c["outcome"]) for c in last["data"]["checks"]] == [("postcode", "mismatched"),
                                                                          ("order_id", "matched")]
    # a later attempt with the right data points still verifies
    assert run("request", "verify", rid, "--match", "postcode=BS1 1AA").code == 0


def test_email_and_the_requests_own_identifier_do_not_count(run):
    rid = alice(run)
    result = run("request", "verify", rid, "--match", "email=ALICE@example.com", "--match", "plan=pro")
    assert result.code == 1, result
    assert result.out == (
        "  email: matched (crm.customers, newsletter.newsletter, telemetry.telemetry) "
        "(does not count: known from the request itself)\n"
        "  plan: not in the records found\n"
        f"{rid} NOT verified: 0 of the 1 data point needed matched (e-mail addresses and the identifier the "
        "request was made with do not count); the request stays open, due 2026-03-02\n")
    # a request made by phone: the phone number proves nothing, the postcode does
    by_phone = run("request", "new", "+442079460958", "--type", "erasure", "--received", "2026-02-03", "--json").json()
    result = run("request", "verify", by_phone["id"], "--match", "phone=020 7946 0958", "--json")
    assert result.code == 1
    assert [(c["outcome"], c["counts"]) for c in result.json()["checks"]] == [("matched", False)]


def test_min_and_record_fields_by_name(run):
    rid = alice(run)
    # a field by its name (case-insensitive), trimmed and exact; with its collection; a second one
    result = run("request", "verify", rid, "--min", "2", "--match", "Billing_Name=  Alice Example ",
                 "--match", "orders.total=99", "--json")
    assert result.code == 0, result
    d = result.json()
    assert (d["verified"], d["minimum"], d["why"]) == (True, 2, "matched: Billing_Name, orders.total")
    assert [(c["compared_as"], c["where"]) for c in d["checks"]] == [("text", ["orders.orders"]),
                                                                     ("text", ["orders.orders"])]


def test_min_not_reached(run):
    rid = alice(run)
    result = run("request", "verify", rid, "--min", "2", "--match", "billing_name=alice example",
                 "--match", "customer_id=1042", "--json")
    assert result.code == 1
    d = result.json()
    assert [(c["key"], c["outcome"]) for c in d["checks"]] == [("billing_name", "mismatched"),
                                                               ("customer_id", "matched")]
    assert d["why"] == "did not match the records found: billing_name"
    result = run("request", "verify", rid, "--min", "2", "--match", "customer_id=1042", "--json")
    assert result.json()["why"] == ("1 of the 2 data points needed matched (e-mail addresses and the "
                                    "identifier the request was made with do not count)")


def test_us_ca_needs_three_points_for_access_and_two_for_erasure_by_default(run, demo_dir, monkeypatch):
    """11 CCR §7062: specific pieces of information to a "reasonably high degree of certainty" (three
    pieces matched), deletion to a "reasonable degree" (two data points); elsewhere one is the default."""
    monkeypatch.chdir(demo_dir)
    access = run("request", "new", "alice@example.com", "--type", "access", "--regime", "us-ca",
                 "--json").json()["id"]
    # the verify letter asks for as many details as the rule needs
    assert run("letter", access, "--kind", "verify", "-o", "v.eml").code == 0
    with open(demo_dir / "v.eml", "rb") as f:
        text = BytesParser(policy=policy.default).parse(f).get_body(("plain",)).get_content()
    assert ("and tell us three details of your account that we already hold, such as your postcode, the number "
            "of your last order or the phone number on your account.\n") in text
    two = ["--match", "postcode=BS1 1AA", "--match", "order_id=5002"]
    result = run("request", "verify", access, *two, "--json")
    assert (result.code, result.json()["minimum"], result.json()["why"]) == (
        1, 3, "2 of the 3 data points needed matched (e-mail addresses and the identifier the request was made "
              "with do not count)")
    result = run("request", "verify", access, *two, "--match", "phone=020 7946 0958", "--json")
    assert (result.code, result.json()["minimum"], result.json()["verified"]) == (0, 3, True)
    erasure = run("request", "new", "alice@example.com", "--type", "erasure", "--regime", "us-ca",
                  "--json").json()["id"]
    result = run("request", "verify", erasure, *two, "--json")
    assert (result.code, result.json()["minimum"], result.json()["verified"]) == (0, 2, True)
    # --min decides when given; other regimes need one
    bob = run("request", "new", "bob@example.net", "--type", "access", "--regime", "us-ca", "--json").json()["id"]
    result = run("request", "verify", bob, "--min", "1", "--match", "postcode=LS1 2BB", "--json")
    assert (result.code, result.json()["minimum"]) == (0, 1)
    uk = run("request", "new", "bob@example.net", "--type", "erasure", "--json").json()["id"]
    result = run("request", "verify", uk, "--match", "postcode=LS1 2BB", "--json")
    assert (result.code, result.json()["minimum"]) == (0, 1)


def test_a_partial_postcode_never_matches_an_address(run):
    rid = alice(run)
    one_error_line(run("request", "verify", rid, "--match", "postcode=BS1"),
                   "--match postcode: 'BS1' is too short to tell anyone apart: give the whole postcode")
    # S1 1AA is another postcode inside "BS1 1AA": not a match
    result = run("request", "verify", rid, "--match", "postcode=S1 1AA", "--json")
    assert result.code == 1
    assert result.json()["checks"][0]["outcome"] == "mismatched"


def test_bad_matches_are_refused_in_one_line(run):
    rid = alice(run)
    one_error_line(run("request", "verify", rid, "--match", "postcode"),
                   "--match 'postcode': write KEY=VALUE (e.g. postcode='BS1 1AA', order_id=5002)")
    one_error_line(run("request", "verify", rid, "--match", "phone=call me"),
                   "--match phone: 'call me' cannot be read as a phone number")
    one_error_line(run("request", "verify", rid, "--match", "billing_email=nobody"),
                   "--match billing_email: 'nobody' cannot be read as an e-mail address")
    one_error_line(run("request", "verify", rid, "--match", "postcode=BS1 1AA", "--min", "0"),
                   "--min must be 1 or more, got 0")
    one_error_line(run("request", "verify", "R-2026-0099", "--match", "postcode=BS1 1AA"),
                   "unknown request id 'R-2026-0099'")
    assert [e["kind"] for e in events(run, rid)] == ["request.new"]  # nothing searched, nothing recorded


def test_already_verified_and_ambiguous_subjects_are_refused(run):
    rid = alice(run)
    assert run("request", "verify", rid, "--method", "reply from account email").code == 0
    one_error_line(run("request", "verify", rid, "--match", "postcode=BS1 1AA"),
                   f"request {rid} was already verified at 2026-02-10T09:00:00+00:00")
    dan = run("request", "new", "dan@example.com", "--type", "access", "--json").json()["id"]
    one_error_line(run("request", "verify", dan, "--match", "postcode=YO1 1DD"),
                   f"ambiguous: the search for the subject of {dan} reached 2 values of unique identity "
                   "'customer_id' (1045, 1046)")
    assert [e["kind"] for e in events(run, dan)] == ["request.new"]


# --- the clock --------------------------------------------------------------------------------------------


def test_explain_says_the_uk_clock_waits_for_identity(run):
    rid = alice(run)
    steps = run("request", "show", rid, "--explain", "--json").json()["explain"]
    assert steps[1:3] == [
        "Clock starts on 2026-02-02 (Monday) (receipt)",
        "Identity not confirmed yet: where information is needed to confirm it and is asked for while the "
        "request is not yet due (dsarctl request pause --ground identity, or letter --kind verify), the month "
        "starts again on the day it arrives (UK GDPR Art. 12A; dsarctl request verify)"]
    run("request", "pause", rid, "--reason", "asked for the postcode on the account", "--ground", "identity")
    run("request", "verify", rid, "--match", "postcode=BS1 1AA")
    steps = run("request", "show", rid, "--explain", "--json").json()["explain"]
    assert steps[1] == ("Clock restarts on 2026-02-10 (Tuesday) (identity verified; UK GDPR Art. 12(3), "
                        "the period starts again)")
    assert not any("not confirmed yet" in s for s in steps)
    # us-ca: verification never moves the clock, and nothing is said about waiting for it
    ca = run("request", "new", "bob@example.net", "--type", "access", "--regime", "us-ca", "--received",
             "2026-02-02", "--json").json()["id"]
    assert not any("Identity" in s for s in run("request", "show", ca, "--explain", "--json").json()["explain"])
    run("request", "verify", ca, "--match", "postcode=LS1 2BB", "--match", "phone=07700 900123",
        "--match", "order_id=5003")
    steps = run("request", "show", ca, "--explain", "--json").json()
    assert (steps["status"], steps["due_date"]) == ("verified", "2026-03-19")
    assert steps["explain"][1:3] == ["Identity verified on 2026-02-10: does not move the clock under us-ca",
                                     "Clock starts on 2026-02-02 (Monday) (receipt)"]


def test_pause_names_its_art_12a_ground(run, monkeypatch):
    at(monkeypatch, "2026-03-02T10:15:00Z")  # docs/deadlines.md's third worked example
    rid = alice(run, "2026-03-02T10:15:00Z")
    at(monkeypatch, "2026-03-05T10:00:00Z")
    assert run("request", "pause", rid, "--reason", "asked which account", "--ground", "clarification").code == 0
    at(monkeypatch, "2026-03-16T10:00:00Z")
    assert run("request", "resume", rid).code == 0
    d = run("request", "show", rid, "--explain", "--json").json()
    assert d["pauses"] == [{"start": "2026-03-05T10:00:00+00:00", "end": "2026-03-16T10:00:00+00:00",
                            "ground": "clarification"}]
    assert ("Pause 2026-03-05 to 2026-03-16 (waiting for information needed to clarify the request; "
            "UK GDPR Art. 12A): 12 days, both days included") in d["explain"]
    assert d["due_date"] == "2026-04-14"
    shown = run("request", "show", rid)
    # the controller's local dates, as --explain counts them (issue 20)
    assert "Pauses:               2026-03-05 to 2026-03-16 (clarification)" in shown.out
    one_error_line(run("request", "pause", rid, "--reason", "x", "--ground", "holiday"),
                   "--ground: unknown ground 'holiday' (one of: identity, clarification, fee)")


# --- duplicates -------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_likely_duplicate_is_refused_without_a_terminal(run):
    first = alice(run)
    result = run("request", "new", "ALICE@example.com", "--type", "access")
    one_error_line(result, f"alice@example.com already has an open access request: {first} (received 2026-02-02, "
                           "due 2026-03-02); to open another, add --allow-duplicate")
    # another type, or another identifier, is no duplicate
    assert run("request", "new", "alice@example.com", "--type", "erasure").code == 0
    assert run("request", "new", "bob@example.net", "--type", "access").code == 0
    # a shared identifier given with --id is
    assert run("request", "new", "customer_id:1042", "--id", "email:alice@example.com", "--type", "access").code == 2
    second = run("request", "new", "alice@example.com", "--type", "access", "--allow-duplicate", "--json").json()
    new_event = events(run, second["id"])[0]
    assert (new_event["kind"], new_event["data"]["duplicate_of"]) == ("request.new", first)
    # once the first is closed, a new request is no duplicate
    run("request", "close", first)
    run("request", "close", second["id"])
    assert run("request", "new", "alice@example.com", "--type", "access").code == 0


@pytest.mark.parametrize("answer, code", [("y\n", 0), ("n\n", 1)])
def test_a_likely_duplicate_is_asked_about_on_a_terminal(run, monkeypatch, answer, code):
    first = alice(run)
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    result = run("request", "new", "alice@example.com", "--type", "access")
    assert result.code == code, result
    assert (f"alice@example.com already has an open access request: {first} (received 2026-02-02, due "
            "2026-03-02). Open another anyway? [y/N]") in result.err
    listed = [r["id"] for r in run("request", "list", "--json").json()["requests"]]
    assert listed == ([first, "R-2026-0002"] if code == 0 else [first])


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("answer, code, opened", [(b"y\n", 0, True), (b"n\n", 1, False), (b"\n", 1, False)])
def test_a_likely_duplicate_on_a_real_terminal(run, demo_dir, monkeypatch, answer, code, opened):
    first = alice(run)
    argv = ["-i", str(demo_dir / "inventory.yaml"), "request", "new", "alice@example.com", "--type", "access"]
    screen = terminal.run(argv, cols=200, cwd=demo_dir, echo=True, steps=(("[y/N]", answer),))
    status, output = screen.code, screen.text
    question = (f"alice@example.com already has an open access request: {first} (received 2026-02-02, due "
                "2026-03-02). Open another anyway? [y/N]: ")
    assert output.startswith(question), output
    if opened:
        assert output == (question + "y\nOpened R-2026-0002 (access, uk-gdpr) for alice@example.com: due 2026-03-10 "
                          "(any extension to be notified by 2026-03-10)\n")
    else:
        assert output == question + answer.decode() + f"Not opened: {first} stays the open request.\n"
    assert status == code
    listed = [r["id"] for r in run("request", "list", "--json").json()["requests"]]
    assert listed == ([first, "R-2026-0002"] if opened else [first])
    if opened:
        assert events(run, "R-2026-0002")[0]["data"]["duplicate_of"] == first
    assert run("audit", "verify").code == 0


def test_a_likely_duplicate_off_a_terminal_in_a_real_process(run, demo_dir):
    import os
    import subprocess

    first = alice(run)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "dsarctl", "-i", str(demo_dir / "inventory.yaml"), "request", "new",
                           "alice@example.com", "--type", "access"], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, timeout=60)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (f"dsarctl: error: alice@example.com already has an open access request: {first} (received "
                           "2026-02-02, due 2026-03-02); to open another, add --allow-duplicate\n")


def test_verify_without_match_keeps_working(run):
    rid = alice(run)
    result = run("request", "verify", rid, "--method", "passport seen at the counter", "--json")
    assert result.code == 0, result
    r = result.json()
    # nothing was asked for: the month does not start again (UK GDPR Art. 12A), and the result says so
    assert (r["status"], r["verify_method"], r["due_date"]) == ("verified", "passport seen at the counter",
                                                                 "2026-03-02")
    assert r["clock"].startswith("the clock does not restart: identity information was not asked for")
    assert json.dumps(events(run, rid)[-1]["data"]).count("checks") == 0


def test_the_uk_clock_starts_when_the_confirming_information_arrived(run, demo_dir, monkeypatch):
    rid = alice(run)
    at(monkeypatch, "2026-02-03T09:00:00Z")  # asked for on the 3rd
    assert run("letter", rid, "--kind", "verify", "-o", str(demo_dir / "verify.eml")).code == 0
    at(monkeypatch, "2026-02-10T09:00:00Z")
    # the postcode came in on 5 February; the operator checks it on the 10th: the month runs from the 5th
    result = run("request", "verify", rid, "--match", "postcode=BS1 1AA", "--received", "2026-02-05", "--json")
    assert result.code == 0, result
    r = result.json()["request"]
    assert (r["verified_at"], r["due_date"]) == ("2026-02-05T00:00:00+00:00", "2026-03-05")


def test_verify_received_must_lie_between_receipt_and_now(run, demo_dir, monkeypatch):
    rid = alice(run)
    at(monkeypatch, "2026-02-03T09:00:00Z")  # asked for on the 3rd
    assert run("letter", rid, "--kind", "verify", "-o", str(demo_dir / "verify.eml")).code == 0
    at(monkeypatch, "2026-02-10T09:00:00Z")
    one_error_line(run("request", "verify", rid, "--received", "2026-02-01"),
                   "--received: 2026-02-01T00:00:00+00:00 is before the request arrived (2026-02-02T00:00:00+00:00)")
    one_error_line(run("request", "verify", rid, "--received", "2026-02-11"),
                   "--received: 2026-02-11T00:00:00+00:00 is in the future")
    r = run("request", "verify", rid, "--method", "utility bill", "--received", "2026-02-04", "--json").json()
    assert (r["verified_at"], r["due_date"]) == ("2026-02-04T00:00:00+00:00", "2026-03-04")


def test_verifying_ends_a_pause_for_identity_but_not_one_for_clarification(run, monkeypatch):
    rid = alice(run)
    at(monkeypatch, "2026-02-04T09:00:00Z")
    run("request", "pause", rid, "--reason", "asked for the postcode on the account", "--ground", "identity")
    at(monkeypatch, "2026-02-09T09:00:00Z")
    result = run("request", "verify", rid, "--match", "postcode=BS1 1AA", "--json")
    assert result.code == 0, result
    r = result.json()["request"]
    assert (r["status"], r["pauses"], r["due_date"]) == (
        "verified", [{"start": "2026-02-04T09:00:00+00:00", "end": "2026-02-09T09:00:00+00:00", "ground": "identity"}],
        "2026-03-09")  # the month runs from the verification; the pause before it does not count
    assert events(run, rid)[-1]["data"]["resumed"] is True
    assert ("Pause 2026-02-04 to 2026-02-09 (waiting for information needed to confirm the subject's identity; "
            "UK GDPR Art. 12A): not counted, the clock started again on 2026-02-09"
            ) in run("request", "show", rid, "--explain", "--json").json()["explain"]
    bob = run("request", "new", "bob@example.net", "--type", "access", "--received", "2026-02-02", "--json").json()["id"]
    run("request", "pause", bob, "--reason", "which account?", "--ground", "clarification")
    r = run("request", "verify", bob, "--method", "reply from the account address", "--json").json()
    assert (r["status"], r["pauses"][0]["end"]) == ("paused", None)


def test_a_source_that_fails_is_named_and_not_verified_is_exit_3(run, demo_dir):
    rid = alice(run)
    (demo_dir / "demo" / "usage.jsonl").unlink()  # the telemetry holds the IP address asked about
    result = run("request", "verify", rid, "--match", "ip=203.0.113.7")
    assert result.code == 3, result
    assert result.out == ("  ip: not in the records found\n"
                          f"{rid} NOT verified: 0 of the 1 data point needed matched (e-mail addresses and the "
                          "identifier the request was made with do not count); the request stays open, due 2026-03-02\n")
    assert result.err.startswith("failed: telemetry.telemetry: ") and result.err.endswith("(not compared)\n")
    # what the other sources hold still verifies
    assert run("request", "verify", rid, "--match", "postcode=BS1 1AA").code == 0


def test_a_duplicate_names_the_local_date_its_first_request_was_received(run, monkeypatch):
    # 00:30 in London on 1 June (BST) is 23:30 UTC on 31 May: the request was received on 1 June
    monkeypatch.setenv("DSARCTL_NOW", "2026-06-02T09:00:00Z")
    first = run("request", "new", "alice@example.com", "--type", "access", "--received", "2026-06-01T00:30+01:00",
                "--json").json()
    assert first["received_at"].startswith("2026-05-31T23:30")
    result = run("request", "new", "alice@example.com", "--type", "access")
    one_error_line(result, f"alice@example.com already has an open access request: {first['id']} (received "
                           f"2026-06-01, due {first['due_date']}); to open another, add --allow-duplicate")
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    result = run("request", "new", "alice@example.com", "--type", "access")
    assert result.code == 1, result
    assert result.err == (f"alice@example.com already has an open access request: {first['id']} (received "
                          f"2026-06-01, due {first['due_date']}). Open another anyway? [y/N]: Not opened: "
                          f"{first['id']} stays the open request.\n")


def test_verify_output_piped_is_one_line_per_check_whatever_columns_says(run, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # output.py: off a terminal nothing is wrapped
    rid = alice(run)
    result = run("request", "verify", rid, "--match", "postcode=BS1 1AB", "--match", "order_id=5002")
    assert result.code == 1, result
    assert result.out == (
        "  postcode: DID NOT MATCH\n"
        "  order_id: matched (orders.order_items, orders.orders)\n"
        f"{rid} NOT verified: did not match the records found: postcode; the request stays open, due 2026-03-02\n")


def test_verify_output_on_a_narrow_terminal_wraps_between_words(run, demo_dir):
    rid = alice(run)
    screen = terminal.run(["-i", str(demo_dir / "inventory.yaml"), "request", "verify", rid,
                           "--match", "postcode=BS1 1AB", "--match", "order_id=5002"], cols=40,
                          stderr_pipe=True)  # the search's progress goes to stderr
    assert screen.code == 1
    assert screen.lines() == [
        "  postcode: DID NOT MATCH",
        "  order_id: matched (orders.order_items,",
        "    orders.orders)",
        f"{rid} NOT verified: did not match",
        "the records found: postcode; the request",
        "stays open, due 2026-03-02",
        "",
    ]


def test_a_value_the_subjects_records_only_point_at_does_not_verify(cli, tmp_path, monkeypatch):
    """A phone number that a one-way link field holds (Alice called Bob: `follow: false`) is Bob's, not
    Alice's: giving it does not verify Alice; her own number does."""
    from helpers import write_inventory

    at(monkeypatch, "2026-02-10T09:00:00Z")
    (tmp_path / "people.csv").write_text("email,phone\nalice@example.com,+44 7700 900123\n")
    (tmp_path / "calls.csv").write_text("caller,callee_phone\nalice@example.com,+44 7700 900999\n")
    inventory = write_inventory(tmp_path, """
        people:
          connector: csv
          path: people.csv
          identities: {email: email, phone: phone}
        calls:
          connector: csv
          path: calls.csv
          identities:
            email: caller
            phone: {field: callee_phone, follow: false}
        """)
    run = lambda *args: cli("-i", str(inventory), *args)  # noqa: E731
    rid = run("request", "new", "alice@example.com", "--type", "access", "--json").json()["id"]
    result = run("request", "verify", rid, "--match", "phone=07700 900999")
    assert result.code == 1, result
    assert result.out.splitlines()[0] == "  phone: DID NOT MATCH"  # her own number is another
    result = run("request", "verify", rid, "--match", "phone=07700 900123")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "  phone: matched (people.people)"


# --- uk-gdpr: the month starts again only on identity information asked for in time ----------------------


def test_verifying_a_late_uk_request_nobody_asked_for_id_keeps_it_late(run, monkeypatch):
    """Received 2026-10-01, due 2026-11-02, verified on 2026-12-07 with nothing asked for: the due date stays,
    the output says why in one line, and the request stays overdue."""
    at(monkeypatch, "2026-12-07T09:00:00Z")
    rid = alice(run, "2026-10-01")
    result = run("request", "verify", rid, "--method", "reply from account address")
    assert result.code == 0, result
    assert result.out == (
        f"{rid} verified: verified, due 2026-11-02 (any extension to be notified by 2026-11-01)\n"
        "  the clock does not restart: identity information was not asked for (UK GDPR Art. 12A: the month "
        "starts again only when information asked for to confirm identity arrives; ask with dsarctl request "
        "pause --ground identity or letter --kind verify)\n")
    overdue = run("overdue", "--json")
    assert overdue.code == 1
    assert [(e["id"], e["days_overdue"]) for e in overdue.json()["overdue"]] == [(rid, 35)]
    steps = run("request", "show", rid, "--explain", "--json").json()["explain"]
    assert steps[1:3] == [
        "Identity verified on 2026-12-07: the clock does not restart: identity information was not asked for "
        "(UK GDPR Art. 12A: the month starts again only when information asked for to confirm identity arrives; "
        "ask with dsarctl request pause --ground identity or letter --kind verify)",
        "Clock starts on 2026-10-01 (Thursday) (receipt)"]
    assert events(run, rid)[-1]["data"]["clock"].startswith("the clock does not restart")
    # with --match, the same
    bob = run("request", "new", "bob@example.net", "--type", "access", "--received", "2026-10-01",
              "--json").json()["id"]
    result = run("request", "verify", bob, "--match", "postcode=LS1 2BB")
    assert result.code == 0, result
    assert result.out.splitlines()[-2:] == [
        f"{bob} verified (matched: postcode): verified, due 2026-11-02 (any extension to be notified by 2026-11-01)",
        "  the clock does not restart: identity information was not asked for (UK GDPR Art. 12A: the month "
        "starts again only when information asked for to confirm identity arrives; ask with dsarctl request "
        "pause --ground identity or letter --kind verify)"]


def test_the_uk_month_restarts_on_identity_information_asked_for_before_the_request_was_due(run, demo_dir,
                                                                                            monkeypatch):
    # asked with a pause on the identity ground on 10-05; the answer came on 10-12: due a month from then
    at(monkeypatch, "2026-10-05T09:00:00Z")
    paused = alice(run, "2026-10-01")
    run("request", "pause", paused, "--reason", "asked for the postcode on the account", "--ground", "identity")
    # asked with a verify letter on 10-05
    lettered = run("request", "new", "bob@example.net", "--type", "access", "--received", "2026-10-01",
                   "--json").json()["id"]
    assert run("letter", lettered, "--kind", "verify", "-o", str(demo_dir / "verify.eml")).code == 0
    at(monkeypatch, "2026-10-12T09:00:00Z")
    for rid in (paused, lettered):
        result = run("request", "verify", rid, "--method", "postcode given by reply", "--json")
        assert result.code == 0, result
        assert (result.json()["due_date"], result.json().get("clock")) == ("2026-11-12", None)
        steps = run("request", "show", rid, "--explain", "--json").json()["explain"]
        assert steps[1] == ("Clock restarts on 2026-10-12 (Monday) (identity verified; UK GDPR Art. 12(3), "
                            "the period starts again)")


def test_identity_information_asked_for_once_the_request_was_late_does_not_restart_the_uk_month(run, monkeypatch):
    at(monkeypatch, "2026-11-20T09:00:00Z")
    rid = alice(run, "2026-10-01")  # due 2026-11-02
    run("request", "pause", rid, "--reason", "asked for ID", "--ground", "identity")
    at(monkeypatch, "2026-12-07T09:00:00Z")
    result = run("request", "verify", rid, "--method", "passport copy", "--json")
    assert result.code == 0, result
    r = result.json()
    assert r["clock"] == ("the clock does not restart: identity information was asked for on 2026-11-20, after "
                          "the request was due on 2026-11-02 (a time limit that has run out cannot wait; "
                          "UK GDPR Art. 12A)")
    assert r["status"] == "verified" and r["due_date"] < "2026-12-07"
    assert run("overdue").code == 1
