"""Local, stateful fake HTTP APIs for tests: each vendor's fake is a `FakeAPI` subclass that holds records,
answers the vendor's endpoints and acts on deletes; `serve(api)` runs it on a localhost port in a thread.

    class Shop(FakeAPI):
        prefix = "/v1"                                    # the base URL's path, if the vendor has one

        @route("GET", "/customers/{id}")
        def customer(self, request, id):
            if id not in self.customers:
                return Response(404, {"error": "no such customer"})
            return Response(200, self.customers[id])

    with serve(Shop()) as base_url:   # "http://127.0.0.1:PORT/v1"
        ...

Faults are injected per request (`api.fault(...)`): a status (a 500, a 429 with Retry-After), a dropped
connection before or after the request is acted on, or a delay; `api.latency` delays every answer.
Every exchange is recorded (`api.exchanges`), and a `validator` (a callable taking the request and the
response and returning problems, e.g. an OpenAPI check, see fakes/contract.py) collects what breaks the
vendor's contract in `api.problems`, which a test asserts empty.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """A request as the fake received it (path without the API's prefix)."""

    method: str
    path: str  # without `prefix`, e.g. "/customers/cus_1"
    raw_path: str  # as sent, with the prefix and the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""

    def arg(self, name: str, default: Any = None) -> Any:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable (None: no body), or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


@dataclass
class Fault:
    """A fault for the next `times` requests matching `method` and `path` (a regex on the path without
    the prefix). `drop`: "before" closes the connection without acting, "after" acts on the request
    (a delete happens) and then closes the connection without answering."""

    status: int | None = None
    times: int = 1
    method: str | None = None
    path: str | None = None
    retry_after: str | None = None
    drop: str | None = None  # None | "before" | "after"
    delay: float = 0.0
    body: Any = None

    def matches(self, request: Request) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        return self.path is None or re.search(self.path, request.path) is not None


def route(method: str, pattern: str) -> Callable:
    """Mark a FakeAPI method as the handler of METHOD on a path pattern ("/lists/{list_id}/members")."""

    def mark(func: Callable) -> Callable:
        func.route = (method.upper(), pattern)
        return func

    return mark


def _compile(pattern: str) -> re.Pattern:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
    return re.compile(f"^{regex}$")


class FakeAPI:
    prefix = ""  # the path of the vendor's base URL (Mailchimp "/3.0")

    def __init__(self) -> None:
        self.lock = threading.RLock()  # handlers hold it while they change records
        self.exchanges: list[tuple[Request, Response]] = []
        self.problems: list[str] = []
        self.faults: list[Fault] = []
        self.latency = 0.0  # seconds before every answer
        self.sleep: Callable[[float], None] = time.sleep
        self.validator: Callable[[Request, Response], list[str]] | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests handled at once
        self.dropped = 0
        self._routes = []
        for name in dir(type(self)):
            func = getattr(type(self), name)
            if callable(func) and hasattr(func, "route"):
                method, pattern = func.route
                self._routes.append((method, _compile(pattern), getattr(self, name)))
        # a literal segment wins over a placeholder: /customers/search before /customers/{id}
        self._routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    # -- faults --------------------------------------------------------------------------------------
    def fault(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    return fault
        return None

    # -- what tests read -------------------------------------------------------------------------------
    def requests(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """The requests received (in order), optionally those of METHOD whose path matches a regex."""
        with self.lock:
            return [req for req, _ in self.exchanges
                    if (method is None or req.method == method) and (path is None or re.search(path, req.path))]

    # -- dispatch --------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        for method, regex, handler in self._routes:
            if method != request.method:
                continue
            match = regex.match(request.path)
            if match:
                return handler(request, **match.groupdict())
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def error(self, status: int, message: str) -> Response:
        """An error answer in the vendor's shape (override: each vendor has its own)."""
        return Response(status, {"error": message})

    def fault_response(self, fault: Fault) -> Response:
        """The answer of an injected status: `fault.body`, else the vendor's error shape."""
        from http import HTTPStatus

        if fault.body is not None:
            response = Response(fault.status, fault.body)
        else:
            response = self.error(fault.status, HTTPStatus(fault.status).phrase)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    def record(self, request: Request, response: Response) -> None:
        with self.lock:
            self.exchanges.append((request, response))
        if self.validator is not None:
            problems = self.validator(request, response)
            if problems:
                with self.lock:
                    self.problems.extend(problems)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients pool connections as against a real API
    disable_nagle_algorithm = True  # headers and body written apart would wait ~40 ms for a delayed ACK
    api: FakeAPI

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        api = self.server.api  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = parts.path
        if api.prefix:
            if not path.startswith(api.prefix + "/") and path != api.prefix:
                return self._send(Response(404, {"error": f"not under {api.prefix}"}))
            path = path[len(api.prefix):] or "/"
        request = Request(self.command, path, self.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        with api.lock:
            api.in_flight += 1
            api.max_in_flight = max(api.max_in_flight, api.in_flight)
        try:
            if api.latency:
                api.sleep(api.latency)
            fault = api._take_fault(request)
            if fault and fault.delay:
                api.sleep(fault.delay)
            if fault and fault.drop == "before":
                return self._drop(api)
            if fault and fault.status:
                response = api.fault_response(fault)
                api.record(request, response)
                return self._send(response)
            response = api.handle(request)
            if fault and fault.drop == "after":
                api.record(request, response)
                return self._drop(api)
            api.record(request, response)
            self._send(response)
        finally:
            with api.lock:
                api.in_flight -= 1

    def _drop(self, api: FakeAPI) -> None:
        with api.lock:
            api.dropped += 1
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        payload = response.payload()
        self.send_response(response.status)
        if response.body is not None and not isinstance(response.body, bytes):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


@contextmanager
def serve(api: FakeAPI) -> Iterator[str]:
    """Run `api` on 127.0.0.1 on a free port; yields its base URL (with the prefix)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.api = api  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{api.prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
