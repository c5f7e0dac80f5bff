"""A vendor's published OpenAPI document as the judge of a fake: every request a client sends and every
response the fake returns is validated against it (openapi-core), and the fake's objects start from
minimal instances of the document's schemas (`example`), so that they carry every required field.

The documents are vendored under tests/openapi/ (see its README: source, version, licence)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dsarctl.fakes.server import FakeRequest as Request
from dsarctl.fakes.server import FakeResponse as Response

SPECS = Path(__file__).resolve().parent.parent / "openapi"


@lru_cache(maxsize=None)
def document(name: str) -> dict:
    """The OpenAPI document tests/openapi/NAME.json.gz, parsed, with three known defects repaired
    (`_inline_discriminators`, `_deep_objects`, `_nullable_composites`: see tests/openapi/README.md)."""
    doc = json.loads(gzip.decompress((SPECS / f"{name}.json.gz").read_bytes()))
    _inline_discriminators(doc)
    doc["x-dsarctl-deep-objects"] = sorted(_deep_objects(doc))
    _nullable_composites(doc)
    return doc


def _nullable_composites(node) -> int:
    """`nullable: true` beside `anyOf`/`oneOf` and no `type` (Stripe: a customer's `address`), read as the
    vendor means it, null allowed (its API returns null there): OpenAPI 3.0.3 gives `nullable` no effect
    without `type`, and openapi-core follows it, refusing every null. The null is added as one more
    alternative; the others stay as they are."""
    count = 0
    if isinstance(node, dict):
        if node.get("nullable") is True and "type" not in node:
            for key in ("anyOf", "oneOf"):
                if isinstance(node.get(key), list):
                    node[key] = node[key] + [{"type": "object", "nullable": True, "enum": [None]}]
                    count += 1
        for value in node.values():
            count += _nullable_composites(value)
    elif isinstance(node, list):
        for value in node:
            count += _nullable_composites(value)
    return count


def _deep_objects(doc: dict) -> set[str]:
    """Take the query parameters and form fields of `style: deepObject` (Stripe's `expand`, `created`,
    `address`, ...) out of the document, returning their names. openapi-core refuses every request to an operation that has one,
    sent or not ("DeserializeError: ('deepObject', 'created')"), and dsarctl sends none of them: `check`
    reports a request that does, so that nothing is left unchecked silently."""
    names = set()
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "parameters" not in operation:
                continue
            kept = []
            for param in operation["parameters"]:
                if param.get("style") == "deepObject" and param.get("in") == "query" and not param.get("required"):
                    names.add(param["name"])
                else:
                    kept.append(param)
            operation["parameters"] = kept
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            for media in content.values():
                encoding = media.get("encoding", {})
                for name in [n for n, e in encoding.items() if e.get("style") == "deepObject"]:
                    del encoding[name]  # form fields nested as a[b]= (Stripe): the same refusal, in bodies
                    names.add(name)
    return names


def _inline_discriminators(node) -> int:
    """Drop a `discriminator` without a `mapping` whose `oneOf` alternatives are inline schemas. OpenAPI
    3.0 resolves such a discriminator's values as names of components/schemas, which these documents do
    not have (Mailchimp's activity feed: '#/components/schemas/open'), so a validator cannot resolve it;
    without it, `oneOf` still tells the alternatives apart (each has its own `activity_type` enum)."""
    count = 0
    if isinstance(node, dict):
        disc = node.get("discriminator")
        if isinstance(disc, dict) and "mapping" not in disc and any("$ref" not in alt for alt in node.get("oneOf", [])):
            del node["discriminator"]
            count += 1
        for value in node.values():
            count += _inline_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            count += _inline_discriminators(value)
    return count


@lru_cache(maxsize=None)
def contract(name: str, server: str | None = None) -> "Contract":
    """One `Contract` per document and server (building one parses the document: seconds for Stripe's)."""
    return Contract(name, server)


class Contract:
    """Validates exchanges against document `name`; `server` is the document's server URL whose path is
    the fake's prefix (Mailchimp's https://server.api.mailchimp.com/3.0)."""

    def __init__(self, name: str, server: str | None = None):
        from openapi_core import Config, OpenAPI

        self.doc = document(name)
        self.server = (server or self.doc["servers"][0]["url"]).rstrip("/")
        self.api = OpenAPI.from_dict(self.doc, config=Config(spec_validator_cls=None))
        self.prefix = urlsplit(self.server).path.rstrip("/")
        self.host = self.server[: len(self.server) - len(self.prefix)] if self.prefix else self.server

    def __call__(self, request: Request, response: Response) -> list[str]:
        return self.check(request, response)

    def check(self, request: Request, response: Response) -> list[str]:
        from openapi_core.testing import MockRequest, MockResponse

        args = [(key, value) for key, values in request.query.items() for value in values]
        content_type = request.headers.get("content-type", "application/json").split(";")[0]
        mock = MockRequest(self.host, request.method.lower(), self.prefix + request.path, args=args,
                           headers=request.headers, data=request.body or None, content_type=content_type)
        where = f"{request.method} {request.path}"
        problems = []
        deep = set(self.doc.get("x-dsarctl-deep-objects", ()))
        form = request.form() if "form-urlencoded" in request.headers.get("content-type", "") else {}
        for key in list(request.query) + [k for k in form if "[" in k]:
            if key.split("[")[0] in deep:
                problems.append(f"request {where}: sends the deepObject parameter '{key}', which this check "
                                "cannot read (see tests/openapi/README.md)")
        try:
            self.api.validate_request(mock)
        except Exception as exc:
            problems.append(f"request {where}: {_explain(exc)}")
        if response.status == 204 and response.body is None:
            return problems + self._no_content(mock, where)
        reply = MockResponse(response.payload(), status_code=response.status, headers=response.headers,
                             content_type="application/json")
        try:
            self.api.validate_response(mock, reply)
        except Exception as exc:
            problems.append(f"response {response.status} to {where}: {_explain(exc)}")
        return problems

    def _no_content(self, mock, where: str) -> list[str]:
        """A 204 must be an answer the operation documents: a 204 response, or (Mailchimp, whose document
        lists only errors for delete-permanent) no success response at all besides `default`."""
        from openapi_core.templating.paths.finders import APICallPathFinder

        found = APICallPathFinder(self.api.spec).find(mock.method, mock.host_url + mock.path)
        responses = found.operation / "responses"
        codes = set(responses.keys())
        if "204" in codes or codes == {"default"}:
            return []
        return [f"response 204 to {where}: not documented (responses: {', '.join(sorted(codes))})"]


def _explain(exc: Exception) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            parts.extend(f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])
        else:
            parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)


def example(doc_name: str, schema: str | dict, /, **overrides: Any) -> dict:
    """A minimal instance of a schema of document `doc_name` (a components/schemas name, or a schema): every
    required property, nullable ones null, strings "x", numbers 0, the first of an enum; then `overrides`."""
    doc = document(doc_name)
    node = doc["components"]["schemas"][schema] if isinstance(schema, str) else schema
    value = _minimal(doc, node, 0)
    if isinstance(value, dict):
        value.update(overrides)
    return value


def _resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        target = doc
        for part in parts:
            target = target[part]
        node = target
    return node


def _minimal(doc: dict, node: dict, depth: int) -> Any:
    node = _resolve(doc, node)
    if depth > 12:
        return None
    if node.get("nullable"):
        return None
    for key in ("anyOf", "oneOf"):
        if key in node:
            return _minimal(doc, node[key][0], depth + 1)
    if "allOf" in node:
        out: dict = {}
        for part in node["allOf"]:
            value = _minimal(doc, part, depth + 1)
            if isinstance(value, dict):
                out.update(value)
        return out
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        return {key: _minimal(doc, props[key], depth + 1) for key in node.get("required", []) if key in props}
    if kind == "array":
        return []
    if kind == "integer" or kind == "number":
        return 0
    if kind == "boolean":
        return False
    if kind == "string":
        return "x"
    return None
