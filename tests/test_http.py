"""The http source against the Mailchimp and Stripe fakes: what each built-in finds, exports and erases, and
how the client behaves when the API does not (429 with Retry-After, 500s, a connection dropped in the
middle of an erase, many pages, a slow server, one API down while the others answer). Every exchange
is validated against the vendor's OpenAPI document; each test asserts no exchange broke it. The oracle
is the fakes' state, read without HTTP. Retries never sleep: the client's `sleep` is recorded."""

from __future__ import annotations

import json
import sqlite3
import time
import zipfile
from contextlib import ExitStack

import pytest

from dsarctl.fakes.mailchimp import API_KEY as MAILCHIMP_KEY
from dsarctl.fakes.mailchimp import Mailchimp, subscriber_hash
from dsarctl.fakes.stripe import SECRET_KEY as STRIPE_KEY
from dsarctl.fakes.stripe import Stripe
from fakes import Fault, serve
from helpers import write_inventory

ZOE = "zoe@example.org"


@pytest.fixture
def slept(monkeypatch):
    """The client's waits, in seconds, instead of waiting."""
    from dsarctl.connectors.http import client

    waits: list[float] = []
    monkeypatch.setattr(client, "sleep", waits.append)
    return waits


@pytest.fixture
def company(tmp_path, monkeypatch, slept):
    """Mailchimp (Zoe on three audiences, with activity; others beside her) and Stripe (Zoe a customer with
    charges and an invoice), served on localhost, and an inventory naming both with keys from ${VAR}."""
    monkeypatch.setenv("MAILCHIMP_API_KEY", MAILCHIMP_KEY)
    monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)
    mailchimp, stripe = Mailchimp(), Stripe()
    for i in range(3):
        mailchimp.add_list(f"aud{i}", f"Audience {i}")
        mailchimp.add_member(f"aud{i}", "Zoe@Example.org", first="Zoe", last="Adams", activity=3)
    mailchimp.add_member("aud0", "xzoe@example.org.uk", first="Xavier", activity=1)  # Zoe's address inside
    mailchimp.add_member("aud1", "bob@example.net", first="Bob")
    zoe = stripe.add_customer(ZOE, "Zoe Adams", phone="+447700900123")
    for amount in (1200, 3400):
        stripe.add_charge(zoe["id"], amount)
    stripe.add_invoice(zoe["id"], 4600)
    bob = stripe.add_customer("bob@example.net", "Bob Stone")
    stripe.add_charge(bob["id"], 999)
    with ExitStack() as stack:
        http = {"mailchimp": stack.enter_context(serve(mailchimp)), "stripe": stack.enter_context(serve(stripe))}
        urls = {name: served.url for name, served in http.items()}
        inventory = write_inventory(tmp_path, f"""
            newsletter:
              connector: http
              definition: mailchimp
              base_url: {urls['mailchimp']}
              auth:
                api_key: ${{MAILCHIMP_API_KEY}}
              erase: delete
            payments:
              connector: http
              definition: stripe
              base_url: {urls['stripe']}
              auth:
                bearer: ${{STRIPE_SECRET_KEY}}
              erase: delete
            """)
        yield type("Company", (), {"mailchimp": mailchimp, "stripe": stripe, "http": http,
                                   "inventory": str(inventory), "urls": urls, "folder": tmp_path, "zoe": zoe,
                                   "bob": bob})
    problems = http["mailchimp"].problems + http["stripe"].problems
    assert problems == [], "exchanges that break the vendor's OpenAPI document:\n" + "\n".join(problems)


def counts(result) -> dict[tuple[str, str], object]:
    return {(s["system"], c["collection"]): (c["count"] if c["status"] == "ok" else c["status"])
            for s in result.json()["systems"] for c in s["collections"]}


# -- finding and exporting ----------------------------------------------------------------------------------

def test_find_reaches_both_apis_and_follows_the_stripe_customer_to_its_charges(company, cli):
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 0, result
    assert counts(result) == {("newsletter", "members"): 3, ("payments", "customers"): 1,
                              ("payments", "charges"): 2, ("payments", "invoices"): 1}
    found = {(i["kind"], i["value"]) for i in result.json()["identifiers"]}
    assert ("stripe_customer", company.zoe["id"]) in found
    # the API's search is wider than an exact match: only exact_matches are read, and each is checked
    searched = company.http["mailchimp"].requests("GET", "^/search-members$")
    assert [r.arg("query") for r in searched] == [ZOE]
    assert not company.http["mailchimp"].requests("GET", "activity-feed")  # find reads no more than it needs


def test_a_decoy_holding_the_address_inside_is_not_found(company, cli):
    result = cli("-i", company.inventory, "find", "oe@example.org", "--json")
    assert result.code == 1 and result.json()["total"] == 0, result


def test_export_holds_each_member_in_full_with_its_activity_and_the_customers_payments(company, cli, tmp_path):
    target = tmp_path / "zoe.zip"
    result = cli("-i", company.inventory, "export", ZOE, "-o", str(target), "--json")
    assert result.code == 0, result
    with zipfile.ZipFile(target) as package:
        members = json.loads(package.read("data/newsletter/members.json"))
        charges = json.loads(package.read("data/payments/charges.json"))
        text = b" ".join(package.read(n) for n in package.namelist()).decode("utf-8", "replace")
    oracle = {m["list_id"]: m for m in company.mailchimp.find(ZOE)}
    records = members  # a JSON array of the records
    assert sorted(r["list_id"] for r in records) == ["aud0", "aud1", "aud2"]
    for record in records:
        expected = company.mailchimp.activity[(record["list_id"], subscriber_hash(ZOE))]
        assert record["activity"] == expected
        assert {k: v for k, v in record.items() if k != "activity"} == oracle[record["list_id"]]
    charge_records = charges
    assert sorted(c["amount"] for c in charge_records) == [1200, 3400]
    assert "bob@example.net" not in text and "xzoe@" not in text
    assert MAILCHIMP_KEY not in text and STRIPE_KEY not in text


# -- erasing --------------------------------------------------------------------------------------------------

def test_erase_deletes_members_permanently_and_the_customer_and_retains_payments(company, cli):
    result = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert result.code == 0, result
    report = result.json()
    assert report["status"] == "ok" and report["problems"] == [], report
    assert company.mailchimp.find(ZOE) == []
    assert set(company.mailchimp.forgotten) == {(f"aud{i}", subscriber_hash(ZOE)) for i in range(3)}
    assert [m["email_address"] for m in company.mailchimp.find("xzoe@example.org.uk")] == ["xzoe@example.org.uk"]
    assert company.zoe["id"] not in company.stripe.customers and company.bob["id"] in company.stripe.customers
    assert len(company.stripe.charges) == 3 and len(company.stripe.invoices) == 1  # Stripe keeps payments
    retained = {r["collection"]: r for r in report["remaining"]}
    assert set(retained) == {"charges", "invoices"} and all(r["status"] == "retained" for r in retained.values())
    with pytest.raises(ValueError, match="permanently deleted"):  # delete-permanent blocks re-import
        company.mailchimp.add_member("aud0", ZOE)


def test_a_delete_rule_on_stripe_charges_is_refused_at_load_with_its_line(company, cli):
    text = open(company.inventory).read().replace(
        "      bearer: ${STRIPE_SECRET_KEY}\n    erase: delete\n",
        "      bearer: ${STRIPE_SECRET_KEY}\n    erase: delete\n    collections:\n      charges:\n        erase: delete\n")
    open(company.inventory, "w").write(text)
    result = cli("-i", company.inventory, "inventory", "check")
    line = text.splitlines().index("      charges:") + 2
    assert result.code == 2, result
    assert result.err.startswith(f"dsarctl: error: inventory.yaml:{line}: systems.payments.collections.charges.erase: "
                                 "stripe charges cannot be deleted through the API"), result.err


def test_anonymize_patches_only_the_masked_merge_field(company, cli):
    text = open(company.inventory).read().replace(
        "      api_key: ${MAILCHIMP_API_KEY}\n    erase: delete\n",
        "      api_key: ${MAILCHIMP_API_KEY}\n    erase: {action: anonymize, fields: {merge_fields.LNAME: redact}}\n")
    open(company.inventory, "w").write(text)
    result = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert result.code == 0, result
    patches = company.http["mailchimp"].requests("PATCH")
    assert len(patches) == 3 and all(p.json() == {"merge_fields": {"LNAME": "[redacted]"}} for p in patches), \
        [p.json() for p in patches]
    assert all(m["merge_fields"] == {"FNAME": "Zoe", "LNAME": "[redacted]"} for m in company.mailchimp.find(ZOE))
    again = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert again.code == 0 and len(company.http["mailchimp"].requests("PATCH")) == 3, again  # nothing left to change


# -- a client that copes ------------------------------------------------------------------------------------

def test_429_is_retried_after_the_seconds_retry_after_asks(company, cli, slept):
    company.http["mailchimp"].inject(Fault("429", retry_after="7", path="^/search-members$", times=2))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 0 and counts(result)[("newsletter", "members")] == 3, result
    assert slept == [7.0, 7.0]
    assert len(company.http["mailchimp"].requests("GET", "^/search-members$")) == 3


def test_429_with_an_http_date_waits_until_then(company, cli, slept, monkeypatch):
    from datetime import datetime, timezone

    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "now", lambda: datetime(2026, 3, 2, 9, 0, 0, tzinfo=timezone.utc))
    company.http["stripe"].inject(Fault("429", retry_after="Mon, 02 Mar 2026 09:00:12 GMT",
                                       path="^/v1/customers/search$"))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 0 and counts(result)[("payments", "customers")] == 1, result
    assert slept == [12.0]


def test_a_429_asking_to_wait_too_long_fails_that_system_only(company, cli, slept):
    company.http["stripe"].inject(Fault("429", retry_after="3600", path="^/v1/customers/search$"))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 3, result
    assert counts(result)[("newsletter", "members")] == 3 and counts(result)[("payments", "customers")] == "failed"
    assert slept == []
    assert "payments.customers: stripe: GET /v1/customers/search: 429 Too Many Requests (rate limited; " \
           "Retry-After: 3600)" in result.err


def test_500s_are_retried_with_backoff(company, cli, slept):
    company.http["mailchimp"].inject(Fault("500", path="^/search-members$", times=3))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 0 and counts(result)[("newsletter", "members")] == 3, result
    assert slept == [0.5, 1.0, 2.0]


def test_an_api_that_keeps_failing_is_that_systems_failure_and_the_rest_is_answered(company, cli, slept):
    company.http["mailchimp"].inject(Fault("503", path="^/search-members$", times=100))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 3, result
    assert counts(result) == {("newsletter", "members"): "failed", ("payments", "customers"): 1,
                              ("payments", "charges"): 2, ("payments", "invoices"): 1}
    assert slept == [0.5, 1.0, 2.0, 4.0]
    assert "newsletter.members: mailchimp: GET /3.0/search-members: 503 Service Unavailable (after 4 retries)" \
        in result.err
    assert MAILCHIMP_KEY not in result.out + result.err and ZOE not in result.err


def test_a_connection_dropped_after_the_delete_is_retried_and_counted_once(company, cli):
    # the first delete happens on the server, but its answer never arrives: the retry finds it gone
    company.http["mailchimp"].inject(Fault("drop-after", method="POST", path="delete-permanent$"))
    result = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert result.code == 0, result
    outcome = result.json()["run"]["units"]
    members = next(u for u in outcome if u["system"] == "newsletter")["collections"]["members"]
    assert members["deleted"] + members["missing"] == 3 and members["missing"] == 1, members
    assert company.mailchimp.find(ZOE) == [] and company.http["mailchimp"].server.dropped == 1
    assert result.json()["remaining"] == [r for r in result.json()["remaining"] if r["status"] == "retained"]


def test_an_erase_cut_off_mid_way_fails_that_system_and_the_next_erase_finishes_it(company, cli, monkeypatch):
    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "BACKOFF", 0.0)
    # the second member's delete: the connection drops before the server acts, on every retry
    company.http["mailchimp"].inject(Fault("drop", method="POST", path="/aud1/.*delete-permanent$", times=5))
    first = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert first.code == 3, first
    assert "newsletter: mailchimp: POST /3.0/lists/aud1/members/" in first.err, first.err
    assert [m["list_id"] for m in company.mailchimp.find(ZOE)] == ["aud1", "aud2"]  # aud0 went; stopped there
    assert company.zoe["id"] not in company.stripe.customers  # the other system was erased all the same
    second = cli("-i", company.inventory, "erase", ZOE, "--yes", "--json")
    assert second.code == 0, second
    assert company.mailchimp.find(ZOE) == []
    assert len(company.mailchimp.forgotten) == 3


def test_many_pages_of_activity_and_charges_are_all_read(company, cli, tmp_path):
    key = ("aud0", subscriber_hash(ZOE))
    company.mailchimp.activity[key] = [{"activity_type": "open", "campaign_id": f"c{i}",
                                        "created_at_timestamp": "2024-04-01T09:00:00+00:00"} for i in range(2345)]
    for i in range(250):
        company.stripe.add_charge(company.zoe["id"], 100 + i)
    target = tmp_path / "zoe.zip"
    result = cli("-i", company.inventory, "export", ZOE, "-o", str(target), "--json")
    assert result.code == 0, result
    with zipfile.ZipFile(target) as package:
        members = json.loads(package.read("data/newsletter/members.json"))
        charges = json.loads(package.read("data/payments/charges.json"))
    aud0 = next(r for r in members if r["list_id"] == "aud0")
    assert [a["campaign_id"] for a in aud0["activity"]] == [f"c{i}" for i in range(2345)]
    feed = company.http["mailchimp"].requests("GET", "/aud0/members/.*/activity-feed$")
    assert [(r.arg("offset"), r.arg("count")) for r in feed] == [("0", "1000"), ("1000", "1000"), ("2000", "1000")]
    assert len(charges) == 252 and len({c["id"] for c in charges}) == 252
    pages = company.http["stripe"].requests("GET", "^/v1/charges$")
    assert [r.arg("starting_after") is None for r in pages] == [True, False, False]


def test_a_slow_answer_times_out_and_is_asked_again(company, cli, slept):
    # the retry must be answered within the timeout: 3 s, not 1, so that a loaded machine cannot time it out
    # too; the slow answer comes far later (the fake's threads do not hold up its shutdown)
    text = open(company.inventory).read().replace("    definition: stripe\n", "    definition: stripe\n    timeout: 3\n")
    open(company.inventory, "w").write(text)
    company.http["stripe"].inject(Fault("slow", delay=10, path="^/v1/customers/search$"))
    result = cli("-i", company.inventory, "find", ZOE, "--json")
    assert result.code == 0 and counts(result)[("payments", "customers")] == 1, result
    assert slept == [0.5]
    deadline = time.monotonic() + 10
    while len(company.http["stripe"].requests("GET", "^/v1/customers/search$")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the retry reaches the fake after dsarctl gave up on the slow answer
    assert len(company.http["stripe"].requests("GET", "^/v1/customers/search$")) == 2


def test_requests_to_one_host_stay_within_its_concurrency(company, cli, tmp_path):
    text = open(company.inventory).read().replace("    definition: mailchimp\n", "    definition: mailchimp\n    concurrency: 2\n")
    open(company.inventory, "w").write(text)
    # long enough that two requests sent some ms apart overlap also on a loaded machine (0.05 s left little room)
    company.http["mailchimp"].server.latency = 0.3
    result = cli("-i", company.inventory, "export", ZOE, "-o", str(tmp_path / "z.zip"), "--json")
    assert result.code == 0, result
    assert company.http["mailchimp"].server.max_in_flight == 2  # the three members' reads ran beside each other, two at a time


# -- secrets --------------------------------------------------------------------------------------------------

def test_the_api_keys_never_reach_output_errors_the_audit_log_or_the_package(company, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY + "-wrong")  # refused: 401, named without the key
    outputs = []
    for args in (("find", ZOE, "--json"), ("export", ZOE, "-o", str(tmp_path / "p.zip"), "--json"),
                 ("erase", ZOE, "--yes", "--json"), ("audit", "log", "--json")):
        result = cli("-i", company.inventory, *args)
        outputs.append(result.out + result.err)
    assert "payments.customers: stripe: GET /v1/customers/search: 401 Unauthorized" in outputs[0]
    with zipfile.ZipFile(tmp_path / "p.zip") as package:
        outputs.extend(package.read(n).decode("utf-8", "replace") for n in package.namelist())
    audit = next(company.folder.rglob("audit.db"))
    with sqlite3.connect(audit) as db:
        outputs.extend(str(row) for table in ("events",) for row in db.execute(f"SELECT * FROM {table}"))
    db.close()
    for text in outputs:
        assert MAILCHIMP_KEY not in text and STRIPE_KEY not in text


# -- definitions ----------------------------------------------------------------------------------------------

def test_an_unknown_built_in_is_refused_with_a_hint(company, cli):
    text = open(company.inventory).read().replace("definition: mailchimp", "definition: mailchimpp")
    open(company.inventory, "w").write(text)
    line = text.splitlines().index("    definition: mailchimpp") + 1
    result = cli("-i", company.inventory, "inventory", "check")
    assert result.code == 2 and result.out == "", result
    assert result.err == (f"dsarctl: error: inventory.yaml:{line}: systems.newsletter.definition: no built-in "
                          "definition 'mailchimpp'; did you mean 'mailchimp'?\n")


def test_an_auth_kind_the_service_does_not_take_is_refused(company, cli):
    text = open(company.inventory).read().replace("      bearer: ${STRIPE_SECRET_KEY}",
                                                  "      basic: {username: u, password: p}")
    open(company.inventory, "w").write(text)
    line = text.splitlines().index("      basic: {username: u, password: p}") + 1
    result = cli("-i", company.inventory, "inventory", "check")
    assert result.code == 2, result
    assert result.err == (f"dsarctl: error: inventory.yaml:{line}: systems.payments.auth.basic: this service does "
                          "not take 'basic' (it takes: bearer, api_key)\n")


def test_plain_http_is_refused_off_localhost(company, cli):
    text = open(company.inventory).read().replace(company.urls["stripe"], "http://api.stripe.example")
    open(company.inventory, "w").write(text)
    result = cli("-i", company.inventory, "inventory", "check")
    assert result.code == 2 and "systems.payments.base_url: http:// would send the credentials unencrypted " \
                                  "to api.stripe.example" in result.err, result


def test_failures_print_one_line_per_system_and_message():
    from dsarctl.search import failure_lines

    down = "hubspot: connect to https://api.hubapi.com: connection failed (ConnectError) (after 4 retries)"
    assert failure_lines([("crm", "contacts", down), ("crm", "emails", down), ("crm", "deals", "hubspot: GET "
                          "/crm/v3/objects/deals/1: 403 Forbidden"), ("shop", "orders", down)]) == [
        f"crm: {down}", "crm.deals: hubspot: GET /crm/v3/objects/deals/1: 403 Forbidden", f"shop.orders: {down}"]


def test_an_unreachable_host_is_named_once_not_per_request(company, cli):
    text = open(company.inventory).read().replace(company.urls["mailchimp"], "http://127.0.0.1:9/3.0")
    open(company.inventory, "w").write(text)
    result = cli("-i", company.inventory, "find", ZOE)
    assert result.code == 3, result
    assert result.err.splitlines() == ["failed: newsletter.members: mailchimp: connect to http://127.0.0.1:9: "
                                       "connection failed (ConnectError) (after 4 retries)"], result.err
