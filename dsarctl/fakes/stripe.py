"""A stateful fake of the Stripe API v1 (base URL `https://api.stripe.com`), as far as dsarctl's `stripe`
definition uses it, with the documented shapes:

- `GET /v1/customers/search?query=email:'...'` (case-insensitive; `limit`, `page` tokens, `next_page`).
- `GET /v1/customers`, `/v1/charges?customer=`, `/v1/invoices?customer=`: lists with `limit`,
  `starting_after` cursors and `has_more`.
- `GET|POST /v1/customers/{customer}` (read; update from a form body, an empty value unsets a field).
- `DELETE /v1/customers/{customer}`: `{id, object, deleted: true}`; the customer is gone (a second delete
  answers 404 `resource_missing`, a GET the `deleted: true` stub) and its charges and invoices stay, as at
  Stripe.
- Errors: `{error: {type, code, message}}`. Auth: `Authorization: Bearer sk_...`.

Objects carry every field Stripe's published OpenAPI document requires (the test suite checks every
exchange with this fake against that document, tests/openapi/; the fake needs only the standard library).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .server import FakeApi, FakeRequest, FakeResponse

SECRET_KEY = "sk_test_51FakeDsarctlKey0123456789abcdef"
OPENAPI = ("stripe.com", None)  # the published document it speaks (its own server URL)
_SEARCH = re.compile(r"^\s*email\s*:\s*'((?:[^'\\]|\\.)*)'\s*$")

# The properties Stripe's OpenAPI document (published 2025-10-15) marks required, at their least values; a test
# (tests/test_fakes_vendors.py) compares them with the document's schemas.
REQUIRED = {
    "customer": {"created": 0, "id": "x", "livemode": False, "object": "customer"},
    "charge": {"amount": 0, "amount_captured": 0, "amount_refunded": 0, "billing_details": {}, "captured": False,
               "created": 0, "currency": "x", "disputed": False, "id": "x", "livemode": False, "metadata": {},
               "object": "charge", "paid": False, "refunded": False, "status": "failed"},
    "invoice": {"amount_due": 0, "amount_paid": 0, "amount_remaining": 0, "amount_shipping": 0, "attempt_count": 0,
                "attempted": False, "automatic_tax": {"enabled": False},
                "collection_method": "charge_automatically", "created": 0, "currency": "x",
                "default_tax_rates": [], "lines": {"data": [], "has_more": False, "object": "list", "url": "x"},
                "livemode": False, "object": "invoice", "paid": False, "paid_out_of_band": False,
                "payment_settings": {}, "period_end": 0, "period_start": 0,
                "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
                "starting_balance": 0, "status_transitions": {}, "subtotal": 0, "total": 0,
                "total_tax_amounts": []},
}


def error(status: int, message: str, code: str = "resource_missing", kind: str = "invalid_request_error"
          ) -> FakeResponse:
    return FakeResponse(status, {"error": {"type": kind, "code": code, "message": message}})


def _object(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    value = copy.deepcopy(REQUIRED[kind])
    value.update(fields)
    return value


class Stripe(FakeApi):
    """Customers, their charges and invoices."""

    name = "stripe"
    openapi = OPENAPI

    def __init__(self, secret_key: str = SECRET_KEY) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.customers: dict[str, dict] = {}
        self.deleted: set[str] = set()
        self.charges: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self._ids = 0
        self.route("GET", "/v1/customers/search", self.search_customers)
        self.route("GET", "/v1/customers", self.list_customers)
        self.route("GET", "/v1/customers/{customer}", self.get_customer)
        self.route("POST", "/v1/customers/{customer}", self.update_customer)
        self.route("DELETE", "/v1/customers/{customer}", self.delete_customer)
        self.route("GET", "/v1/charges", self.list_charges)
        self.route("GET", "/v1/invoices", self.list_invoices)

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._ids:014d}"

    # -- state ---------------------------------------------------------------------------------------
    def add_customer(self, email: str | None, name: str = "", **extra: Any) -> dict:
        with self.lock:
            cid = self._id("cus")
            self.customers[cid] = _object("customer", {
                "id": cid, "object": "customer", "email": email, "name": name, "created": 1700000000 + self._ids,
                "livemode": False, "phone": None, "address": None, "description": None, "metadata": {}, **extra})
            return self.customers[cid]

    def add_charge(self, customer: str, amount: int, **extra: Any) -> dict:
        with self.lock:
            cid = self._id("ch")
            email = self.customers[customer]["email"]
            self.charges[cid] = _object("charge", {
                "id": cid, "object": "charge", "amount": amount, "amount_captured": amount, "currency": "gbp",
                "customer": customer, "created": 1700000000 + self._ids, "paid": True, "captured": True,
                "status": "succeeded", "receipt_email": email, "metadata": {},
                "billing_details": {"address": None, "email": email, "name": None, "phone": None}, **extra})
            return self.charges[cid]

    def add_invoice(self, customer: str, total: int, **extra: Any) -> dict:
        with self.lock:
            iid = self._id("in")
            record = self.customers[customer]
            invoice = _object("invoice", {
                "id": iid, "object": "invoice", "customer": customer, "total": total, "subtotal": total,
                "amount_due": total, "amount_paid": total, "currency": "gbp", "status": "paid",
                "customer_email": record["email"], "customer_name": record["name"],
                "created": 1700000000 + self._ids, **extra})
            invoice["lines"] = {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{iid}/lines"}
            self.invoices[iid] = invoice
            return invoice

    # -- auth and errors ---------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return error(401, "Invalid API Key provided.", code="api_key_invalid")
        return None

    def error(self, status: int, message: str) -> FakeResponse:
        return error(status, message, code="injected", kind="api_error")

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return error(404, f"Unrecognized request URL ({request.method}: {request.path}).", code="url_invalid")

    # -- endpoints ---------------------------------------------------------------------------------------
    def search_customers(self, request: FakeRequest) -> FakeResponse:
        match = _SEARCH.match(request.arg("query", "") or "")
        if not match:
            return error(400, "Invalid search query.", code="parameter_invalid_string")
        wanted = re.sub(r"\\(.)", r"\1", match.group(1)).lower()
        found = [c for c in self.customers.values() if (c.get("email") or "").lower() == wanted]
        limit = int(request.arg("limit", "10") or 10)
        start = int(request.arg("page", "0") or 0)
        page = found[start: start + limit]
        more = start + limit < len(found)
        return FakeResponse(200, {"object": "search_result", "url": "/v1/customers/search", "data": page,
                                  "has_more": more, "next_page": str(start + limit) if more else None})

    def _list(self, request: FakeRequest, objects: list[dict], url: str) -> FakeResponse:
        limit = int(request.arg("limit", "10") or 10)
        after = request.arg("starting_after")
        if after:
            ids = [o["id"] for o in objects]
            if after not in ids:
                return error(400, f"No such object: '{after}'", code="resource_missing")
            objects = objects[ids.index(after) + 1:]
        return FakeResponse(200, {"object": "list", "url": url, "data": objects[:limit],
                                  "has_more": len(objects) > limit})

    def list_customers(self, request: FakeRequest) -> FakeResponse:
        return self._list(request, list(self.customers.values()), "/v1/customers")

    def get_customer(self, request: FakeRequest) -> FakeResponse:
        customer = request.params["customer"]
        if customer in self.deleted:
            return FakeResponse(200, {"id": customer, "object": "customer", "deleted": True})
        record = self.customers.get(customer)
        return FakeResponse(200, record) if record else error(404, f"No such customer: '{customer}'")

    def update_customer(self, request: FakeRequest) -> FakeResponse:
        customer = request.params["customer"]
        record = self.customers.get(customer)
        if record is None:
            return error(404, f"No such customer: '{customer}'")
        for key, value in request.form().items():
            top, _, sub = key.partition("[")
            if sub:
                record[top] = dict(record.get(top) or {})
                record[top][sub.rstrip("]")] = value or None
            else:
                record[top] = value or None  # Stripe: an empty string unsets a field
        return FakeResponse(200, record)

    def delete_customer(self, request: FakeRequest) -> FakeResponse:
        customer = request.params["customer"]
        if self.customers.pop(customer, None) is None:
            return error(404, f"No such customer: '{customer}'")
        self.deleted.add(customer)
        return FakeResponse(200, {"id": customer, "object": "customer", "deleted": True})

    def list_charges(self, request: FakeRequest) -> FakeResponse:
        customer = request.arg("customer")
        return self._list(request, [c for c in self.charges.values() if customer in (None, c["customer"])],
                          "/v1/charges")

    def list_invoices(self, request: FakeRequest) -> FakeResponse:
        customer = request.arg("customer")
        return self._list(request, [i for i in self.invoices.values() if customer in (None, i["customer"])],
                          "/v1/invoices")
