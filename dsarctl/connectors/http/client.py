"""The API client of `http` systems, over httpx: timeouts, retries with backoff on 5xx and broken
connections, `429` honoured with `Retry-After`, a bounded number of requests at once per host (shared by
every system on that host), and a failure reported as one line without the query string or a secret.

`sleep` and `now` are module attributes read at each call, so that tests replace them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

sleep: Callable[[float], None] = time.sleep
now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731

BACKOFF = 0.5  # seconds before the first retry, doubled each time
MAX_RETRY_AFTER = 60.0  # a 429 asking to wait longer fails the system instead
MAX_BODY = 50_000_000  # a response larger than this is refused

_hosts: dict[tuple[str, str, int | None], threading.BoundedSemaphore] = {}
_hosts_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


class ApiError(Exception):
    """A request that failed for good: one line, without secrets or the query string."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    status: int
    body: Any  # parsed JSON, or None (no content)
    headers: Any  # httpx.Headers
    url: str


def host_limit(url: str, concurrency: int) -> threading.BoundedSemaphore:
    """The semaphore of the host of `url` (the first system to reach a host sets its size)."""
    parts = urlsplit(url)
    key = (parts.scheme, (parts.hostname or "").lower(), parts.port)
    with _hosts_lock:
        if key not in _hosts:
            _hosts[key] = threading.BoundedSemaphore(concurrency)
        return _hosts[key]


_tls = None


def tls_context():
    """One TLS context (the system's CA certificates, verified) for every client of the process: loading
    the CA bundle takes tens of milliseconds, once instead of once per system."""
    global _tls
    with _pool_lock:
        if _tls is None:
            import httpx

            _tls = httpx.create_ssl_context()  # httpx's own trust (certifi), as its default client has
        return _tls


def pool() -> ThreadPoolExecutor:
    """Threads for requests that run beside each other (pages, records' reads, systems' searches)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="dsarctl-http",
                                       initializer=lambda: setattr(_in_pool, "yes", True))
        return _pool


def in_pool() -> bool:
    """Whether this thread is one of the pool's (work there must not wait on the pool: it could fill it)."""
    return getattr(_in_pool, "yes", False)


class Api:
    """One system's client: base URL, auth, headers, limits."""

    def __init__(self, base_url: str, *, auth: Any = None, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None, timeout: float = 30, concurrency: int = 4, retries: int = 4,
                 transport: Any = None, limited: bool = True):
        """`limited=False`: outside the host's limit (a token request, sent while another request of the
        host holds a place: waiting for a place there could wait for ever)."""
        import httpx
        from contextlib import nullcontext

        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.limit = host_limit(self.base_url, concurrency) if limited else nullcontext()
        self.params = dict(params or {})  # an api_key in the query: sent, never shown
        base = urlsplit(self.base_url)
        self.client = httpx.Client(auth=auth, headers=headers, timeout=httpx.Timeout(timeout),
                                   follow_redirects=False, transport=transport,
                                   verify=tls_context() if base.scheme == "https" else False,
                                   limits=httpx.Limits(max_connections=max(concurrency, 1) * 2))
        self.origin = (base.scheme, (base.hostname or "").lower(), base.port)
        self.origin_text = f"{base.scheme}://{base.hostname or ''}" + (f":{base.port}" if base.port else "")

    def close(self) -> None:
        self.client.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, (parts.hostname or "").lower(), parts.port) == self.origin

    def send(self, method: str, url: str, *, params: dict | None = None, json: Any = None, data: Any = None,
             headers: dict | None = None, gone: tuple[int, ...] = ()) -> Reply:
        """Send one request (retried as the module says); a status in `gone` is returned, not raised."""
        import httpx

        shown = f"{method} {urlsplit(url).path}"
        query = {**(params or {}), **self.params}
        if query and "?" in url:  # a next link's own query stays: httpx would replace it with `params`
            url, query = str(httpx.URL(url).copy_merge_params(query)), None
        attempt = 0
        while True:
            where = shown
            try:
                with self.limit:
                    response = self.client.request(method, url, params=query or None, json=json, data=data,
                                                   headers=headers)
                    body = response.content
            except httpx.ConnectError as exc:  # nothing was sent: the host, not this request, is at fault
                where = f"connect to {self.origin_text}"  # one message for every request of the system
                problem = f"connection failed ({type(exc).__name__})"
            except httpx.ConnectTimeout:
                where = f"connect to {self.origin_text}"
                problem = "no answer in time (ConnectTimeout)"
            except httpx.TimeoutException:
                problem = "no answer in time (timeout)"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status in gone or 200 <= status < 300:
                    return Reply(status, _json(body, response, shown), response.headers, str(response.url))
                problem = f"{status} {response.reason_phrase}".strip()
                if status == 429:
                    wait = retry_after(response.headers.get("retry-after"))
                    if wait is None or wait > MAX_RETRY_AFTER:
                        raise ApiError(f"{shown}: {problem} (rate limited; Retry-After: "
                                       f"{response.headers.get('retry-after') or 'none'})", status)
                    if attempt >= self.retries:
                        raise ApiError(f"{shown}: {problem} (rate limited, {attempt} retries)", status)
                    attempt += 1
                    sleep(max(wait, 0.0))
                    continue
                if status < 500:
                    raise ApiError(f"{shown}: {problem}", status)
            if attempt >= self.retries:
                raise ApiError(f"{where}: {problem}" + (f" (after {attempt} retries)" if attempt else ""))
            sleep(BACKOFF * (2 ** attempt))
            attempt += 1


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number, or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now()).total_seconds(), 0.0)


def _json(body: bytes, response: Any, shown: str) -> Any:
    import json

    if not body.strip():
        return None
    if len(body) > MAX_BODY:
        raise ApiError(f"{shown}: the answer is larger than {MAX_BODY // 1_000_000} MB")
    try:
        return json.loads(body)
    except ValueError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise ApiError(f"{shown}: {response.status_code}: the answer is not JSON ({kind})") from None
