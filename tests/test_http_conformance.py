"""The http source's built-in definitions pass the conformance suite of the sources contract
(dsarctl.testing), each against its stateful fake on a localhost port. Every request dsarctl sends and
every answer the fake gives is validated against the vendor's published OpenAPI document; a test whose
exchanges break it fails. The oracle is the fake's own state, read without HTTP."""

from __future__ import annotations

import copy
from contextlib import ExitStack

import pytest

from dsarctl.fakes.mailchimp import API_KEY as MAILCHIMP_KEY
from dsarctl.fakes.mailchimp import Mailchimp
from dsarctl.fakes.stripe import SECRET_KEY as STRIPE_KEY
from dsarctl.fakes.stripe import Stripe
from dsarctl.testing import SourceTests
from fakes import serve


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventories take their keys from the environment, as the loader requires of secrets."""
    monkeypatch.setenv("CONFORMANCE_MAILCHIMP_KEY", MAILCHIMP_KEY)
    monkeypatch.setenv("CONFORMANCE_STRIPE_KEY", STRIPE_KEY)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Retries back off without sleeping (the unreachable-source test retries every request)."""
    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "sleep", lambda seconds: None)


class _Served:
    def __init__(self, stack: ExitStack):
        self.stack = stack
        self.served = []

    def serve(self, api) -> str:
        self.served.append(self.stack.enter_context(serve(api)))
        return self.served[-1].url

    def problems(self) -> list[str]:
        return [problem for served in self.served for problem in served.problems]


class MailchimpFixture(_Served):
    """One audience per label of a person (an address is a member once per audience); the label in a
    merge field."""

    masked_field = "merge_fields.FNAME"

    def make(self, folder, people):
        self.api = api = Mailchimp()
        count = max(len(p.labels) for p in people)
        for i in range(count):
            api.add_list(f"list{i:04d}", f"Audience {i}")
        for person in people:
            first, _, last = person.name.partition(" ")
            for i, label in enumerate(person.labels):
                api.add_member(f"list{i:04d}", person.email, first=first, last=last, activity=2,
                               merge_fields={"FNAME": first, "LNAME": last, "NOTE": label})
        return {"connector": "http", "definition": "mailchimp", "base_url": self.serve(api),
                "auth": {"api_key": "${CONFORMANCE_MAILCHIMP_KEY}"}}

    def records_of(self, person):
        return [copy.deepcopy(m) for m in self.api.find(person.email)]

    def break_source(self):
        return {"base_url": "http://127.0.0.1:9/3.0"}  # the discard port: nothing answers


class StripeFixture(_Served):
    """One customer per label, the label in its description."""

    masked_field = "name"

    def make(self, folder, people):
        self.api = api = Stripe()
        for person in people:
            for label in person.labels:
                api.add_customer(person.email, person.name, description=label)
        return {"connector": "http", "definition": "stripe", "base_url": self.serve(api),
                "auth": {"bearer": "${CONFORMANCE_STRIPE_KEY}"}}

    def records_of(self, person):
        return [copy.deepcopy(c) for c in self.api.customers.values() if (c["email"] or "").lower() == person.email.lower()]

    def break_source(self):
        return {"base_url": "http://127.0.0.1:9"}


def _fixture(kind):
    with ExitStack() as stack:
        fixture = kind(stack)
        yield fixture
        problems = fixture.problems()
    assert problems == [], "exchanges that break the vendor's OpenAPI document:\n" + "\n".join(problems)


class TestMailchimp(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(MailchimpFixture)


class TestStripe(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(StripeFixture)
