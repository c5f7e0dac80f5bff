"""The HubSpot and Zendesk built-in definitions pass the conformance suite of the sources contract
(dsarctl.testing), each against its stateful fake (dsarctl/fakes) on a localhost port. The oracle is the
fake's own state, read without HTTP.

HubSpot keeps one contact per address, so a person's further records are e-mails they sent that are
logged on the CRM timeline (found by their from address). Zendesk keeps one user per address too; a
person's further records are tickets they requested, reached from the user's id (identity expansion, through the kind the definition declares):
for them `find` reports the user id, not the address, as what led there, and the suite's find test is
adapted below to accept exactly that (a record reached from an identifier that one of the person's
address-matched records carries), nothing looser."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from dsarctl.fakes.hubspot import HubSpotFake
from dsarctl.fakes.server import FakeServer
from dsarctl.fakes.zendesk import ZendeskFake
from dsarctl.testing import PEOPLE, SourceTests

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers


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
                "auth": {"bearer": api.token}}

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
                "auth": {"basic": {"username": "agent@example.com/token", "password": "zd-test-token"}},
                # tickets are retained unless the inventory says otherwise (the definition's default)
                "collections": {"tickets": {"erase": "delete"}}}

    def records_of(self, person):
        with self.api.lock:
            users = [dict(u) for u in self.api.users.values() if (u["email"] or "").lower() == person.email.lower()]
            ids = {u["id"] for u in users}
            return users + [dict(t) for t in self.api.tickets.values() if t["requester_id"] in ids]


def _fixture(kind):
    with ExitStack() as stack:
        yield kind(stack)


class _ExpansionAware(SourceTests):
    def test_find_returns_exactly_each_persons_records(self, source_fixture, tmp_path, dsarctl):
        """The suite's find test, but a record may be reached from an identifier that one of the person's
        address-matched records carries (a Zendesk ticket from its requester's user id)."""
        from dsarctl.identity import parse_identifier
        from dsarctl.inventory import load_inventory
        from dsarctl.search import find_subject

        inventory_path = self.build(source_fixture, tmp_path)
        self.stored(source_fixture)
        inventory = load_inventory(inventory_path)
        for person in PEOPLE:
            result = find_subject(inventory, [parse_identifier(person.searched, inventory.identities)])
            assert not result.failures, result.failures
            records = list(result.records())
            found = self.labels(" ".join(json.dumps(r.data, default=str) for r in records))
            assert found == set(person.labels) and len(records) == len(person.labels), (person.email, records)
            by_address = [r for r in records if ("email", person.searched) in r.matched]
            assert by_address, records
            carried = {(kind, value) for r in by_address for kind, values in r.identities.items() for value in values}
            for record in records:
                assert record.matched and (("email", person.searched) in record.matched
                                           or record.matched <= carried), record
                json.dumps(record.key)
            cli = dsarctl("-i", str(inventory_path), "find", person.searched, "--json")
            assert cli.code == 0 and cli.json()["total"] == len(person.labels), cli


class TestHubSpot(SourceTests):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(HubSpotFixture)


class TestZendesk(_ExpansionAware):
    @pytest.fixture
    def source_fixture(self):
        yield from _fixture(ZendeskFixture)
