"""Send a definition's request and gather its records across pages (offset, cursor, next link)."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from . import templates
from .client import Api, ApiError, in_pool, pool
from .definition import RequestSpec

_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.I)


def form_fields(node: Any, prefix: str = "") -> dict[str, str]:
    """A nested body as form fields, nested keys in brackets (`address[line1]`), as Stripe reads them."""
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(form_fields(value, f"{prefix}[{key}]" if prefix else str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(form_fields(value, f"{prefix}[{i}]"))
    else:
        out[prefix] = "" if node is None else ("true" if node is True else "false" if node is False else str(node))
    return out


def records_of(body: Any, path: str, where: str) -> list[dict]:
    found = templates.dig(body, path)
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    if not all(isinstance(item, dict) for item in items):
        raise ApiError(f"{where}: the records at '{path}' are not JSON objects")
    return items


class Call:
    """One request of a definition, its placeholders bound by `lookup` (and `body` for a mask)."""

    def __init__(self, api: Api, spec: RequestSpec, lookup: Callable[[str], Any], *, body: Any = None,
                 max_pages: int = 1000):
        self.api = api
        self.spec = spec
        self.max_pages = max_pages
        self.url = api.url(templates.render(spec.path, lookup, segment=True))
        self.params = templates.render_tree(spec.query, lookup)
        self.headers = templates.render_tree(spec.headers, lookup) or None
        self.json = self._body(spec.json, lookup, body)
        form = self._body(spec.form, lookup, body)
        self.form = form_fields(form) if form is not None else None

    @staticmethod
    def _body(template: Any, lookup: Callable[[str], Any], masked: Any) -> Any:
        if template is None:
            return None
        if template == templates.MASKED:
            return masked
        return templates.render_tree(template, lookup)

    def send(self, url: str | None = None, params: dict | None = None, json: Any = None):
        """One page: the reply (a status in `gone` is returned)."""
        return self.api.send(self.spec.method, url or self.url, params=self.params if params is None else params,
                             json=self.json if json is None else json, data=self.form, headers=self.headers,
                             gone=self.spec.gone)

    def gone(self, reply) -> bool:
        return reply.status in self.spec.gone and not 200 <= reply.status < 300

    def records(self) -> list[dict]:
        """Every record of every page."""
        return [record for page in self.pages() for record in page]

    def pages(self) -> Iterator[list[dict]]:
        paging = self.spec.paginate
        where = f"{self.spec.method} {self.spec.path}"
        params = dict(self.params)
        if paging and paging.size_param:
            params[paging.size_param] = paging.size
        if paging and paging.type == "offset":
            params[paging.param] = 0
        reply = self.send(params=params)
        if self.gone(reply):
            return
        first = records_of(reply.body, self.spec.records, where)
        yield first
        if paging is None:
            return
        if paging.type == "offset":
            yield from self._offsets(paging, params, reply, first, where)
        else:
            yield from self._following(paging, params, reply, first, where)

    def _offsets(self, paging, params: dict, reply, first: list, where: str) -> Iterator[list[dict]]:
        total = templates.dig(reply.body, paging.total) if paging.total else None
        size = paging.size
        if isinstance(total, int) and not isinstance(total, bool):
            offsets = list(range(size, total, size))
            if len(offsets) + 1 > self.max_pages:
                raise ApiError(f"{where}: more than {self.max_pages} pages ({total} records)")

            def page(offset: int) -> list[dict]:
                answer = self.send(params={**params, paging.param: offset})
                return [] if self.gone(answer) else records_of(answer.body, self.spec.records, where)

            if in_pool() or len(offsets) < 2:
                for offset in offsets:
                    yield page(offset)
            else:  # the total is known: the other pages at once, within the host's limit
                futures = [pool().submit(page, offset) for offset in offsets]
                try:
                    for future in futures:
                        yield future.result()
                finally:
                    for future in futures:
                        future.cancel()
            return
        count, offset, records = 1, 0, first
        while len(records) >= size:
            count += 1
            if count > self.max_pages:
                raise ApiError(f"{where}: more than {self.max_pages} pages")
            offset += size
            answer = self.send(params={**params, paging.param: offset})
            records = [] if self.gone(answer) else records_of(answer.body, self.spec.records, where)
            yield records

    def _following(self, paging, params: dict, reply, records: list, where: str) -> Iterator[list[dict]]:
        count = 1
        while records:
            if paging.more and templates.dig(reply.body, paging.more) is False:
                return
            url, page_params, body = None, params, None
            if paging.type == "cursor":
                cursor = (templates.dig(records[-1], paging.from_record) if paging.from_record
                          else templates.dig(reply.body, paging.from_response))
                if cursor in (None, ""):
                    return
                if paging.into == "json":
                    body = {**(self.json or {}), paging.param: cursor}
                else:
                    page_params = {**params, paging.param: cursor}
            else:
                url = _next_link(reply, paging)
                if not url:
                    return
                if not self.api.same_origin(url):
                    raise ApiError(f"{where}: the next page is on another host: not followed (credentials are "
                                   "sent to base_url's host only)")
                page_params = {}
            count += 1
            if count > self.max_pages:
                raise ApiError(f"{where}: more than {self.max_pages} pages")
            reply = self.send(url=url, params=page_params, json=body)
            records = [] if self.gone(reply) else records_of(reply.body, self.spec.records, where)
            yield records


def _next_link(reply, paging) -> str | None:
    if paging.from_response:
        link = templates.dig(reply.body, paging.from_response)
        return link if isinstance(link, str) and link else None
    header = reply.headers.get(paging.header or "link")
    match = _LINK_NEXT.search(header or "")
    return match.group(1) if match else None
