"""The test suite's side of the vendor fakes (they live in dsarctl/fakes/, so that `dsarctl demo --apis`
runs them from an installed dsarctl): `serve(api)` runs one on localhost and, for a fake that names the
vendor's published OpenAPI document (`api.openapi`: Mailchimp, Stripe), checks every request dsarctl
sends and every response the fake returns against it (fakes/contract.py, openapi-core); a test asserts
`served.problems` empty.

    with serve(Mailchimp()) as served:
        served.url                        # the base URL, with the API's prefix (".../3.0")
        served.inject(Fault("429", retry_after=7, path="^/search-members$"))
        served.requests("GET", "activity-feed")
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from dsarctl.fakes.server import FakeApi, FakeRequest, FakeResponse, FakeServer, Fault

__all__ = ["FakeApi", "FakeRequest", "FakeResponse", "FakeServer", "Fault", "Served", "serve"]


@dataclass
class Served:
    api: Any
    server: FakeServer
    problems: list[str] = field(default_factory=list)  # exchanges that break the vendor's OpenAPI document

    @property
    def url(self) -> str:
        return self.server.base_url

    def requests(self, method: str | None = None, path: str | None = None) -> list[FakeRequest]:
        return self.server.sent(method, path)

    def inject(self, fault: Fault) -> None:
        self.server.inject(fault)


@contextmanager
def serve(api: FakeApi, *, validate: bool = True, latency: float = 0.0) -> Iterator[Served]:
    served = Served(api, FakeServer(api, latency=latency))
    if validate and getattr(api, "openapi", None):
        from fakes.contract import contract

        check = contract(*api.openapi)
        served.server.observers.append(lambda request, response: served.problems.extend(check(request, response)))
    served.server.start()
    try:
        yield served
    finally:
        served.server.stop()
