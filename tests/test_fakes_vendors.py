"""The Mailchimp and Stripe fakes ship in the package (dsarctl/fakes/) and need no OpenAPI document at run
time; the test suite's wrapper (tests/fakes/) checks their exchanges against the vendors' documents. Here:
the Stripe fake's objects carry what the document requires, and the check really catches a bad answer."""

from __future__ import annotations

import httpx

from dsarctl.fakes.mailchimp import API_KEY, Mailchimp
from dsarctl.fakes.stripe import REQUIRED, SECRET_KEY, Stripe
from fakes import Fault, serve
from fakes.contract import example


def test_the_stripe_fakes_objects_start_from_what_the_document_requires():
    for schema, fields in REQUIRED.items():
        assert fields == example("stripe.com", schema), schema


def test_an_answer_that_breaks_the_document_is_reported():
    api = Mailchimp()
    api.add_list("aud0", "Audience")
    api.add_member("aud0", "zoe@example.org", first="Zoe")
    with serve(api) as served:
        auth = ("any", API_KEY)
        ok = httpx.get(f"{served.url}/search-members", params={"query": "zoe@example.org"}, auth=auth)
        assert ok.status_code == 200 and served.problems == []
        api.lists["aud0"]["web_id"] = "one"  # the document says integer
        httpx.get(f"{served.url}/lists", auth=auth)
    assert len(served.problems) == 1 and served.problems[0].startswith("response 200 to GET /lists: "), \
        served.problems


def test_an_injected_429_is_in_the_vendors_error_shape_and_passes_the_check():
    with serve(Stripe()) as served:
        served.inject(Fault("429", retry_after=7, path="^/v1/customers/search$"))
        answer = httpx.get(f"{served.url}/v1/customers/search", params={"query": "email:'a@b.example'"},
                           headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["type"] == "api_error"
    assert served.problems == [] and [r.path for r in served.requests()] == ["/v1/customers/search"]
