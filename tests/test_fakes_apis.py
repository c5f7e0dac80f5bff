"""The vendor fakes of HubSpot, Zendesk and Google Analytics (dsarctl/fakes) answer as the vendors document
(paths, status codes, JSON shapes, pagination, error bodies) and act on deletes, and the fake server
injects the faults the http source's tests rely on. Plain urllib is the client: these tests check the
fakes, not dsarctl's client."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from dsarctl.fakes.google_analytics import DELETION_SCOPE, GoogleAnalyticsFake
from dsarctl.fakes.hubspot import HubSpotFake
from dsarctl.fakes.server import FakeServer, Fault
from dsarctl.fakes.zendesk import ZendeskFake

HUBSPOT = {"Authorization": "Bearer pat-test-token"}
ZENDESK = {"Authorization": "Basic " + base64.b64encode(b"agent@example.com/token:zd-test-token").decode()}
GOOGLE = {"Authorization": "Bearer ya29.test-token"}


def call(url, method="GET", body=None, headers=None, form=None):
    """(status, headers, parsed JSON or None) of one request."""
    data = json.dumps(body).encode() if body is not None else form
    request = urllib.request.Request(url, data=data, method=method, headers={
        **(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, head = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, head = error.read(), error.code, dict(error.headers)
    return status, head, (json.loads(raw) if raw and raw[:1] in b"{[" else None)


@pytest.fixture
def hubspot():
    api = HubSpotFake()
    with FakeServer(api) as server:
        yield api, server


@pytest.fixture
def zendesk():
    api = ZendeskFake()
    with FakeServer(api) as server:
        yield api, server


def search(url, value, **extra):
    return call(f"{url}/crm/v3/objects/contacts/search", "POST", {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": value}]}], **extra},
        HUBSPOT)


# -- HubSpot -------------------------------------------------------------------------------------------------

def test_hubspot_search_is_exact_and_case_insensitive_on_email(hubspot):
    api, server = hubspot
    zoe = api.add("contacts", {"email": "Zoe@Example.org", "firstname": "Zoe"})
    api.add("contacts", {"email": "xzoe@example.org.uk", "firstname": "Xavier"})
    status, _, body = search(server.url, "ZOE@example.org", properties=["jobtitle"])
    assert status == 200
    assert body["total"] == 1 and [r["id"] for r in body["results"]] == [zoe]
    contact = body["results"][0]
    assert contact["properties"]["email"] == "zoe@example.org"  # HubSpot keeps addresses in lower case
    assert set(contact["properties"]) == {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                                          "lastname", "jobtitle"}
    assert contact["archived"] is False and "paging" not in body


def test_hubspot_search_pages_with_after(hubspot):
    api, server = hubspot
    ids = [api.add("contacts", {"email": f"p{n}@example.com", "lifecyclestage": "lead"}) for n in range(5)]
    seen, after, pages = [], None, 0
    while True:
        extra = {"limit": 2, **({"after": after} if after else {})}
        status, _, body = call(f"{server.url}/crm/v3/objects/contacts/search", "POST", {
            "filterGroups": [{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]}],
            **extra}, HUBSPOT)
        assert status == 200 and body["total"] == 5
        seen += [r["id"] for r in body["results"]]
        pages += 1
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == ids and pages == 3


def test_hubspot_tickets_of_a_contact_and_gdpr_delete(hubspot):
    api, server = hubspot
    zoe = api.add("contacts", {"email": "zoe@example.org"})
    bob = api.add("contacts", {"email": "bob@example.net"})
    ticket = api.add("tickets", {"subject": "Refund"}, associations=[("contacts", zoe)])
    api.add("tickets", {"subject": "Bob's"}, associations=[("contacts", bob)])
    status, _, body = call(f"{server.url}/crm/v3/objects/tickets/search", "POST", {"filterGroups": [{"filters": [
        {"propertyName": "associations.contact", "operator": "EQ", "value": zoe}]}], "properties": ["subject"]}, HUBSPOT)
    assert status == 200 and [(r["id"], r["properties"]["subject"]) for r in body["results"]] == [(ticket, "Refund")]
    status, _, read = call(f"{server.url}/crm/v3/objects/contacts/{zoe}?associations=tickets,deals", headers=HUBSPOT)
    assert status == 200 and read["associations"] == {"tickets": {"results": [{"id": ticket, "type": "contact_to_ticket"}]}}

    status, _, body = call(f"{server.url}/crm/v3/objects/contacts/gdpr-delete", "POST", {"objectId": zoe}, HUBSPOT)
    assert (status, body) == (204, None)
    assert search(server.url, "zoe@example.org")[2]["total"] == 0
    status, _, missing = call(f"{server.url}/crm/v3/objects/contacts/{zoe}", headers=HUBSPOT)
    assert status == 404 and missing["category"] == "OBJECT_NOT_FOUND" and missing["status"] == "error"
    assert ticket in api.objects["tickets"] and api.linked("tickets", ticket, "contacts") == []  # unlinked, kept
    assert "zoe@example.org" in api.blocklist
    status, _, again = call(f"{server.url}/crm/v3/objects/contacts/gdpr-delete", "POST", {"objectId": zoe}, HUBSPOT)
    assert status == 404  # an id deleted already: not found
    status, _, _ = call(f"{server.url}/crm/v3/objects/contacts/gdpr-delete", "POST",
                        {"objectId": "new@example.com", "idProperty": "email"}, HUBSPOT)
    assert status == 204 and "new@example.com" in api.blocklist  # unknown address: blocked for the future
    assert bob in api.objects["contacts"]


def test_hubspot_refuses_a_wrong_token(hubspot):
    _, server = hubspot
    status, _, body = call(f"{server.url}/crm/v3/objects/contacts/1", headers={"Authorization": "Bearer nope"})
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"


# -- Zendesk -------------------------------------------------------------------------------------------------

def test_zendesk_user_search_tickets_and_comments(zendesk):
    api, server = zendesk
    zoe = api.add_user("Zoe", "Zoe@Example.org")
    api.add_user("Xavier", "xzoe@example.org.uk")
    tickets = [api.add_ticket(zoe, f"T{n}", [f"first {n}", f"second {n}"]) for n in range(3)]
    status, _, body = call(f"{server.url}/api/v2/users/search.json?query=email:zoe@example.org", headers=ZENDESK)
    assert status == 200 and [u["id"] for u in body["users"]] == [zoe] and body["next_page"] is None
    assert body["users"][0]["url"] == f"{server.url}/api/v2/users/{zoe}.json"
    url, seen = f"{server.url}/api/v2/users/{zoe}/tickets/requested.json?per_page=2", []
    while url:
        status, _, page = call(url, headers=ZENDESK)
        assert status == 200 and page["count"] == 3
        seen += [t["id"] for t in page["tickets"]]
        url = page["next_page"]
    assert seen == tickets
    status, _, page = call(f"{server.url}/api/v2/users/{zoe}/tickets/requested.json?page[size]=2", headers=ZENDESK)
    assert page["meta"]["has_more"] is True and page["links"]["next"].startswith(server.url)
    status, _, comments = call(f"{server.url}/api/v2/tickets/{tickets[0]}/comments.json", headers=ZENDESK)
    assert [c["body"] for c in comments["comments"]] == ["first 0", "second 0"]


def test_zendesk_delete_then_permanently_delete(zendesk):
    api, server = zendesk
    zoe = api.add_user("Zoe", "zoe@example.org", notes="VIP")
    closed = api.add_ticket(zoe, "Old", ["hello"], status="closed")
    open_ = api.add_ticket(zoe, "New", ["again"], status="open")
    status, _, body = call(f"{server.url}/api/v2/users/{zoe}", "DELETE", headers=ZENDESK)
    assert status == 422 and body["error"] == "RecordInvalid"  # requester of a ticket that is not closed
    status, _, _ = call(f"{server.url}/api/v2/deleted_users/{zoe}", "DELETE", headers=ZENDESK)
    assert status == 404  # not soft-deleted yet
    assert call(f"{server.url}/api/v2/tickets/{open_}", "DELETE", headers=ZENDESK)[0] == 204
    status, _, body = call(f"{server.url}/api/v2/users/{zoe}", "DELETE", headers=ZENDESK)
    assert status == 200 and body["user"]["active"] is False
    assert call(f"{server.url}/api/v2/users/search.json?query=email:zoe@example.org", headers=ZENDESK)[2]["users"] == []
    status, _, body = call(f"{server.url}/api/v2/deleted_users/{zoe}", "DELETE", headers=ZENDESK)
    assert status == 200 and body["deleted_user"]["email"] is None
    assert body["deleted_user"]["name"] == "Permanently Deleted User"
    assert call(f"{server.url}/api/v2/deleted_users/{zoe}", "DELETE", headers=ZENDESK)[0] == 404
    assert api.tickets[closed]["requester_id"] == zoe and api.comments[closed][0]["body"] == "hello"  # stays


def test_zendesk_errors(zendesk):
    _, server = zendesk
    assert call(f"{server.url}/api/v2/users/1.json", headers=ZENDESK)[2] == {"error": "RecordNotFound",
                                                                          "description": "Not found"}
    status, head, body = call(f"{server.url}/api/v2/users/1.json")
    assert status == 401 and body == {"error": "Couldn't authenticate you"} and "WWW-Authenticate" in head


# -- Google Analytics ----------------------------------------------------------------------------------------

def _assertion(claims):
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode({'alg': 'RS256', 'typ': 'JWT'})}.{encode(claims)}.c2ln"


def test_google_analytics_upsert_forgets_the_client_id():
    api = GoogleAnalyticsFake(token=None)
    api.add_user("123456789", "CLIENT_ID", "1111.2222", events=40)
    api.add_user("123456789", "CLIENT_ID", "3333.4444")
    with FakeServer(api) as server:
        url = f"{server.url}/analytics/v3/userDeletion/userDeletionRequests:upsert"
        request = {"kind": "analytics#userDeletionRequest", "id": {"type": "CLIENT_ID", "userId": "1111.2222"},
                   "propertyId": "123456789"}
        status, _, body = call(url, "POST", request, GOOGLE)
        assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        form = f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" \
               f"{_assertion({'iss': 'sa@p.iam.gserviceaccount.com', 'scope': DELETION_SCOPE, 'aud': server.url + '/token'})}"
        status, _, token = call(f"{server.url}/token", "POST", form=form.encode())
        assert status == 200 and token["token_type"] == "Bearer" and token["expires_in"] == 3599
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        status, _, body = call(url, "POST", request, bearer)
        assert status == 200 and body == {**request, "deletionRequestTime": "2026-01-05T10:00:00.000Z"}
        assert not api.holds("123456789", "CLIENT_ID", "1111.2222") and api.holds("123456789", "CLIENT_ID", "3333.4444")
        assert call(url, "POST", request, bearer)[0] == 200  # upsert: the same request again is accepted
        status, _, body = call(url, "POST", {"id": {"type": "EMAIL", "userId": "x"}, "propertyId": "1"}, bearer)
        assert status == 400 and body["error"]["errors"][0]["reason"] == "invalidParameter"


# -- the server's faults -------------------------------------------------------------------------------------

def test_injected_faults(hubspot):
    api, server = hubspot
    zoe = api.add("contacts", {"email": "zoe@example.org"})
    server.inject(Fault("429", path="/search", retry_after=2))
    status, head, _ = search(server.url, "zoe@example.org")
    assert status == 429 and head["Retry-After"] == "2"
    server.inject(Fault("503", method="POST"))
    assert search(server.url, "zoe@example.org")[0] == 503
    assert search(server.url, "zoe@example.org")[0] == 200  # each fault once
    server.inject(Fault("drop", path="/gdpr-delete"))
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        call(f"{server.url}/crm/v3/objects/contacts/gdpr-delete", "POST", {"objectId": zoe}, HUBSPOT)
    assert zoe in api.objects["contacts"]  # dropped before acting
    server.inject(Fault("drop-after", path="/gdpr-delete"))
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        call(f"{server.url}/crm/v3/objects/contacts/gdpr-delete", "POST", {"objectId": zoe}, HUBSPOT)
    assert zoe not in api.objects["contacts"]  # acted on, then dropped: the client cannot know
    assert [r.path for r in server.requests][-2:] == ["/crm/v3/objects/contacts/gdpr-delete"] * 2


def test_latency_applies_to_each_request_and_requests_overlap(hubspot):
    import threading

    _, server = hubspot
    # a latency long enough that the four are surely all in flight together, also on a loaded machine
    # (at 0.2 s a thread started late, or a slow answer, took the run past a tight bound); one after the
    # other they would take four latencies, 6 s
    server.latency = 1.5
    started = time.monotonic()
    threads = [threading.Thread(target=search, args=(server.url, "a@example.com")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 4.5, elapsed  # four at once: one latency, not four
    assert server.max_in_flight == 4
