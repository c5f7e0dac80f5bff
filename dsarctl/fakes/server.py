"""A small threaded HTTP server on 127.0.0.1 that runs one vendor fake, with injected latency and faults.

A fake is a `FakeApi`: routes (method, path pattern) to handlers that read a `FakeRequest` and return a
`FakeResponse`. The server adds what every test needs around it: a request log, latency per request (the
benchmark's 100 ms), faults injected for the next matching requests (429 with Retry-After, a 5xx, a
connection dropped before or after the request was acted on, a slow answer), and observers called with
every exchange (the test suite checks each against the vendor's OpenAPI document there: tests/fakes/).

Only the standard library: the fakes must run wherever dsarctl is installed (`dsarctl demo --apis`).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeApi", "FakeRequest", "FakeResponse", "FakeServer", "Fault", "sequential_depth"]


@dataclass
class FakeRequest:
    """A request as the fake saw it."""

    method: str
    path: str  # without the API's `prefix` (Mailchimp's "/3.0")
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # the route's named groups
    started: float = 0.0  # time.monotonic() when the request arrived, and when its answer was sent
    ended: float = 0.0
    raw_path: str = ""  # as sent: with the prefix and the query string

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        """An `application/x-www-form-urlencoded` body (Stripe's), the last value of each field."""
        return {key: values[-1] for key, values in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "body": self.body.decode("utf-8", "replace")}


@dataclass
class FakeResponse:
    status: int
    body: Any = None  # JSON-serialisable, or bytes, or None for no body
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[[FakeRequest], FakeResponse]


class FakeApi:
    """A vendor's API: subclasses register routes in `__init__` with `self.route(...)` and keep their state
    behind `self.lock` (the server answers requests on several threads). `prefix` is the path of the
    vendor's base URL (Mailchimp's "/3.0"): routes and `FakeRequest.path` are relative to it."""

    name = "fake"
    prefix = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` is a path with `{name}` segments (one path segment each)."""
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        self._routes.append((method, re.compile(f"^{regex}$"), handler))
        # a literal segment wins over a placeholder (/customers/search before /customers/{id}); stable
        self._routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        """None when the request's credentials are accepted, else the vendor's refusal."""
        return None

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"error": "not found", "path": request.path})

    def error(self, status: int, message: str) -> FakeResponse:
        """An error in the vendor's shape (an injected 429 or 5xx is answered with it)."""
        return FakeResponse(status, {"error": message})

    def handle(self, request: FakeRequest) -> FakeResponse:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        allowed = []
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match:
                if method == request.method:
                    request.params = match.groupdict()
                    with self.lock:
                        return handler(request)
                allowed.append(method)
        if allowed:
            return FakeResponse(405, {"error": "method not allowed"}, {"Allow": ", ".join(allowed)})
        return self.not_found(request)


@dataclass
class Fault:
    """What to do instead of (or around) the next `times` requests matching `method` and `path` (a
    regular expression searched in the path; None matches any).

    kind: `429` (with `retry_after`: seconds, or an HTTP date as a string), `500`/`502`/`503` (a 5xx),
    `drop` (close the connection without acting or answering), `drop-after` (act on the request, then
    close without answering: the client cannot know the delete happened), `slow` (answer after `delay`
    seconds). A 429 or 5xx is answered with `body` if given, else the API's `error()` shape."""

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    retry_after: float | str = 1
    delay: float = 0.0
    body: Any = None

    def matches(self, request: FakeRequest) -> bool:
        return (self.method is None or self.method == request.method) and \
            (self.path is None or re.search(self.path, request.path) is not None)


class FakeServer:
    """Runs `api` on 127.0.0.1 (port 0: a free one) in a background thread.

        with FakeServer(HubSpotFake(...), latency=0.1) as server:
            server.url        # http://127.0.0.1:PORT
            server.inject(Fault("429", path="/search", retry_after=1))
            server.requests   # every request received, in order
            server.sent("GET", "^/search$")   # those of one method whose path matches
            server.observers.append(check)    # check(request, response) after every answer
    """

    def __init__(self, api: FakeApi, *, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0):
        self.api = api
        self.latency = latency
        self.requests: list[FakeRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests served at once: tests of bounded concurrency read it
        self.dropped = 0  # connections closed by a `drop` or `drop-after` fault
        self.observers: list[Callable[[FakeRequest, FakeResponse], None]] = []

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT, without the API's prefix."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The URL a definition's `base_url` takes: `url` and the API's prefix."""
        return self.url + self.api.prefix

    def sent(self, method: str | None = None, path: str | None = None) -> list[FakeRequest]:
        """The requests received, in order: all, or those of `method` whose path matches the regular
        expression `path` (searched in the path without the prefix)."""
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or re.search(path, r.path))]

    def start(self) -> "FakeServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"fake-{self.api.name}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self, request: FakeRequest) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _observe(self, request: FakeRequest, response: FakeResponse) -> None:
        for observer in list(self.observers):
            observer(request, response)

    def _record(self, request: FakeRequest, delta: int) -> None:
        with self._lock:
            if delta > 0:
                self.requests.append(request)
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that gave up: normal
            super().handle_error(request, client_address)


def _handler_class(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client's pool reuses connections, as with a vendor
        disable_nagle_algorithm = True  # TCP_NODELAY, as servers set it: else the body, written after the
        #                                 headers, can wait out the client's delayed ACK (~40 ms on Linux)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.requests
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api = server.api
            path, outside = parts.path, False
            if api.prefix:
                outside = path != api.prefix and not path.startswith(api.prefix + "/")
                path = path if outside else (path[len(api.prefix):] or "/")
            request = FakeRequest(self.command, path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body, started=time.monotonic(),
                                  raw_path=self.path)
            server._record(request, +1)
            try:
                if server.latency:
                    time.sleep(server.latency)
                fault = server._take_fault(request)
                if fault is not None and fault.kind == "drop":
                    return self._drop()
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                if fault is not None and fault.kind.isdigit():
                    response = _fault_response(api, fault)
                elif outside:
                    response = api.not_found(request)
                else:
                    response = api.handle(request)
                server._observe(request, response)
                if fault is not None and fault.kind == "drop-after":
                    return self._drop()
                self._send(response)
            finally:
                request.ended = time.monotonic()
                server._record(request, -1)

        def _send(self, response: FakeResponse) -> None:
            payload = response.payload()
            self.send_response(response.status)
            headers = {"Content-Length": str(len(payload))}
            if payload and not isinstance(response.body, bytes):
                headers["Content-Type"] = "application/json; charset=utf-8"
            headers.update(response.headers)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)

        def _drop(self) -> None:
            with server._lock:
                server.dropped += 1
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler


def _fault_response(api: FakeApi, fault: Fault) -> FakeResponse:
    from http import HTTPStatus

    status = int(fault.kind)
    response = FakeResponse(status, fault.body) if fault.body is not None else \
        api.error(status, HTTPStatus(status).phrase)
    if status == 429:
        response.headers["Retry-After"] = _seconds(fault.retry_after)
    return response


def _seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def sequential_depth(requests: list[FakeRequest]) -> int:
    """The longest run of requests each of which started after the previous one ended: how many requests
    a client waited for one after another (requests that overlap in time were sent in parallel)."""
    best: list[tuple[float, int]] = []  # (ended, depth) of the requests seen, by start time
    deepest = 0
    for request in sorted(requests, key=lambda r: r.started):
        depth = 1 + max((d for ended, d in best if ended <= request.started), default=0)
        best.append((request.ended, depth))
        deepest = max(deepest, depth)
    return deepest
