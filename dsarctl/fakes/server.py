"""A small threaded HTTP server on 127.0.0.1 that runs one vendor fake, with injected latency and faults.

A fake is a `FakeApi`: routes (method, path pattern) to handlers that read a `FakeRequest` and return a
`FakeResponse`. The server adds what every test needs around it: a request log, latency per request (the
benchmark's 100 ms), and faults injected for the next matching requests (429 with Retry-After, a 5xx, a
connection dropped before or after the request was acted on, a slow answer).

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
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # the route's named groups
    started: float = 0.0  # time.monotonic() when the request arrived, and when its answer was sent
    ended: float = 0.0

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

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
    behind `self.lock` (the server answers requests on several threads)."""

    name = "fake"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` is a path with `{name}` segments (one path segment each)."""
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def authorize(self, request: FakeRequest) -> FakeResponse | None:
        """None when the request's credentials are accepted, else the vendor's refusal."""
        return None

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"error": "not found", "path": request.path})

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

    kind: `429` (with `retry_after` seconds), `500`/`502`/`503` (a 5xx), `drop` (close the connection
    without acting or answering), `drop-after` (act on the request, then close without answering: the
    client cannot know the delete happened), `slow` (answer after `delay` seconds)."""

    kind: str
    method: str | None = None
    path: str | None = None
    times: int = 1
    retry_after: float = 1
    delay: float = 0.0

    def matches(self, request: FakeRequest) -> bool:
        return (self.method is None or self.method == request.method) and \
            (self.path is None or re.search(self.path, request.path) is not None)


class FakeServer:
    """Runs `api` on 127.0.0.1 (port 0: a free one) in a background thread.

        with FakeServer(HubSpotFake(...), latency=0.1) as server:
            server.url        # http://127.0.0.1:PORT
            server.inject(Fault("429", path="/search", retry_after=1))
            server.requests   # every request received, in order
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

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

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
            request = FakeRequest(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body, started=time.monotonic())
            server._record(request, +1)
            try:
                if server.latency:
                    time.sleep(server.latency)
                fault = server._take_fault(request)
                if fault is not None and fault.kind == "drop":
                    return self._drop()
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                if fault is not None and fault.kind == "429":
                    response = FakeResponse(429, {"error": "too many requests"},
                                            {"Retry-After": _seconds(fault.retry_after)})
                elif fault is not None and fault.kind.isdigit():
                    response = FakeResponse(int(fault.kind), {"error": "internal server error"})
                else:
                    response = server.api.handle(request)
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
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler


def _seconds(value: float) -> str:
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
