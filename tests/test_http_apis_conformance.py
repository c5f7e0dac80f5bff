"""The HubSpot, Zendesk and Google Analytics built-in definitions pass the conformance suite of the sources
contract (dsarctl.testing), each against its stateful fake (dsarctl/fakes) on a localhost port, with no
test of the suite overridden. The oracle is the fake's own state, read without HTTP.

HubSpot keeps one contact per address, so a person's further records are e-mails they sent that are
logged on the CRM timeline (found by their from address). Zendesk keeps one user per address too; a
person's further records are tickets they requested, reached from the user's id (identity expansion
through the kind the definition declares: the suite accepts a record reached that way). Google Analytics
cannot be searched: its records are the client ids another system holds, so its fixture is
record-style (`record_style = "ga_client_id"`): the suite gives each person's labels as client ids and
skips, saying why, the tests that need a search by address."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from dsarctl.fakes.google_analytics import GoogleAnalyticsFake
from dsarctl.fakes.hubspot import HubSpotFake
from dsarctl.fakes.server import FakeServer
from dsarctl.fakes.zendesk import ZendeskFake
from dsarctl.testing import SourceTests

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    """The inventories take their tokens from the environment, as the loader requires of secrets."""
    monkeypatch.setenv("CONFORMANCE_HUBSPOT_TOKEN", HubSpotFake().token)
    monkeypatch.setenv("CONFORMANCE_ZENDESK_TOKEN", "zd-test-token")
    monkeypatch.setenv("CONFORMANCE_GA_TOKEN", "ya29.conformance")


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """Retries back off without sleeping (the unreachable-source test retries every request)."""
    from dsarctl.connectors.http import client

    monkeypatch.setattr(client, "sleep", lambda seconds: None)


class _Served:
    def __init__(self, stack: ExitStack):
        self.stack = stack

    def serve(self, api) -> str:
        return self.stack.enter_context(FakeServer(api)).url

    def break_source(self):
        return {"base_url": NOWHERE}


class HubSpotFixture(_Served):
    """A contact per person (the first label as its job title); each further label a logged e-mail from
    the person (the label as its subject)."""

    masked_field = None  # contacts are erased by the GDPR delete, not masked

    def make(self, folder, people):
        self.api = api = HubSpotFake()
        for person in people:
            first, _, last = person.name.partition(" ")
            contact = api.add("contacts", {"email": person.email, "firstname": first, "lastname": last,
                                           "jobtitle": person.labels[0]})
            for label in person.labels[1:]:
                api.add("emails", {"hs_email_from_email": person.email, "hs_email_to_email": "support@controller.example",
                                   "hs_email_subject": label, "hs_email_text": "Hello", "hs_email_direction": "INCOMING_EMAIL"},
                        associations=[("contacts", contact)])
        return {"connector": "http", "definition": "hubspot", "base_url": self.serve(api),
                "auth": {"bearer": "${CONFORMANCE_HUBSPOT_TOKEN}"}}

    def records_of(self, person):
        address = person.email.lower()
        with self.api.lock:
            return [("contacts", i, dict(p)) for i, p in self.api.objects["contacts"].items() if p.get("email") == address] + \
                   [("emails", i, dict(p)) for i, p in self.api.objects["emails"].items()
                    if (p.get("hs_email_from_email") or "").lower() == address]


class ZendeskFixture(_Served):
    """A user per person (the first label in its notes); each further label a closed ticket the person
    requested (the label as its subject and comment)."""

    masked_field = None

    def make(self, folder, people):
        self.api = api = ZendeskFake()
        for person in people:
            user = api.add_user(person.name, person.email, notes=person.labels[0])
            for label in person.labels[1:]:
                api.add_ticket(user, label, [f"About {label}"], status="closed")
        return {"connector": "http", "definition": "zendesk", "base_url": self.serve(api),
                "auth": {"basic": {"username": "agent@example.com/token", "password": "${CONFORMANCE_ZENDESK_TOKEN}"}},
                # tickets are retained unless the inventory says otherwise (the definition's default)
                "collections": {"tickets": {"erase": "delete"}}}

    def records_of(self, person):
        with self.api.lock:
            users = [dict(u) for u in self.api.users.values() if (u["email"] or "").lower() == person.email.lower()]
            ids = {u["id"] for u in users}
            return users + [dict(t) for t in self.api.tickets.values() if t["requester_id"] in ids]


class GoogleAnalyticsFixture(_Served):
    """Record-style: each label of a person is a client id the property holds events of."""

    masked_field = None
    record_style = "ga_client_id"
    property_id = "318000000"

    def make(self, folder, people):
        self.api = api = GoogleAnalyticsFake(token="ya29.conformance")
        for person in people:
            for label in person.labels:
                api.add_user(self.property_id, "CLIENT_ID", label, events=3)
        return {"connector": "http", "definition": "google-analytics", "base_url": self.serve(api),
                "auth": {"bearer": "${CONFORMANCE_GA_TOKEN}"}, "params": {"property_id": self.property_id}}

    def records_of(self, person):
        with self.api.lock:
            return [(label, self.api.events[(self.property_id, "CLIENT_ID", label)]) for label in person.labels
                    if (self.property_id, "CLIENT_ID", label) in self.api.events]


def _fixture(kind):
    with ExitStack() as stack:
        yield kind(stack)


class TestHubSpot(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(HubSpotFixture)


class TestZendesk(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(ZendeskFixture)


class TestGoogleAnalytics(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(GoogleAnalyticsFixture)
