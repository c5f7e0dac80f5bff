"""A stateful fake of the Stripe API v1 (the endpoints dsarctl's stripe definition uses), judged by
Stripe's published OpenAPI document (tests/openapi/stripe.com.json.gz); its objects start from the
document's schemas, so they carry every required field.

Customers are found by the Search API (`email:'...'`, case-insensitive, with `page` tokens), charges and
invoices listed by customer (`starting_after` cursors). Deleting a customer removes it (a second delete
answers 404 `resource_missing`, a GET the `deleted: true` stub) and leaves its charges and invoices, as
Stripe does. Auth: `Authorization: Bearer sk_...`."""

from __future__ import annotations

import re
from typing import Any

from fakes.base import FakeAPI, Request, Response, route
from fakes.contract import Contract, example

SECRET_KEY = "sk_test_51FakeDsarctlKey0123456789abcdef"
_SEARCH = re.compile(r"^\s*email\s*:\s*'((?:[^'\\]|\\.)*)'\s*$")


def error(status: int, message: str, code: str = "resource_missing", kind: str = "invalid_request_error") -> Response:
    return Response(status, {"error": {"type": kind, "code": code, "message": message}})


class Stripe(FakeAPI):
    def __init__(self, *, validate: bool = True):
        super().__init__()
        self.customers: dict[str, dict] = {}
        self.deleted: set[str] = set()
        self.charges: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self._ids = 0
        if validate:
            self.validator = Contract("stripe.com")

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._ids:014d}"

    # -- state ---------------------------------------------------------------------------------------
    def add_customer(self, email: str | None, name: str = "", **extra: Any) -> dict:
        cid = self._id("cus")
        fields = {"id": cid, "object": "customer", "email": email, "name": name, "created": 1700000000 + self._ids,
                  "livemode": False, "phone": None, "address": None, "description": None, "metadata": {}, **extra}
        self.customers[cid] = example("stripe.com", "customer", **fields)
        return self.customers[cid]

    def add_charge(self, customer: str, amount: int, **extra: Any) -> dict:
        cid = self._id("ch")
        email = self.customers[customer]["email"]
        fields = {"id": cid, "object": "charge", "amount": amount, "amount_captured": amount, "currency": "gbp",
                  "customer": customer, "created": 1700000000 + self._ids, "paid": True, "captured": True,
                  "status": "succeeded", "receipt_email": email, "metadata": {},
                  "billing_details": {"address": None, "email": email, "name": None, "phone": None}, **extra}
        self.charges[cid] = example("stripe.com", "charge", **fields)
        return self.charges[cid]

    def add_invoice(self, customer: str, total: int, **extra: Any) -> dict:
        iid = self._id("in")
        record = self.customers[customer]
        fields = {"id": iid, "object": "invoice", "customer": customer, "total": total, "subtotal": total,
                  "amount_due": total, "amount_paid": total, "currency": "gbp", "status": "paid",
                  "customer_email": record["email"], "customer_name": record["name"],
                  "created": 1700000000 + self._ids, **extra}
        invoice = example("stripe.com", "invoice", **fields)
        invoice["lines"] = {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{iid}/lines"}
        self.invoices[iid] = invoice
        return invoice

    # -- auth ------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return error(401, "Invalid API Key provided.", code="api_key_invalid")
        return super().handle(request)

    def error(self, status: int, message: str) -> Response:
        return error(status, message, code="injected", kind="api_error")

    def not_found(self, request: Request) -> Response:
        return error(404, f"Unrecognized request URL ({request.method}: {request.path}).", code="url_invalid")

    # -- endpoints ---------------------------------------------------------------------------------------
    @route("GET", "/v1/customers/search")
    def search_customers(self, request: Request) -> Response:
        match = _SEARCH.match(request.arg("query", ""))
        if not match:
            return error(400, "Invalid search query.", code="parameter_invalid_string")
        wanted = re.sub(r"\\(.)", r"\1", match.group(1)).lower()
        with self.lock:
            found = [c for c in self.customers.values() if (c.get("email") or "").lower() == wanted]
        limit = int(request.arg("limit", 10))
        start = int(request.arg("page", "0") or 0)
        page = found[start: start + limit]
        more = start + limit < len(found)
        return Response(200, {"object": "search_result", "url": "/v1/customers/search", "data": page,
                              "has_more": more, "next_page": str(start + limit) if more else None})

    def _list(self, request: Request, objects: list[dict], url: str) -> Response:
        limit = int(request.arg("limit", 10))
        after = request.arg("starting_after")
        if after:
            ids = [o["id"] for o in objects]
            if after not in ids:
                return error(400, f"No such object: '{after}'", code="resource_missing")
            objects = objects[ids.index(after) + 1:]
        return Response(200, {"object": "list", "url": url, "data": objects[:limit], "has_more": len(objects) > limit})

    @route("GET", "/v1/customers")
    def list_customers(self, request: Request) -> Response:
        with self.lock:
            return self._list(request, list(self.customers.values()), "/v1/customers")

    @route("GET", "/v1/customers/{customer}")
    def get_customer(self, request: Request, customer: str) -> Response:
        if customer in self.deleted:
            return Response(200, {"id": customer, "object": "customer", "deleted": True})
        record = self.customers.get(customer)
        return Response(200, record) if record else error(404, f"No such customer: '{customer}'")

    @route("POST", "/v1/customers/{customer}")
    def update_customer(self, request: Request, customer: str) -> Response:
        with self.lock:
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
            return Response(200, record)

    @route("DELETE", "/v1/customers/{customer}")
    def delete_customer(self, request: Request, customer: str) -> Response:
        with self.lock:
            if self.customers.pop(customer, None) is None:
                return error(404, f"No such customer: '{customer}'")
            self.deleted.add(customer)
        return Response(200, {"id": customer, "object": "customer", "deleted": True})

    @route("GET", "/v1/charges")
    def list_charges(self, request: Request) -> Response:
        customer = request.arg("customer")
        with self.lock:
            return self._list(request, [c for c in self.charges.values() if customer in (None, c["customer"])],
                              "/v1/charges")

    @route("GET", "/v1/invoices")
    def list_invoices(self, request: Request) -> Response:
        customer = request.arg("customer")
        with self.lock:
            return self._list(request, [i for i in self.invoices.values() if customer in (None, i["customer"])],
                              "/v1/invoices")
