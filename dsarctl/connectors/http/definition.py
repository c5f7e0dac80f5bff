"""Read and validate a definition file (docs/sources/definitions.md): every mistake is one InventoryError
naming the definition's file, line and key path, as the inventory's are."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InventoryError
from . import templates

FORMAT = 1
BUILTIN_DIR = Path(__file__).resolve().parent / "definitions"
AUTH_KINDS = ("api_key", "bearer", "basic", "oauth2", "service_account")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PAGINATION = ("offset", "cursor", "next_link")

_TOP = {"definition", "name", "title", "docs", "base_url", "auth", "headers", "limits", "params", "identities",
        "collections"}
_KIND = {"type", "unique"}
KIND_TYPES = ("email", "phone", "string")
_LIMITS = {"concurrency", "timeout", "retries", "max_pages"}
_AUTH = {
    "api_key": {"in", "name", "prefix", "username", "password_is_key"},
    "bearer": set(),
    "basic": set(),
    "oauth2": {"token_url", "scope"},
    "service_account": {"scopes", "token_url"},
}
_COLLECTION = {"description", "key", "identities", "categories", "erase", "locate", "read", "attach", "scan",
               "delete", "mask", "people"}
_PEOPLE = {"kind", "fields", "request", "staff"}
_STAFF = {"field", "values"}  # besides a request's keys
_REQUEST = {"method", "path", "query", "headers", "json", "form", "records", "paginate", "gone"}
_LOCATE_REQUEST = _REQUEST | {"set"}  # fields written into each record found (the value searched)
_PAGINATE = {
    "offset": {"type", "param", "size_param", "size", "total"},
    "cursor": {"type", "param", "from_record", "from_response", "more", "size_param", "size", "in"},
    "next_link": {"type", "from_response", "header", "size_param", "size"},
}


@dataclass(frozen=True)
class Paginate:
    type: str
    param: str | None = None
    size_param: str | None = None
    size: int | None = None
    total: str | None = None
    from_record: str | None = None
    from_response: str | None = None
    more: str | None = None
    into: str = "query"  # cursor: query | json
    header: str | None = None


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: Any = None
    records: str = "."
    paginate: Paginate | None = None
    gone: tuple[int, ...] = (404,)
    each: "RequestSpec | None" = None  # scan: the parent listing
    set: dict[str, Any] = field(default_factory=dict)  # locate: fields written into each record found
    where: str = ""  # file:line, for messages

    def placeholders(self) -> set[str]:
        found = templates.names(self.path) + templates.tree_names(self.query) + templates.tree_names(self.json)
        found += templates.tree_names(self.form) + templates.tree_names(self.headers) + templates.tree_names(self.set)
        return {name for name, _filters in found}


@dataclass(frozen=True)
class PeopleSpec:
    """One entry of `people:` (who a record names): the values of identity `kind` at `fields`, dotted
    paths into the record with its `attach`ments, or into the records of `request` (one per record, its
    key in the placeholders: HubSpot's associated contacts); less the controller's own staff: those for
    whom the `staff` request (one per value, `{KIND}` in its path) answers a record whose `staff_field`
    is one of `staff_values`."""

    kind: str
    fields: tuple[str, ...]
    request: "RequestSpec | None" = None
    staff: "RequestSpec | None" = None
    staff_field: str | None = None
    staff_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectionDef:
    name: str
    key: tuple[str, ...]
    implied: dict[str, Any]  # identities, categories, erase, description: what an inventory collection holds
    locate: dict[str, RequestSpec]
    made: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> a record made of the identifier
    read: RequestSpec | None = None
    attach: dict[str, RequestSpec] = field(default_factory=dict)
    scan: tuple[RequestSpec, ...] = ()  # listings whose records together are every record
    delete: tuple[RequestSpec, ...] = ()  # run in order (Zendesk: delete, then delete permanently)
    mask: RequestSpec | None = None
    people: tuple[PeopleSpec, ...] = ()


@dataclass(frozen=True)
class Limits:
    concurrency: int = 4
    timeout: int = 30
    retries: int = 4
    max_pages: int = 1000


@dataclass(frozen=True)
class Definition:
    name: str
    path: Path
    title: str | None
    docs: str | None
    base_url: str | None
    auth: dict[str, dict[str, Any]]
    headers: dict[str, str]
    limits: Limits
    params: dict[str, dict[str, Any]]  # name -> {required, description}: the inventory's `params:` values
    identities: dict[str, dict[str, Any]]  # kind -> {type, unique}: kinds the inventory need not declare
    collections: dict[str, CollectionDef]


_cache: dict[tuple[Path, int], Definition] = {}
_lock = threading.Lock()


def resolve(name: str, base_dir: Path) -> Path:
    """The file a `definition:` value names: a built-in's name, or a path relative to the inventory."""
    if "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml")):
        return BUILTIN_DIR / f"{name}.yaml"
    path = Path(name).expanduser()
    return path if path.is_absolute() else base_dir / path


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load(path: Path, shown: str | None = None) -> Definition:
    """The definition in `path` (cached while the file is unchanged); `shown`: the file's name in messages
    (as the inventory names it; a built-in's: its file name)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    with _lock:
        cached = _cache.get((path, stamp))
    if cached is not None:
        return cached
    definition = _Reader(path, shown).read()
    with _lock:
        _cache[(path, stamp)] = definition
    return definition


class _Reader:
    def __init__(self, path: Path, shown: str | None = None):
        from ...inventory.loader import _Loader

        self.path = path
        self.shown = shown or (path.name if path.parent == BUILTIN_DIR else str(path))
        self.yaml = _Loader(path, {})  # the inventory's YAML reading: line numbers, alias-bomb cap

    def error(self, kp: tuple, message: str) -> InventoryError:
        from ...inventory.model import dotted

        return InventoryError(message, where=self.yaml.where(kp), key=dotted(kp) or None)

    def read(self) -> Definition:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise InventoryError("definition file not found", where=self.shown) from None
        except OSError as exc:
            raise InventoryError(f"cannot read the definition: {exc.strerror}", where=self.shown) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InventoryError("the definition is not UTF-8 text", where=self.shown) from None
        self.yaml.name = self.shown
        doc = self.yaml._parse_yaml(text)
        tree = self.yaml._plain(doc, ())
        if not isinstance(tree, dict):
            raise InventoryError("a definition is a mapping (definition: 1, name, collections, ...)",
                                 where=f"{self.yaml.name}:1")
        self.keys(tree, (), _TOP, "the definition")
        if tree.get("definition") != FORMAT:
            raise self.error(("definition",), f"expected 'definition: {FORMAT}' (the format's version), got "
                                              f"{tree.get('definition')!r}")
        name = self.text(tree, (), "name", required=True)
        collections = self.mapping(tree, (), "collections", required=True)
        params = self.params_of(tree)
        self.params = {f"params.{name}" for name in params}
        self.kinds_declared = set(self.mapping(tree, (), "identities"))
        if not collections:
            raise self.error(("collections",), "a definition needs at least one collection")
        return Definition(
            name=name,
            path=self.path,
            title=self.text(tree, (), "title"),
            docs=self.text(tree, (), "docs"),
            base_url=self.text(tree, (), "base_url"),
            auth=self.auth(tree),
            headers=self.headers(tree, ()),
            limits=self.limits(tree),
            params=params,
            identities=self.kinds(tree),
            collections={cname: self.collection(cname, spec, ("collections", cname))
                         for cname, spec in collections.items()},
        )

    # -- pieces --------------------------------------------------------------------------------------
    def keys(self, obj: Any, kp: tuple, allowed: set[str], what: str) -> dict:
        from ...inventory.loader import _close_matches

        if not isinstance(obj, dict):
            raise self.error(kp, f"{what} must be a mapping, got {type(obj).__name__}")
        for key in obj:
            if key not in allowed:
                hint = _close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (allowed: {', '.join(sorted(allowed))})"
                raise self.error(kp + (key,), f"unknown key '{key}' in {what}{suggestion}")
        return obj

    def text(self, obj: dict, kp: tuple, key: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(kp + (key,) if kp else (), f"the key '{key}' is required here")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(kp + (key,), f"expected text, got {value!r}")
        return value

    def mapping(self, obj: dict, kp: tuple, key: str, *, required: bool = False) -> dict:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(kp, f"the key '{key}' is required here")
            return {}
        if not isinstance(value, dict):
            raise self.error(kp + (key,), f"'{key}' must be a mapping, got {type(value).__name__}")
        return value

    def integer(self, obj: dict, kp: tuple, key: str, default: int, low: int = 1) -> int:
        value = obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(kp + (key,), f"expected a whole number of at least {low}, got {value!r}")
        return value

    def headers(self, obj: dict, kp: tuple) -> dict[str, str]:
        headers = self.mapping(obj, kp, "headers")
        for key, value in headers.items():
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise self.error(kp + ("headers", key), f"a header's value is text, got {value!r}")
            if key.lower() in ("authorization", "cookie") or "key" in key.lower() or "token" in key.lower():
                raise self.error(kp + ("headers", key), f"'{key}' carries a secret: it belongs in the inventory's "
                                                        "auth: (from ${VAR}), never in a definition")
        return {key: str(value) for key, value in headers.items()}

    def params_of(self, tree: dict) -> dict[str, dict[str, Any]]:
        """`params:` a list of names (each required), or name -> {required: bool, description: text}."""
        raw = tree.get("params", {})
        if isinstance(raw, list):
            raw = {name: {} for name in raw}
        if not isinstance(raw, dict):
            raise self.error(("params",), "params: the names the inventory gives values for, e.g. "
                                          "{property_id: {required: true, description: ...}}")
        out = {}
        for name, spec in raw.items():
            kp = ("params", name)
            if not isinstance(name, str) or not name.isidentifier():
                raise self.error(kp, f"a param's name is a word (letters, digits, _), got {name!r}")
            spec = {} if spec is None else spec
            self.keys(spec, kp, {"required", "description"}, f"param '{name}'")
            if not isinstance(spec.get("required", True), bool):
                raise self.error(kp + ("required",), "expected true or false")
            out[name] = {"required": spec.get("required", True), "description": spec.get("description")}
        return out

    def kinds(self, tree: dict) -> dict[str, dict[str, Any]]:
        out = {}
        for name, spec in self.mapping(tree, (), "identities").items():
            kp = ("identities", name)
            spec = {"type": spec} if isinstance(spec, str) else spec
            self.keys(spec, kp, _KIND, f"identity kind '{name}'")
            if spec.get("type", "string") not in KIND_TYPES:
                raise self.error(kp + ("type",), f"unknown identity type {spec.get('type')!r} (one of: "
                                                 f"{', '.join(KIND_TYPES)})")
            if not isinstance(spec.get("unique", False), bool):
                raise self.error(kp + ("unique",), "expected true or false")
            out[name] = {"type": spec.get("type", "string"), "unique": spec.get("unique", False)}
        return out

    def limits(self, tree: dict) -> Limits:
        raw = self.keys(self.mapping(tree, (), "limits"), ("limits",), _LIMITS, "limits")
        kp = ("limits",)
        return Limits(concurrency=self.integer(raw, kp, "concurrency", 4), timeout=self.integer(raw, kp, "timeout", 30),
                      retries=self.integer(raw, kp, "retries", 4, low=0),
                      max_pages=self.integer(raw, kp, "max_pages", 1000))

    def auth(self, tree: dict) -> dict[str, dict[str, Any]]:
        raw = self.mapping(tree, (), "auth", required=True)
        if not raw:
            raise self.error(("auth",), f"list the kinds of auth the service takes ({', '.join(AUTH_KINDS)})")
        out = {}
        for kind, spec in raw.items():
            kp = ("auth", kind)
            if kind not in _AUTH:
                from ...inventory.loader import _close_matches

                hint = _close_matches(kind, list(AUTH_KINDS), n=1)
                raise self.error(kp, f"unknown auth kind '{kind}'" + (f"; did you mean '{hint[0]}'?" if hint
                                                                      else f" (one of: {', '.join(AUTH_KINDS)})"))
            spec = {} if spec is None else spec
            self.keys(spec, kp, _AUTH[kind], f"auth '{kind}'")
            if kind == "api_key":
                where = spec.get("in")
                if where not in ("header", "query", "basic"):
                    raise self.error(kp + ("in",), "where the key goes: in: header, query or basic")
                if where in ("header", "query") and not isinstance(spec.get("name"), str):
                    raise self.error(kp, f"an api_key in the {where} needs 'name:' (the {where} parameter)")
            if kind == "service_account":
                scopes = spec.get("scopes")
                if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
                    raise self.error(kp + ("scopes",), "a service account needs 'scopes:' (a list of OAuth scopes)")
            out[kind] = spec
        return out

    def collection(self, name: str, raw: Any, kp: tuple) -> CollectionDef:
        self.keys(raw, kp, _COLLECTION, f"collection '{name}'")
        key = raw.get("key")
        keys = [key] if isinstance(key, str) else key
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise self.error(kp + ("key",) if "key" in raw else kp,
                             f"collection '{name}' needs 'key:' (the field, or list of fields, that names a record)")
        identities = raw.get("identities")
        if not isinstance(identities, dict) or not identities:
            raise self.error(kp + ("identities",) if "identities" in raw else kp,
                             f"collection '{name}' needs 'identities:' (identity kind -> field)")
        implied = {k: raw[k] for k in ("identities", "categories", "erase", "description") if k in raw}
        locate, made = {}, {}
        for kind, spec in self.mapping(raw, kp, "locate", required=True).items():
            if kind not in identities:
                raise self.error(kp + ("locate", kind), f"'{kind}' is not an identity of '{name}' (its identities: "
                                                        f"{', '.join(identities)})")
            if isinstance(spec, dict) and "record" in spec:
                made[kind] = self.made(spec, kp + ("locate", kind), kind)
            else:
                locate[kind] = self.request(spec, kp + ("locate", kind), allowed={kind}, locate=True)
        for kind, fields in identities.items():
            if kind not in locate and kind not in made and _searched(fields):
                raise self.error(kp + ("identities", kind), f"'{kind}' is searched but has no request under "
                                                            f"'locate:' (add one, or write {{field: F, search: false}})")
        key_names = set(keys)
        attach = {aname: self.request(spec, kp + ("attach", aname), allowed=key_names)
                  for aname, spec in self.mapping(raw, kp, "attach").items()}
        return CollectionDef(
            name=name, key=tuple(keys), implied=implied, locate=locate, made=made,
            read=self.request(raw["read"], kp + ("read",), allowed=key_names) if "read" in raw else None,
            attach=attach,
            scan=self.steps(raw.get("scan"), kp + ("scan",), set(), scan=True),
            delete=self.steps(raw.get("delete"), kp + ("delete",), key_names),
            mask=self.request(raw["mask"], kp + ("mask",), allowed=key_names, mask=True) if "mask" in raw else None,
            people=self.people(raw.get("people"), kp + ("people",), name, identities, key_names),
        )

    def people(self, raw: Any, kp: tuple, name: str, identities: dict, key_names: set[str]) -> tuple[PeopleSpec, ...]:
        """`people:` one entry (a mapping) or a list of them, one per identity kind."""
        if raw is None:
            return ()
        if isinstance(raw, list):
            if not raw:
                raise self.error(kp, "people: an entry {kind, fields}, or a list of them")
            return tuple(self.person(item, kp + (i,), name, identities, key_names) for i, item in enumerate(raw))
        return (self.person(raw, kp, name, identities, key_names),)

    def person(self, raw: Any, kp: tuple, name: str, identities: dict, key_names: set[str]) -> PeopleSpec:
        self.keys(raw, kp, _PEOPLE, "people")
        kind = self.text(raw, kp, "kind", required=True)
        known = set(identities) | set(self.kinds_declared)
        if kind not in known:
            raise self.error(kp + ("kind",), f"'{kind}' is not an identity kind of '{name}' or of the definition "
                                             f"(known: {', '.join(sorted(known))})")
        fields = raw.get("fields")
        fields = [fields] if isinstance(fields, str) else fields
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f for f in fields):
            raise self.error(kp + ("fields",) if "fields" in raw else kp,
                             "people: needs 'fields:' (the record's fields, dotted paths, that hold people's ids)")
        request = self.request(raw["request"], kp + ("request",), allowed=key_names) if "request" in raw else None
        staff = raw.get("staff")
        if staff is None:
            return PeopleSpec(kind, tuple(fields), request)
        if not isinstance(staff, dict):
            raise self.error(kp + ("staff",), "staff: a request for one person, with field: and values:")
        asked = {k: v for k, v in staff.items() if k not in _STAFF}
        field_name = staff.get("field")
        values = staff.get("values")
        if not isinstance(field_name, str) or not field_name:
            raise self.error(kp + ("staff",), "staff: needs 'field:' (the field of the person's record that tells "
                                              "staff, e.g. role)")
        if not isinstance(values, list) or not values or not all(isinstance(v, (str, int)) for v in values):
            raise self.error(kp + ("staff", "values") if "values" in staff else kp + ("staff",),
                             "staff: needs 'values:' (the values of the field that mean staff, e.g. [agent, admin])")
        spec = self.request(asked, kp + ("staff",), allowed={kind})
        return PeopleSpec(kind, tuple(fields), request, spec, field_name, tuple(str(v) for v in values))

    def made(self, raw: dict, kp: tuple, kind: str) -> dict[str, Any]:
        """`locate: {KIND: {record: {FIELD: "{KIND}", ...}}}`: a service that cannot be searched (Google
        Analytics' user deletion): each identifier searched is taken as a record made of these fields."""
        self.keys(raw, kp, {"record"}, "a record made of the identifier")
        fields = raw["record"]
        if not isinstance(fields, dict) or not fields:
            raise self.error(kp + ("record",), "record: a mapping of field -> value (e.g. {userId: \"{ga_client_id}\"})")
        try:
            used = {n for n, _f in templates.tree_names(fields)}
        except ValueError as exc:
            raise self.error(kp + ("record",), str(exc)) from None
        for name in sorted(used - {kind} - self.params):
            raise self.error(kp + ("record",), f"placeholder '{{{name}}}' is not the identity searched ({kind})")
        return fields

    def steps(self, raw: Any, kp: tuple, key_names: set[str], *, scan: bool = False) -> tuple[RequestSpec, ...]:
        """`delete:` or `scan:`: one request, or a list of them run in order (each with its own `gone:`)."""
        if raw is None:
            return ()
        if isinstance(raw, list):
            if not raw:
                raise self.error(kp, f"{kp[-1]}: a request, or a list of requests run in order")
            return tuple(self.request(step, kp + (i,), allowed=key_names, scan=scan) for i, step in enumerate(raw))
        return (self.request(raw, kp, allowed=key_names, scan=scan),)

    def request(self, raw: Any, kp: tuple, *, allowed: set[str], scan: bool = False, mask: bool = False,
                locate: bool = False) -> RequestSpec:
        keys = (_LOCATE_REQUEST if locate else _REQUEST) | ({"each"} if scan else set())
        self.keys(raw, kp, keys, "a request")
        method = str(raw.get("method", "GET")).upper()
        if method not in METHODS:
            raise self.error(kp + ("method",), f"unknown method '{raw.get('method')}' (one of: {', '.join(METHODS)})")
        path = self.text(raw, kp, "path", required=True)
        if "://" in path or not path.startswith("/"):
            raise self.error(kp + ("path",), "a path starts with '/' and is relative to base_url (no host)")
        if "json" in raw and "form" in raw:
            raise self.error(kp + ("form",), "a request has a json body or a form body, not both")
        gone = raw.get("gone", [404])
        if not isinstance(gone, list) or not all(isinstance(g, int) and 400 <= g < 500 for g in gone):
            raise self.error(kp + ("gone",), "gone: a list of 4xx statuses that mean the record is not there")
        records = raw.get("records", ".")
        if not isinstance(records, str):
            raise self.error(kp + ("records",), "records: a dotted path into the response (e.g. data)")
        each = None
        if scan and "each" in raw:
            each = self.request(raw["each"], kp + ("each",), allowed=set())
            allowed = {f"each.{name}" for name in _each_fields(raw, each)}
        spec = RequestSpec(
            method=method, path=path, query=self.mapping(raw, kp, "query"), headers=self.headers(raw, kp),
            json=raw.get("json"), form=raw.get("form"), records=records,
            paginate=self.paginate(raw["paginate"], kp + ("paginate",)) if "paginate" in raw else None,
            gone=tuple(gone), each=each, where=self.yaml.where(kp), set=self.mapping(raw, kp, "set"),
        )
        if mask and templates.MASKED not in (spec.json, spec.form):
            raise self.error(kp, "a mask request sends the masked fields: json: \"{masked}\" or form: \"{masked}\"")
        try:
            used = spec.placeholders()
        except ValueError as exc:
            raise self.error(kp, str(exc)) from None
        for name in sorted(used):
            if (scan and name.startswith("each.") and each is not None) or name in self.params:
                continue
            if name not in allowed:
                what = (f"the identity searched ({', '.join(sorted(allowed))})" if kp[2] == "locate"
                        else f"the person's id ({', '.join(sorted(allowed))})" if kp[-1] == "staff"
                        else f"a field of the record's key ({', '.join(sorted(allowed)) or 'none here'})")
                raise self.error(kp, f"placeholder '{{{name}}}' is not {what}")
        return spec

    def paginate(self, raw: Any, kp: tuple) -> Paginate:
        if not isinstance(raw, dict) or raw.get("type") not in PAGINATION:
            raise self.error(kp, f"paginate: a mapping with type: {', '.join(PAGINATION)}")
        kind = raw["type"]
        self.keys(raw, kp, _PAGINATE[kind], f"{kind} pagination")
        for key in ("param", "size_param", "total", "from_record", "from_response", "more", "header"):
            if key in raw and not isinstance(raw[key], str):
                raise self.error(kp + (key,), f"expected text, got {raw[key]!r}")
        size = raw.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise self.error(kp + ("size",), f"expected a page size of at least 1, got {size!r}")
        if ("size" in raw) != ("size_param" in raw):
            raise self.error(kp, "size and size_param go together")
        if kind in ("offset", "cursor") and "param" not in raw:
            raise self.error(kp, f"{kind} pagination needs 'param:' (the query parameter)")
        if kind == "offset" and "size" not in raw:
            raise self.error(kp, "offset pagination needs 'size:' and 'size_param:'")
        if kind == "cursor" and ("from_record" in raw) == ("from_response" in raw):
            raise self.error(kp, "cursor pagination takes the cursor from_record: FIELD or from_response: PATH")
        if kind == "next_link" and ("from_response" in raw) == ("header" in raw):
            raise self.error(kp, "next_link pagination takes the link from_response: PATH or header: link")
        into = raw.get("in", "query")
        if into not in ("query", "json"):
            raise self.error(kp + ("in",), "in: query or json")
        return Paginate(type=kind, param=raw.get("param"), size_param=raw.get("size_param"), size=size,
                        total=raw.get("total"), from_record=raw.get("from_record"),
                        from_response=raw.get("from_response"), more=raw.get("more"), into=into,
                        header=raw.get("header"))


def _searched(fields: Any) -> bool:
    items = fields if isinstance(fields, list) else [fields]
    return any(not (isinstance(item, dict) and item.get("search") is False) for item in items)


def _each_fields(raw: dict, each: RequestSpec) -> set[str]:
    """The `each.FIELD` names a scan request uses (any field of the parent record)."""
    used = set()
    for node in (raw.get("path", ""), raw.get("query") or {}):
        for name, _f in (templates.names(node) if isinstance(node, str) else templates.tree_names(node)):
            if name.startswith("each."):
                used.add(name[5:])
    return used
