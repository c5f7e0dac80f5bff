"""The `http` source: a vendor's API, reached through a definition (docs/sources/definitions.md).

- **Search**: each collection's `locate` request, once per identifier searched, across pages; the
  records the API returns are kept only when one of their identity fields holds a value searched,
  normalised (an API's fuzzy search never widens the match). Every collection's search starts on its
  own thread (`start_locate`), so the systems' requests run beside each other.
- **A record** is named by its `key` fields (a tuple of their values), the only fields the read and
  erase requests use, so that a resumed erase knowing only the key can act.
- **Export**: the record in full (`read`) with what `attach` adds, each record's requests beside
  the others'.
- **Erase**: `delete` per record (a `gone` status: already gone, `missing`); `mask` reads the record,
  computes the masked values, and sends only the fields that change (`unchanged` when none do).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ...sources import (EraseOutcome, Erasable, Finding, KeyProblem, KeySpec, Record, Source, StartedSearch,
                        Wanted)
from . import auth as auth_mod
from . import definition as definitions
from .client import Api, ApiError, in_pool, pool
from .pages import Call

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

SYSTEM_KEYS = {
    "definition": KeySpec("str", "A built-in definition (mailchimp, hubspot, zendesk, stripe, google-analytics) or "
                                 "the path of a definition file, relative to the inventory.", required=True),
    "base_url": KeySpec("url", "Where the API is (overrides the definition's base_url: a region, a proxy, a test "
                               "server)."),
    "auth": KeySpec("secrets", "How to sign in: {api_key: KEY}, {bearer: TOKEN}, {basic: {username: U, password: "
                               "P}}, {oauth2: {token_url: URL, client_id: ID, client_secret: S, scope: S}} or "
                               "{service_account: FILE}; values from ${VAR}."),
    "timeout": KeySpec("int", "Seconds to wait for each response (default: the definition's, else 30)."),
    "concurrency": KeySpec("int", "Requests at once to this host (default: the definition's, else 4)."),
    "params": KeySpec("mapping", "Values the definition asks for (its params:), e.g. {property_id: \"123456\"}."),
}
_DEFINITION = "_definition"  # where the loaded definition waits in the system's options
# Records made of an identifier (`locate: {KIND: {record: ...}}`, a service that cannot be searched) that
# this process erased: the service accepted their deletion and cannot be asked again, so the check after
# the erase does not find them.
_MADE_ERASED: set[tuple[str, str, tuple]] = set()
_searches = None


def _search_pool():
    """Threads for whole searches (each waits on the request pool; never the other way round)."""
    global _searches
    if _searches is None:
        from concurrent.futures import ThreadPoolExecutor

        _searches = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dsarctl-http-search")
    return _searches


class HttpSource(Source, Erasable):
    name = "http"
    names_people = True  # a definition's `people:` says who else a record names
    system_keys = SYSTEM_KEYS
    collection_keys: dict[str, KeySpec] = {}
    implicit_collection = False

    # -- loading -------------------------------------------------------------------------------------
    @classmethod
    def option_problems(cls, options: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for key in ("timeout", "concurrency"):
            if key in options and options[key] < 1:
                out.append((key, f"{key} must be at least 1, got {options[key]}"))
        return out

    @classmethod
    def implied_collections(cls, options: dict[str, Any], base_dir: Path) -> dict[str, dict[str, Any]]:
        name = options["definition"]
        path = definitions.resolve(name, base_dir)
        if path.parent == definitions.BUILTIN_DIR and not path.is_file():
            from ...inventory.loader import _close_matches

            known = definitions.builtin_names()
            hint = _close_matches(name, known, n=1)
            raise KeyProblem(("definition",), f"no built-in definition '{name}'" + (
                f"; did you mean '{hint[0]}'?" if hint else f" (built-in: {', '.join(known)}; or give a file's path)"))
        found = definitions.load(path, None if path.parent == definitions.BUILTIN_DIR else name)
        for key, why in auth_mod.problems(options.get("auth"), found.auth):
            raise KeyProblem(key, why)
        params = options.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                   for v in params.values()):
            raise KeyProblem(("params",), "params: a mapping of name -> value (text or a number)")
        for name in params:
            if name not in found.params:
                raise KeyProblem(("params", name), f"the {found.name} definition takes no param '{name}' "
                                                   f"(it takes: {', '.join(found.params) or 'none'})")
        for name, spec in found.params.items():
            if spec["required"] and name not in params:
                raise KeyProblem(("params",) if "params" in options else (),
                                 f"the {found.name} definition needs params: {{{name}: ...}}")
        base_url = options.get("base_url") or found.base_url
        if not base_url:
            raise KeyProblem(("base_url",) if "base_url" in options else (),
                             f"the {found.name} definition has no base_url: give 'base_url:'")
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise KeyProblem(("base_url",), f"'{base_url}' is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            raise KeyProblem(("base_url",), f"http:// would send the credentials unencrypted to {parts.hostname}: "
                                            "allowed only for localhost (use https://)")
        options[_DEFINITION] = found
        return {cname: dict(cdef.implied) for cname, cdef in found.collections.items()}

    @classmethod
    def implied_identities(cls, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return dict(options[_DEFINITION].identities)

    @classmethod
    def collection_problems(cls, collection) -> list[tuple[tuple, str]]:
        found: definitions.Definition = collection.options[_DEFINITION]
        cdef = found.collections[collection.name]
        rule = collection.erase
        if rule is None:
            return []
        if rule.action == "delete" and not cdef.delete:
            return [(("erase",), f"{found.name} {collection.name} cannot be deleted through the API (its definition "
                                 "has no delete request): use retain with a reason, or anonymize if it can be masked")]
        if rule.fields and cdef.mask is None:
            return [(("erase",), f"{found.name} {collection.name} cannot be masked through the API (its definition "
                                 "has no mask request): use delete, or retain without fields")]
        if rule.fields and cdef.read is None:
            return [(("erase",), f"{found.name} {collection.name}: masking needs the record read in full (the "
                                 "definition has a mask request but no read request)")]
        return []

    # -- the client ------------------------------------------------------------------------------------
    def __init__(self, system, inventory):
        super().__init__(system, inventory)
        self.definition: definitions.Definition = system.options[_DEFINITION]
        self._api: Api | None = None
        self._token_api: Api | None = None
        self._lock = threading.Lock()  # searches of two collections start the client from two threads
        self._staff_seen: dict[tuple[str, str], bool] = {}  # (kind, value) -> staff (people.staff), asked once

    @property
    def api(self) -> Api:
        with self._lock:
            return self._client()

    def _client(self) -> Api:
        if self._api is None:
            options, found = self.system.options, self.definition
            limits = found.limits
            signed = auth_mod.build(options["auth"], found.auth, self.inventory.base_dir, self.fail, self._token)
            self._api = Api(options.get("base_url") or found.base_url, auth=signed.auth,
                            headers={"Accept": "application/json", "User-Agent": _agent(), **found.headers,
                                     **signed.headers},
                            params=signed.params, timeout=options.get("timeout") or limits.timeout,
                            concurrency=options.get("concurrency") or limits.concurrency, retries=limits.retries)
        return self._api

    def _token(self, url: str, data: dict, auth: Any = None) -> Any:
        """A token request (OAuth2, service account), on a client of its own: it runs inside another
        request's sign-in, which holds a place of the API host's limit."""
        if self._token_api is None:
            self._token_api = Api(url, auth=auth, headers={"Accept": "application/json", "User-Agent": _agent()},
                                  timeout=self.definition.limits.timeout, retries=self.definition.limits.retries,
                                  limited=False)
        with self._talking():
            return self._token_api.send("POST", url, data=data).body

    @contextmanager
    def _talking(self):
        try:
            yield
        except ApiError as exc:
            raise self.fail(f"{self.definition.name}: {exc}") from None

    def close(self) -> None:
        for api in (self._api, self._token_api):
            if api is not None:
                api.close()
        self._api = self._token_api = None

    def _call(self, spec, lookup, **kwargs) -> Call:
        return Call(self.api, spec, self._with_params(lookup), max_pages=self.definition.limits.max_pages, **kwargs)

    def _with_params(self, lookup):
        """`lookup`, and `{params.NAME}` from the inventory's `params:`."""
        params = self.system.options.get("params") or {}

        def find(name: str):
            if name.startswith("params.") and name[7:] in params:
                return str(params[name[7:]])
            return lookup(name)

        return find

    def _cdef(self, collection) -> definitions.CollectionDef:
        return self.definition.collections[collection.name]

    # -- searching -----------------------------------------------------------------------------------
    def start_locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> StartedSearch:
        future = _search_pool().submit(lambda: list(self.locate(collection, wanted, lookup_only=lookup_only)))

        def run():
            return future.result()

        return StartedSearch(run, [_Cancel(future)])

    def locate(self, collection, wanted: Wanted, *, lookup_only: bool = False) -> Iterator[Record]:
        from ..matching import FieldMatcher

        cdef = self._cdef(collection)
        matcher = FieldMatcher(collection, self.inventory)
        asks = [(kind, value) for kind in collection.searched if kind in cdef.locate
                for value in sorted(wanted.get(kind, ()))]
        found: dict[tuple, Record] = {}
        from . import templates

        for kind, fields in cdef.made.items():  # a service that cannot be searched: the identifier is the record
            if kind in collection.searched:
                for value in sorted(wanted.get(kind, ())):
                    data = templates.render_tree(fields, self._with_params({kind: value}.__getitem__))
                    key = self._key(cdef, data)
                    if self._made_id(collection, key) in _MADE_ERASED:
                        continue
                    found[key] = Record(self.system.name, collection.name, key, data, matcher.identities(data),
                                        {(kind, value)}, location=f"{self.definition.name} {collection.name} "
                                                                  f"{'/'.join(map(str, key))}")
        with self._talking():
            for (kind, value), records in self._each(asks, lambda ask: self._call(
                    cdef.locate[ask[0]], {ask[0]: ask[1]}.__getitem__).records()):
                extra = cdef.locate[kind].set
                for data in records:
                    if extra:  # the value searched, written into a record that does not hold it (HubSpot)
                        data.update(templates.render_tree(extra, self._with_params({kind: value}.__getitem__)))
                    identities = matcher.identities(data)
                    searched = FieldMatcher(collection, self.inventory, {kind: collection.searched[kind]})
                    if value not in searched.identities(data).get(kind, set()):
                        continue  # the API's search is wider than an exact match
                    key = self._key(cdef, data)
                    record = found.get(key)
                    if record is None:
                        found[key] = record = Record(self.system.name, collection.name, key, data, identities,
                                                     location=f"{self.definition.name} {collection.name} "
                                                              f"{'/'.join(map(str, key))}")
                    record.matched.add((kind, value))
            if not lookup_only and (cdef.read or cdef.attach):
                full = dict(self._each(list(found), lambda key: self._full(cdef, key, found[key].data)))
                for key, record in found.items():
                    record.data = full[key]
        yield from found.values()

    def _staff(self, spec: definitions.PeopleSpec, values: list[str]) -> set[str]:
        """Of `values`, those the `people.staff` request says are the controller's own staff (cached)."""
        from . import templates
        from .pages import records_of

        cache = self._staff_seen
        with self._lock:
            asks = [v for v in values if (spec.kind, v) not in cache]

        def ask(value: str) -> bool:
            try:
                call = self._call(spec.staff, {spec.kind: value}.__getitem__)
                reply = call.send()
                if call.gone(reply):
                    return False  # no such person any more: not known to be staff (another person)
                got = records_of(reply.body, spec.staff.records, spec.staff.path)
            except ApiError:
                return False  # the role could not be read: not known to be staff (another person)
            return bool(got) and str(templates.dig(got[0], spec.staff_field)) in spec.staff_values

        for value, is_staff in self._each(asks, ask):
            with self._lock:
                cache[(spec.kind, value)] = is_staff
        return {v for v in values if cache.get((spec.kind, v))}

    def _each(self, items: list, work) -> Iterator[tuple]:
        """(item, work(item)) for each item, the items' requests beside each other where they can be."""
        if len(items) < 2 or in_pool():
            for item in items:
                yield item, work(item)
            return
        futures = [(item, pool().submit(work, item)) for item in items]
        try:
            for item, future in futures:
                yield item, future.result()
        finally:
            for _item, future in futures:
                future.cancel()

    def _made_id(self, collection, key: tuple) -> tuple:
        """A made record's identity across the process: the inventory, the service (base URL and params)
        and the collection, so that another inventory's system of the same name is not confused with it."""
        options = self.system.options
        params = tuple(sorted((k, str(v)) for k, v in (options.get("params") or {}).items()))
        return (str(self.inventory.path), self.system.name, options.get("base_url") or self.definition.base_url,
                params, collection.name, tuple(key))

    def _key(self, cdef: definitions.CollectionDef, data: dict) -> tuple:
        from . import templates

        key = tuple(templates.dig(data, name) for name in cdef.key)
        if any(part is None or isinstance(part, (dict, list)) for part in key):
            raise ApiError(f"{cdef.name}: a record without its key ({', '.join(cdef.key)})")
        return key

    def _lookup(self, cdef: definitions.CollectionDef, key: Any):
        values = dict(zip(cdef.key, key if isinstance(key, (tuple, list)) else (key,)))
        return values.__getitem__

    def _full(self, cdef: definitions.CollectionDef, key: tuple, located: dict) -> dict:
        """The record for the export: `read` (else what locate returned) and what `attach` adds."""
        lookup = self._lookup(cdef, key)
        data = located
        if cdef.read is not None:
            call = self._call(cdef.read, lookup)
            reply = call.send()
            if not call.gone(reply):
                from .pages import records_of

                got = records_of(reply.body, cdef.read.records, cdef.read.path)
                data = got[0] if got else located
        data = dict(data)
        for name, spec in cdef.attach.items():
            data[name] = self._call(spec, lookup).records()
        return data

    def check(self, collection) -> list[Finding]:
        """One locate request per searched kind, for an identifier no one has: the API answers in the shape
        the definition says."""
        cdef = self._cdef(collection)
        with self._talking():
            for kind in cdef.locate:
                nobody = "nobody@dsarctl.invalid" if self.inventory.identities[kind].type == "email" else "0"
                self._call(cdef.locate[kind], {kind: nobody}.__getitem__).records()
        return [Finding("info", self.system.name, f"{collection.name}: {self.definition.name} answered "
                                                  f"({self.api.base_url})")]

    # -- erasing -------------------------------------------------------------------------------------
    def scan(self, collection) -> Iterator[Record]:
        from ..matching import FieldMatcher

        cdef = self._cdef(collection)
        if not cdef.scan:
            raise self.fail(f"{self.definition.name} {collection.name}: the definition cannot list every record "
                            "(no scan request), which an interrupted erase needs to resume")
        matcher = FieldMatcher(collection, self.inventory)
        seen = set()
        with self._talking():
            for spec in cdef.scan:
                parents = [{}] if spec.each is None else self._call(spec.each, {}.__getitem__).records()
                for parent in parents:
                    for page in self._call(spec, _parent_lookup(parent)).pages():
                        for data in page:
                            key = self._key(cdef, data)
                            if key not in seen:
                                seen.add(key)
                                yield Record(self.system.name, collection.name, key, data, matcher.identities(data))

    def find_people(self, collection, records: list[Record]) -> None:
        """Each record's `people`: per `people:` entry, the values of its kind at its fields (of the record
        with its attachments, or of the records its `request` returns), less the staff. A person whose
        role cannot be read counts as another person; a record whose people cannot be read raises."""
        from ..matching import field_values

        cdef = self._cdef(collection)
        if not cdef.people or not records:
            return
        named: dict[int, dict[str, set[str]]] = {id(r): {} for r in records}
        with self._talking():
            for spec in cdef.people:
                kind = self.inventory.identities[spec.kind]

                def sources(record: Record, spec=spec) -> list:
                    lookup = self._lookup(cdef, record.key)
                    if spec.request is not None:
                        return self._call(spec.request, lookup).records()
                    data = dict(record.data)
                    for name in {f.split(".", 1)[0] for f in spec.fields} & set(cdef.attach) - set(data):
                        data[name] = self._call(cdef.attach[name], lookup).records()  # not read by the search
                    return [data]

                for record, found in self._each(records, sources):
                    values = named[id(record)].setdefault(spec.kind, set())
                    for data in found:
                        for name in spec.fields:
                            for raw in field_values(data, name):
                                for one in _addresses(raw) if kind.type == "email" else [raw]:
                                    value = kind.normalise(one)
                                    if value is not None:
                                        values.add(value)
                if spec.staff is not None:
                    everyone = sorted(set().union(*(n[spec.kind] for n in named.values())))
                    staff = self._staff(spec, everyone)
                    for people in named.values():
                        people[spec.kind] -= staff
        for record in records:
            record.people = named[id(record)]

    def read_records(self, collection, keys: list[Any]) -> dict[Any, dict[str, Any]] | None:
        cdef = self._cdef(collection)
        if cdef.read is None:
            return None
        out = {}
        with self._talking():
            for key in keys:
                data = self._read(cdef, key)
                if data is not None:
                    out[key] = data
        return out

    def _read(self, cdef: definitions.CollectionDef, key: Any) -> dict | None:
        from .pages import records_of

        call = self._call(cdef.read, self._lookup(cdef, key))
        reply = call.send()
        if call.gone(reply):
            return None
        got = records_of(reply.body, cdef.read.records, cdef.read.path)
        return got[0] if got else None

    def erase(self, collection, targets, context) -> EraseOutcome:
        cdef = self._cdef(collection)
        outcome = EraseOutcome()
        with self._talking():
            for target in targets:
                context.checkpoint("http.before-request")
                if target.action == "delete":
                    done = False  # a step that finds the record gone (404) was done by an earlier run
                    for i, step in enumerate(cdef.delete):
                        if i:
                            context.checkpoint("http.between-steps")
                        call = self._call(step, self._lookup(cdef, target.key))
                        done |= not call.gone(call.send())
                    if done:
                        outcome.deleted += 1
                    else:
                        outcome.missing += 1
                    if cdef.made:
                        _MADE_ERASED.add(self._made_id(collection, tuple(target.key)))
                elif target.action == "mask":
                    self._mask(cdef, target, context, outcome)
                else:
                    raise self.fail(f"{collection.name}: cannot {target.action} a record of an API")
                context.checkpoint("http.after-request")
        return outcome

    def _mask(self, cdef, target, context, outcome: EraseOutcome) -> None:
        from ..matching import field_values

        data = self._read(cdef, target.key)
        if data is None:
            outcome.missing += 1
            return
        masked = context.masker.mask(data, target.fields)
        changes: dict[str, Any] = {}
        for name in target.fields:
            new = field_values(masked, name)
            if new != field_values(data, name):
                _put(changes, name, new[0] if len(new) == 1 else new)
        if not changes:
            outcome.unchanged += 1
            return
        call = self._call(cdef.mask, self._lookup(cdef, target.key), body=changes)
        if call.gone(call.send()):
            outcome.missing += 1
        else:
            outcome.masked += 1


class _Cancel:
    def __init__(self, future):
        self.future = future

    def close(self) -> None:
        self.future.cancel()


def _parent_lookup(parent: dict):
    from . import templates

    return lambda name: templates.dig(parent, name[len("each."):])


def _put(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
    tree[parts[-1]] = value


def _addresses(raw: Any) -> list[str]:
    """Every e-mail address in a field's value, however they are separated (`a@x.example; "B"
    <b@y.example>`, spaces, commas): each token that looks like one, a display name's too (one more
    person counted is safe; one missed is not)."""
    if not isinstance(raw, str):
        return [raw]
    from ..shared_mail import email_tokens

    return email_tokens(raw)


def _agent() -> str:
    from ... import __version__

    return f"dsarctl/{__version__}"
