"""Load and validate inventory.yaml.

Every error names the file, the line and the key path, and offers a "did you mean" for misspelt keys.
The YAML is parsed with ruamel.yaml (which keeps line numbers); `${VAR}` and `${VAR:-default}` expand
from the environment inside string values; aliases are followed but the expanded document is capped, so
an alias bomb fails fast instead of eating memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InventoryError
from . import art15, cache
from .model import (
    ERASE_ACTIONS,
    FIELD_OPS,
    Collection,
    Controller,
    EraseRule,
    REQUEST_TYPES,
    Inventory,
    System,
    dotted,
)
from .spec import (
    AUDIT_KEYS,
    COLLECTION_KEYS,
    CONTROLLER_KEYS,
    CUSTOM_REGIME_KEYS,
    SMTP_KEYS,
    IDENTITY_KEYS,
    LINK_KEYS,
    SYSTEM_KEYS,
    TOP_KEYS,
    REGIME_IDS,
)

if TYPE_CHECKING:
    from ..identity import IdentityKind

# Secrets of every inventory loaded in this process, so that even an unexpected error can be printed
# without them (see dsarctl.cli.main).
LOADED_SECRETS: set[str] = set()

SETTINGS_KEYS = ("version", "controller", "audit", "custom_regime")  # what load_settings reads
MAX_NODES = 100_000  # far above any real inventory; an alias bomb hits it within milliseconds
MAX_BYTES = 5_000_000
_VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PERIOD_RE = re.compile(r"^\s*\d+\s+(business\s+)?(day|days|week|weeks|month|months|year|years)\s*$", re.I)


def default_inventory_path() -> Path:
    return Path(os.environ.get("DSARCTL_INVENTORY") or "inventory.yaml")


def load_inventory(path: str | os.PathLike | None = None, *, environ: Mapping[str, str] | None = None) -> Inventory:
    """Read, expand and validate an inventory file."""
    return _Loader(Path(path) if path else default_inventory_path(), os.environ if environ is None else environ).load()


def load_settings(path: str | os.PathLike | None = None, *, environ: Mapping[str, str] | None = None) -> Inventory:
    """The inventory's settings only: `version`, `controller`, `audit` and `custom_regime`, validated
    as `load_inventory` validates them, and the top-level keys checked; `systems` and `identities` must
    be present but are not read (the result has none, and `settings_only` set).

    For commands that read the audit log and never touch a source (`overdue`): they run without the
    connector machinery, and without the environment variables that only systems use (a database
    password a morning cron job does not have), and a system being edited does not stop them.
    """
    loader = _Loader(Path(path) if path else default_inventory_path(), os.environ if environ is None else environ)
    return loader.load(settings_only=True)


class FromEnv(str):
    """A text value of the inventory written with `${VAR}`: what the environment gave (a secret a source
    takes only so, such as an http system's token, is refused when written in the file itself)."""

    __slots__ = ()


def from_env(value: Any) -> bool:
    """Whether an inventory value came through `${VAR}` (not written literally in the file)."""
    return isinstance(value, FromEnv)


class _Loader:
    def __init__(self, path: Path, environ: Mapping[str, str]):
        self.path = path
        self.name = path.name
        self.environ = environ
        self.lines: dict[tuple, int] = {}
        self.nodes = 0
        self.secrets: set[str] = set()
        self.used_kinds: list[tuple[str, tuple]] = []
        # values left empty by an explicit default (`${VAR:-}` with VAR unset): "none", not a typo
        self.empty_by_default: set[tuple] = set()

    # -- errors ------------------------------------------------------------------------------------
    def where(self, key_path: tuple) -> str:
        probe = tuple(key_path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{self.name}:{line}" if line else self.name

    def error(self, key_path: tuple, message: str) -> InventoryError:
        return InventoryError(message, where=self.where(key_path), key=dotted(key_path) or None)

    # -- reading -----------------------------------------------------------------------------------
    def load(self, *, settings_only: bool = False) -> Inventory:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise InventoryError(
                "inventory file not found (give -i FILE or set DSARCTL_INVENTORY)", where=str(self.path)
            ) from None
        except OSError as exc:
            raise InventoryError(f"cannot read inventory: {exc.strerror}", where=str(self.path)) from None
        if len(raw) > MAX_BYTES:
            raise InventoryError(f"inventory is larger than {MAX_BYTES // 1_000_000} MB", where=self.name)
        if b"\x00" in raw:
            offset = raw.index(b"\x00")
            line = raw[:offset].count(b"\n") + 1
            raise InventoryError(f"not a text file (NUL byte at offset {offset})", where=f"{self.name}:{line}")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InventoryError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", where=f"{self.name}:{line}") from None
        if not text.strip():
            raise InventoryError("inventory file is empty", where=self.name)
        cached = cache.load(raw)
        if cached is not None:
            tree, self.lines = cached
        else:
            doc = self._parse_yaml(text)
            if doc is None:
                raise InventoryError("inventory file is empty (only comments)", where=self.name)
            tree = self._plain(doc, ())
            cache.store(raw, tree, self.lines)
        if not isinstance(tree, dict):
            raise InventoryError("the inventory must be a mapping of keys (version, controller, systems, ...)",
                                 where=f"{self.name}:1")
        if settings_only:
            data = {key: self._expand_tree(value, (key,)) if key in SETTINGS_KEYS else value
                    for key, value in tree.items()}
            inventory = self._settings(data)
        else:
            inventory = self._validate(self._expand_tree(tree, ()))
        if not settings_only:
            import hashlib

            inventory.sha256 = hashlib.sha256(raw).hexdigest()
        return inventory

    def _parse_yaml(self, text: str) -> Any:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        yaml = YAML(typ="rt")
        try:
            return yaml.load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = (exc.problem or exc.context or "invalid YAML").strip()
            if "duplicate key" in problem:
                problem = problem.split(" with value")[0]
            raise InventoryError(f"YAML syntax error: {problem}", where=f"{self.name}:{line}" if line else self.name) from None
        except YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
            raise InventoryError(f"YAML error: {first}", where=self.name) from None
        except RecursionError:
            raise InventoryError("YAML nesting is too deep", where=self.name) from None
        except (ValueError, TypeError) as exc:  # ruamel's constructors on odd scalars ("._" as a float)
            raise InventoryError(f"YAML error: cannot read a value ({exc})", where=self.name) from None

    def _plain(self, node: Any, key_path: tuple) -> Any:
        """Turn ruamel's tree into dicts/lists/scalars (exact built-in types), recording line numbers.

        `${VAR}` is not expanded here: this tree is what the cache keeps, so no value from the environment
        (a database password) is ever written to it."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(key_path, f"document expands to more than {MAX_NODES} values (YAML alias bomb?)")
        if len(key_path) > 40:
            raise self.error(key_path, "nesting is too deep")
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            if key_path not in self.lines:
                self.lines[key_path] = node.lc.line + 1
            for key, value in node.items():
                if not isinstance(key, str):
                    try:
                        line = node.lc.key(key)[0] + 1
                    except Exception:
                        line = node.lc.line + 1
                    self.lines.setdefault(key_path + (str(key),), line)
                    raise self.error(key_path + (str(key),), f"keys must be text, got {type(key).__name__} {key!r}")
                child = key_path + (key,)
                try:
                    self.lines[child] = node.lc.key(key)[0] + 1
                except Exception:
                    pass
                out[key] = self._plain(value, child)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            if key_path not in self.lines:
                self.lines[key_path] = node.lc.line + 1
            for i, value in enumerate(node):
                child = key_path + (i,)
                try:
                    self.lines[child] = node.lc.item(i)[0] + 1
                except Exception:
                    pass
                items.append(self._plain(value, child))
            return items
        if isinstance(node, str):
            return str(node)
        if node is None or isinstance(node, bool):
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return str(node)  # dates and other YAML scalars are read as the text the user wrote

    def _expand_tree(self, node: Any, key_path: tuple) -> Any:
        """Expand `${VAR}` in every string value of the plain tree."""
        if isinstance(node, dict):
            return {key: self._expand_tree(value, key_path + (key,)) for key, value in node.items()}
        if isinstance(node, list):
            return [self._expand_tree(value, key_path + (i,)) for i, value in enumerate(node)]
        if isinstance(node, str):
            return self._expand(node, key_path)
        return node

    def _expand(self, text: str, key_path: tuple) -> str:
        if "$" not in text:
            return text
        defaulted: list[str] = []
        used: list[str] = []

        def sub(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            var, default = match.group(1), match.group(2)
            used.append(var)
            value = self.environ.get(var)
            if value is None or (value == "" and default is not None):
                if default is None:
                    raise self.error(
                        key_path,
                        f"environment variable {var} is not set (set it, or write ${{{var}:-default}})",
                    )
                defaulted.append(var)
                return default
            return value

        expanded = _VAR_RE.sub(sub, text)
        if defaulted and not expanded.strip():
            self.empty_by_default.add(key_path)
        return FromEnv(expanded) if used else expanded

    # -- validation --------------------------------------------------------------------------------
    def _keys(self, obj: Any, key_path: tuple, allowed: Mapping[str, Any], what: str, *, enforce_required: bool = True,
              connector: str | None = None) -> dict:
        """Check a mapping's keys; `connector`: the mapping is a system or collection of that connector,
        and a key that only other connectors take says so."""
        if not isinstance(obj, dict):
            raise self.error(key_path, f"{what} must be a mapping, got {_typename(obj)}")
        for key in obj:
            if key not in allowed:
                owners = _connectors_taking(key) if connector else []
                if owners:
                    raise self.error(key_path + (key,), f"key '{key}' in {what} applies to "
                                                        f"{_and(owners)} systems only, not to {connector}")
                hint = _close_matches(key, list(allowed), n=1, cutoff=0.6)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (allowed: {', '.join(sorted(allowed))})"
                raise self.error(key_path + (key,), f"unknown key '{key}' in {what}{suggestion}")
        for key, spec in allowed.items():
            if enforce_required and getattr(spec, "required", False) and key not in obj:
                raise self.error(key_path + (key,), f"{what} needs the key '{key}'")
        return obj

    def _str(self, obj: dict, key_path: tuple, key: str, default: Any = None, *, nonempty: bool = True) -> Any:
        if key not in obj or obj[key] is None:
            return default
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(key_path + (key,), f"expected text, got {_typename(value)}")
        value = str(value)
        if nonempty and not value.strip():
            raise self.error(key_path + (key,), "must not be empty")
        return value

    def _char(self, obj: dict, key_path: tuple, key: str) -> str:
        """One character, white space included (a CSV delimiter: `delimiter: "\\t"` is a tab)."""
        value = obj[key]
        if not isinstance(value, str) or len(value) != 1:
            hint = ' (write a tab as "\\t", in double quotes)' if value in ("\\t", "tab", "TAB", "Tab") else ""
            raise self.error(key_path + (key,), f"must be one character, got {value!r}{hint}")
        if value in '\r\n"':
            raise self.error(key_path + (key,), f"cannot be {value!r}: it is a line end or the quote character")
        return value

    def _encoding(self, obj: dict, key_path: tuple, key: str) -> str:
        """The name of a text encoding a line file can be read in."""
        from ..connectors.lines import check_encoding

        value = self._str(obj, key_path, key)
        problem = check_encoding(value)
        if problem:
            raise self.error(key_path + (key,), problem)
        return value

    def _bool(self, obj: dict, key_path: tuple, key: str, default: bool = False) -> bool:
        if key not in obj:
            return default
        value = obj[key]
        if not isinstance(value, bool):
            raise self.error(key_path + (key,), f"expected true or false, got {value!r}")
        return value

    def _strlist(self, obj: dict, key_path: tuple, key: str) -> list[str]:
        if key not in obj or obj[key] is None:
            return []
        value = obj[key]
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise self.error(key_path + (key,), f"expected a list of text values, got {_typename(value)}")
        return [str(v) for v in value]

    def _settings(self, data: dict) -> Inventory:
        """Validate the top-level keys and the settings; an Inventory without identities or systems."""
        self._keys(data, (), TOP_KEYS, "the inventory")
        version = data.get("version")
        if version != 1:
            raise self.error(("version",), f"unsupported inventory version {version!r} (this dsarctl reads version 1)")
        controller = self._controller(data.get("controller"))
        audit = data.get("audit") or {}
        self._keys(audit, ("audit",), AUDIT_KEYS, "audit")
        audit_path = self._path(self._str(audit, ("audit",), "path", ".dsarctl/audit.db"))
        if data.get("identities") is None:
            raise self.error((), "the inventory needs 'identities:' (the kinds of identifier, e.g. email: {type: email})")
        custom = self._custom_regime(data.get("custom_regime"))
        if controller.regime == "custom" and custom is None:
            raise self.error(("controller", "regime"), "regime 'custom' needs a top-level 'custom_regime:' with a period")
        systems_raw = data.get("systems")
        if not isinstance(systems_raw, dict) or not systems_raw:
            raise self.error(("systems",), "systems must be a mapping of at least one system")
        return Inventory(
            path=self.path.resolve(),
            sha256="",
            version=1,
            controller=controller,
            audit_path=audit_path,
            identities={},
            systems={},
            custom_regime=custom,
            secrets=frozenset(self.secrets),
            lines=self.lines,
            settings_only=True,
        )

    def _validate(self, data: dict) -> Inventory:
        inventory = self._settings(data)
        inventory.settings_only = False
        kinds = inventory.identities = self._identity_kinds(data.get("identities"))
        systems_raw = data["systems"]
        for name, raw in systems_raw.items():
            inventory.systems[name] = self._system(name, raw, kinds)
            self._art15(inventory.systems[name], raw, inventory.controller)
        for kind, key_path in self.used_kinds:
            if kind not in kinds:
                hint = _close_matches(kind, list(kinds), n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                declared = ", ".join(sorted(kinds)) or "none"
                raise self.error(
                    key_path,
                    f"identity kind '{kind}' is not declared under 'identities:' (declared: {declared}){suggestion}",
                )
        inventory.secrets = frozenset(self.secrets)
        LOADED_SECRETS.update(self.secrets)
        return inventory

    def _path(self, text: str) -> Path:
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else (self.path.resolve().parent / path)

    def _controller(self, raw: Any) -> Controller:
        kp = ("controller",)
        if raw is None:
            raise self.error((), "the inventory needs a 'controller:' (name, contact, timezone, regime)")
        self._keys(raw, kp, CONTROLLER_KEYS, "controller")
        timezone = self._str(raw, kp, "timezone", "UTC")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except Exception:
            raise self.error(kp + ("timezone",), f"unknown time zone '{timezone}' (use an IANA name like Europe/London)") from None
        regime = self._str(raw, kp, "regime", "eu-gdpr")
        if regime not in REGIME_IDS:
            hint = _close_matches(regime, REGIME_IDS, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (one of: {', '.join(REGIME_IDS)})"
            raise self.error(kp + ("regime",), f"unknown regime '{regime}'{suggestion}")
        calendar = self._str(raw, kp, "holidays")
        if calendar:
            problem = _calendar_problem(calendar)
            if problem:
                raise self.error(kp + ("holidays",), problem)
        authority = raw.get("authority") or {}
        if isinstance(authority, str):
            authority = {"name": authority}
        if not isinstance(authority, dict) or not all(isinstance(v, str) for v in authority.values()):
            raise self.error(kp + ("authority",), "expected a mapping like {name: ..., url: ...}")
        unknown = set(authority) - {"name", "url", "address", "email", "phone"}
        if unknown:
            raise self.error(kp + ("authority", sorted(unknown)[0]), f"unknown key '{sorted(unknown)[0]}' in authority (allowed: address, email, name, phone, url)")
        return Controller(
            name=self._str(raw, kp, "name"),
            contact=self._str(raw, kp, "contact"),
            timezone=timezone,
            regime=regime,
            holidays=calendar,
            address=self._str(raw, kp, "address"),
            dpo=self._str(raw, kp, "dpo"),
            authority=dict(authority),
            domains=self._domains(raw, kp, "domains"),
            smtp=self._smtp(raw.get("smtp"), kp + ("smtp",)),
            letters=self._path(self._str(raw, kp, "letters")) if raw.get("letters") is not None else None,
            automated_decisions=(art15.read_decisions(raw["automated_decisions"], kp + ("automated_decisions",),
                                                      self.error) if "automated_decisions" in raw else None),
            transfers=(art15.read_transfers(raw["transfers"], kp + ("transfers",), self.error)
                       if "transfers" in raw else None),
        )

    def _smtp(self, raw: Any, kp: tuple) -> dict | None:
        """`controller.smtp`: the server `letter --send` uses; its password is a secret, never shown."""
        if raw is None:
            return None
        self._keys(raw, kp, SMTP_KEYS, "smtp")
        if kp + ("password",) in self.empty_by_default:  # `${SMTP_PASSWORD:-}` unset: no password (no login)
            raw = {k: v for k, v in raw.items() if k != "password"}
        out = self._connector_options(raw, kp, SMTP_KEYS)
        tls = out.setdefault("tls", "starttls")
        out.setdefault("port", {"starttls": 587, "implicit": 465, "none": 25}[tls])
        if tls == "none" and out["host"].lower() not in ("localhost", "127.0.0.1", "::1"):
            raise self.error(kp + ("tls",), "tls: none sends the password and the letters unencrypted; "
                                            "it is allowed only for localhost")
        return out

    def _custom_regime(self, raw: Any) -> dict | None:
        if raw is None:
            return None
        kp = ("custom_regime",)
        self._keys(raw, kp, CUSTOM_REGIME_KEYS, "custom_regime")
        out: dict[str, Any] = {}
        for key in ("period", "extension"):
            value = self._str(raw, kp, key)
            if value is not None and not _PERIOD_RE.match(value):
                raise self.error(kp + (key,), f"'{value}' is not a period (write e.g. '30 days', '1 month', '10 business days')")
            out[key] = value
        out["pause"] = self._bool(raw, kp, "pause", False)
        out["roll"] = self._bool(raw, kp, "roll", True)
        return out

    def _identity_kinds(self, raw: Any) -> dict[str, IdentityKind]:
        from ..identity import IDENTITY_TYPES, IdentityKind

        kp = ("identities",)
        if raw is None:
            raise self.error((), "the inventory needs 'identities:' (the kinds of identifier, e.g. email: {type: email})")
        if not isinstance(raw, dict) or not raw:
            raise self.error(kp, f"identities must be a mapping of identifier kinds, got {_typename(raw)}")
        kinds = {}
        for name, spec in raw.items():
            ikp = kp + (name,)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
                raise self.error(ikp, f"identity kind name '{name}' must be a simple word (letters, digits, _ and -)")
            if spec is None:
                spec = {}
            if isinstance(spec, str):
                spec = {"type": spec}
            self._keys(spec, ikp, IDENTITY_KEYS, f"identity kind '{name}'")
            type_ = self._str(spec, ikp, "type", "string")
            if type_ not in IDENTITY_TYPES:
                hint = _close_matches(type_, IDENTITY_TYPES, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (one of: {', '.join(IDENTITY_TYPES)})"
                raise self.error(ikp + ("type",), f"unknown identity type '{type_}'{suggestion}")
            region = self._str(spec, ikp, "region")
            if region is not None:
                if type_ != "phone":
                    raise self.error(ikp + ("region",), "'region' applies to phone identities only")
                from .known_codes import PHONE_REGIONS

                if region.upper() not in PHONE_REGIONS and not _phone_region_known(region):
                    raise self.error(ikp + ("region",), f"unknown phone region '{region}' (use a two-letter country code like GB)")
                region = region.upper()
            kinds[name] = IdentityKind(name=name, type=type_, region=region, unique=self._bool(spec, ikp, "unique"))
        return kinds

    def _system(self, name: str, raw: Any, kinds: dict[str, IdentityKind]) -> System:
        from ..connectors import registry

        kp = ("systems", name)
        if not isinstance(raw, dict):
            raise self.error(kp, f"system '{name}' must be a mapping, got {_typename(raw)}")
        connector_name = raw.get("connector")
        if connector_name is None:
            raise self.error(kp, f"system '{name}' needs 'connector:' (one of: {', '.join(registry.names())})")
        if not isinstance(connector_name, str):
            raise self.error(kp + ("connector",), f"expected a connector name, got {_typename(connector_name)}")
        cls = registry.get(connector_name)
        if cls is None and registry.unloadable(connector_name):
            raise self.error(kp + ("connector",), f"connector '{connector_name}' is installed but cannot be used: "
                                                  f"{registry.unloadable(connector_name)}")
        if cls is None:
            available = registry.names()
            hint = _close_matches(connector_name, available, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (available: {', '.join(available)})"
            raise self.error(kp + ("connector",), f"unknown connector '{connector_name}'{suggestion}")
        allowed = dict(SYSTEM_KEYS)
        allowed.update(cls.system_keys)
        if cls.implicit_collection:
            allowed.update({k: v for k, v in COLLECTION_KEYS.items() if k not in allowed})
            allowed.update({k: v for k, v in cls.collection_keys.items() if k not in allowed})
        self._keys(raw, kp, allowed, f"system '{name}'", enforce_required=False, connector=connector_name)
        system = System(
            name=name,
            connector=connector_name,
            collections={},
            description=self._str(raw, kp, "description"),
            owner=self._str(raw, kp, "owner"),
            purposes=self._strlist(raw, kp, "purposes"),
            lawful_basis=self._str(raw, kp, "lawful_basis"),
            retention=self._str(raw, kp, "retention"),
            recipients=self._strlist(raw, kp, "recipients"),
            source=self._str(raw, kp, "source"),
            key_path=kp,
            is_manual=cls.manual,
        )
        options = self._connector_options(raw, kp, cls.system_keys)
        # `url` and `path` stay in the options too: a plugin that declares them reads them there
        system.url = options.get("url")
        if system.url:
            self._remember_secret(system.url)
        system.path = options.get("path")
        system.processor = options.pop("processor", None)
        system.instructions = art15.instructions(options.pop("instructions", None), kp + ("instructions",),
                                                 self.error, REQUEST_TYPES)
        system.always_ask = bool(options.pop("always_ask", False))
        system.options = options
        for key, spec in cls.system_keys.items():
            if spec.required and getattr(system, key, None) in (None, "") and key not in system.options:
                raise self.error(kp, f"system '{name}' ({connector_name}) needs '{key}:' — {spec.doc}")
        for key, problem in getattr(cls, "option_problems", lambda options: [])(options):
            raise self.error(kp + (key,), problem)  # keys that do not go together (tls: none off localhost)
        implied = self._implied_collections(cls, options, kp)
        if implied:
            self._implied_kinds(cls, options, kinds)

        if system.is_manual:
            system.options.pop("identities", None)
            system.identity_kinds = self._manual_kinds(raw, kp)
            return system

        erase_default = self._erase(raw["erase"], kp + ("erase",)) if "erase" in raw else None
        suppress_default = self._bool(raw, kp, "suppress")
        expand_default = self._bool(raw, kp, "expand", cls.default_expand)
        collections_raw = raw.get("collections")
        if implied:
            collections_raw = self._merge_implied(raw, kp, implied, system.connector)
        if collections_raw is not None:
            if not isinstance(collections_raw, dict) or not collections_raw:
                raise self.error(kp + ("collections",), "collections must be a mapping of at least one collection")
            for key in ("identities", "categories"):
                if key in raw and implied:
                    raise self.error(kp + (key,), f"'{key}' of a {connector_name} system comes from its "
                                                  "definition (set 'categories' per collection under 'collections:')")
                if key in raw:
                    raise self.error(kp + (key,), f"'{key}' belongs to each collection when 'collections:' is given")
            for cname, craw in collections_raw.items():
                system.collections[cname] = self._collection(
                    system, cls, cname, craw, kp + ("collections", cname), erase_default, suppress_default,
                    expand_default,
                )
        elif "identities" in raw:
            implicit = {k: v for k, v in raw.items() if k in COLLECTION_KEYS or k in cls.collection_keys}
            system.collections[name] = self._collection(system, cls, name, implicit, kp, erase_default, suppress_default,
                                                        expand_default, implicit=True)
        else:
            raise self.error(kp, f"system '{name}' has nothing to search: give it 'identities:' or 'collections:'")
        return system

    def _art15(self, system: System, raw: dict, controller: Controller) -> None:
        """The system's automated decisions and transfers (its own, else the controller's), and which Art. 15
        keys are written for it (inventory/art15.py says what is missing)."""
        kp = system.key_path
        declared = {key for key in art15.ITEMS if key in raw and raw[key] is not None}
        for key, read in (("automated_decisions", art15.read_decisions), ("transfers", art15.read_transfers)):
            if key in raw:
                setattr(system, key, read(raw[key], kp + (key,), self.error))
            elif getattr(controller, key) is not None:
                setattr(system, key, getattr(controller, key))
                declared.add(key)
        if not system.purposes:
            declared.discard("purposes")
        system.declared = frozenset(declared)

    def _implied_collections(self, cls, options: dict, kp: tuple) -> dict[str, dict]:
        """The collections a source defines itself (`Source.implied_collections`: an http system's
        definition file); a key the source finds at fault is reported at its file:line."""
        from ..sources import KeyProblem

        hook = getattr(cls, "implied_collections", None)
        if hook is None:
            return {}
        try:
            return hook(options, self.path.resolve().parent) or {}
        except KeyProblem as problem:
            raise self.error(kp + tuple(problem.key), problem.why) from None
        except InventoryError as exc:
            # about a file of the source's own as a whole (not found, unreadable): named with the inventory
            # key that names the file, at its line; an error inside the file names the file's own line
            shown = exc.where or ""
            named = [key for key, value in options.items() if isinstance(value, str) and value == shown]
            if not named or re.search(r":\d+$", shown):
                raise
            raise InventoryError(str(exc), where=self.where(kp + (named[0],)),
                                 key=dotted(kp + (named[0],))) from None

    def _implied_kinds(self, cls, options: dict, kinds: dict[str, "IdentityKind"]) -> None:
        """Identity kinds the source's own collections use (`Source.implied_identities`), for those the
        inventory does not declare (its declaration wins)."""
        from ..identity import IdentityKind

        for name, spec in cls.implied_identities(options).items():
            if name not in kinds:
                kinds[name] = IdentityKind(name=name, type=spec.get("type", "string"), unique=bool(spec.get("unique")))

    def _merge_implied(self, raw: dict, kp: tuple, implied: dict[str, dict], connector: str) -> dict[str, dict]:
        """The source's collections, each under what the inventory's `collections:` sets for it (erase,
        categories, description); the identity fields stay the source's."""
        given = raw.get("collections")
        if given is None:
            return implied
        if not isinstance(given, dict) or not given:
            raise self.error(kp + ("collections",), "collections must be a mapping of at least one collection")
        merged = {name: dict(spec) for name, spec in implied.items()}
        for name, craw in given.items():
            ckp = kp + ("collections", name)
            if name not in implied:
                hint = _close_matches(name, list(implied), n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (its collections: {', '.join(implied)})"
                raise self.error(ckp, f"unknown collection '{name}': the {connector} definition has no such "
                                      f"collection{suggestion}")
            if not isinstance(craw, dict):
                raise self.error(ckp, f"collection '{name}' must be a mapping, got {_typename(craw)}")
            if "identities" in craw:
                raise self.error(ckp + ("identities",), f"the identity fields of '{name}' come from the "
                                                        f"{connector} definition (write your own definition to change them)")
            merged[name].update(craw)
        return merged

    def _manual_kinds(self, raw: dict, kp: tuple) -> list[str]:
        value = raw.get("identities", [])
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(kp + ("identities",), "a manual system lists identity kinds: identities: [email]")
        for i, kind in enumerate(value):
            self.used_kinds.append((kind, kp + ("identities", i)))
        return value

    def _connector_options(self, raw: dict, kp: tuple, specs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, spec in specs.items():
            if key not in raw or raw[key] is None:
                continue
            value = raw[key]
            if spec.type in ("str", "path", "url", "secret"):
                value = self._str(raw, kp, key)
                if spec.type == "path":
                    value = self._path(value)
                elif spec.type == "secret" and len(value) >= 3:  # a password: never shown (see redact)
                    self.secrets.add(value)
            elif spec.type == "secrets":
                value = self._secrets(value, kp + (key,))
            elif spec.type == "bool":
                value = self._bool(raw, kp, key)
            elif spec.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise self.error(kp + (key,), f"expected a whole number, got {value!r}")
            elif spec.type == "strlist":
                value = self._strlist(raw, kp, key)
            elif spec.type == "char":
                value = self._char(raw, kp, key)
            elif spec.type == "encoding":
                value = self._encoding(raw, kp, key)
            elif spec.type == "emails":
                value = self._emails(raw, kp, key)
            if spec.choices and value not in spec.choices:
                hint = _close_matches(str(value), spec.choices, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                raise self.error(kp + (key,), f"unknown value '{value}' for '{key}' (one of: "
                                              f"{', '.join(spec.choices)}){suggestion}")
            out[key] = value
        return out

    def _secrets(self, value: Any, kp: tuple) -> Any:
        """A mapping (or a value) whose every text value is a secret (an http system's `auth:`): kept as
        written, each value kept out of output like a password."""
        if isinstance(value, dict):
            return {k: self._secrets(v, kp + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            raise self.error(kp, f"expected a value or a mapping, got {_typename(value)}")
        if isinstance(value, str):
            if len(value) >= 3:
                self.secrets.add(value)
            return value
        return value

    def _emails(self, raw: dict, kp: tuple, key: str) -> list[str]:
        """An e-mail address or a list of them, normalised."""
        from ..identity import normalise_email

        out = []
        for i, text in enumerate(self._strlist(raw, kp, key)):
            value = normalise_email(text)
            if value is None:
                where = kp + (key,) + ((i,) if isinstance(raw[key], list) else ())
                raise self.error(where, f"'{text}' is not an e-mail address")
            out.append(value)
        return out

    def _domains(self, raw: dict, kp: tuple, key: str) -> list[str]:
        """Mail domains (`controller.domains`), lowercased; each must be a name with a dot, written alone."""
        out = []
        for i, text in enumerate(self._strlist(raw, kp, key)):
            where = kp + (key,) + ((i,) if isinstance(raw[key], list) else ())
            value = text.strip().casefold().rstrip(".")
            if value.startswith(("@", "*.")) or "@" in value:
                raise self.error(where, f"'{text}' is not a domain: write the domain alone, e.g. northwind.example "
                                        "(its subdomains count too)")
            try:
                ascii_name = value.encode("idna").decode("ascii")
            except UnicodeError:
                ascii_name = ""
            if not _DOMAIN_RE.match(ascii_name):
                raise self.error(where, f"'{text}' is not a domain name (e.g. northwind.example)")
            out.append(value)
        return out

    def _remember_secret(self, url: str) -> None:
        match = re.search(r"://[^:/@]*:([^@]+)@", url)
        if match and len(match.group(1)) >= 3:
            self.secrets.add(match.group(1))
            from urllib.parse import unquote

            self.secrets.add(unquote(match.group(1)))

    def _collection(self, system: System, cls, name: str, raw: Any, kp: tuple, erase_default, suppress_default,
                    expand_default: bool, implicit: bool = False) -> Collection:
        if not isinstance(raw, dict):
            raise self.error(kp, f"collection '{name}' must be a mapping, got {_typename(raw)}")
        if not implicit:
            allowed = dict(COLLECTION_KEYS)
            allowed.update(cls.collection_keys)
            self._keys(raw, kp, allowed, f"collection '{name}'", connector=system.connector)
        identities, unsearched, unfollowed = self._identity_fields(raw.get("identities"), kp + ("identities",))
        if (unsearched or unfollowed) and cls.mailbox:
            where = next(iter(sorted(unsearched | unfollowed)))
            raise self.error(kp + ("identities", where[0]),
                             "link directions (search: false / follow: false) apply to records, not to "
                             "mailboxes: a mailbox is searched by its headers and its addresses are never followed")
        if not identities:
            raise self.error(kp + ("identities",) if "identities" in raw else kp,
                             f"collection '{name}' needs 'identities:' (identity kind -> field)")
        options = self._connector_options(raw, kp, cls.collection_keys) if not implicit else {}
        path = options.get("path") or system.path
        if cls.local_files and path is None:
            raise self.error(kp, f"'{name}' ({system.connector}) needs 'path:' — the file or folder to read")
        erase = self._erase(raw["erase"], kp + ("erase",)) if "erase" in raw else erase_default
        self._erasable(system, cls, erase, kp + ("erase",) if "erase" in raw else system.key_path + ("erase",))
        if erase is None and _erases(cls) and cls.default_erase:
            erase = EraseRule(action=cls.default_erase)
        table = options.pop("table", None)
        schema = options.pop("schema", None)
        if table and schema is None and "." in table:
            schema, table = table.split(".", 1)
        key = options.pop("key", None)
        collection = Collection(
            name=name,
            system=system,
            identities=identities,
            categories=self._categories(raw.get("categories"), kp + ("categories",)),
            erase=erase,
            suppress=self._bool(raw, kp, "suppress", suppress_default),
            expand=self._bool(raw, kp, "expand", expand_default),
            description=self._str(raw, kp, "description") if not implicit else None,
            table=table or (None if cls.local_files else name),
            schema=schema,
            key=key,
            path=path,
            options={**system.options, **options},
            key_path=kp,
            created=self._str(raw, kp, "created"),
            unsearched=unsearched,
            unfollowed=unfollowed,
        )
        for key, problem in cls.collection_problems(collection) if hasattr(cls, "collection_problems") else ():
            # a rule the source cannot carry out for this collection (no delete request in its definition)
            where = kp + tuple(key)
            if key and key[0] == "erase" and "erase" not in raw:
                where = system.key_path + tuple(key)  # the system's rule, inherited
            raise self.error(where, problem)
        return collection

    def _erasable(self, system: System, cls, erase: EraseRule | None, kp: tuple) -> None:
        """Refuse an erase rule that changes records (delete, anonymize, retain with fields) on a source
        that cannot erase: the plan would promise what no erase carries out. `retain` without fields
        changes nothing and takes any source."""
        if erase is None or _erases(cls) or (erase.action == "retain" and not erase.fields):
            return
        what = "fields to mask" if erase.action == "retain" else f"action '{erase.action}'"
        raise self.error(kp, f"system '{system.name}' cannot erase: its connector '{system.connector}' has no "
                             f"erase capability, so the rule's {what} would never be carried out (remove the "
                             "rule, or keep the records with 'action: retain', a 'reason:' and no 'fields:')")

    def _identity_fields(self, raw: Any, kp: tuple) -> tuple[dict[str, list[str]], frozenset, frozenset]:
        """identity kind -> fields, and the (kind, field) pairs with `search: false` and `follow: false`.

        A field is a name, or {field: NAME, search: false} / {field: NAME, follow: false}; a kind takes one
        field or a list of them."""
        if raw is None:
            return {}, frozenset(), frozenset()
        if not isinstance(raw, dict):
            raise self.error(kp, f"identities must map identity kind -> field, got {_typename(raw)}")
        out: dict[str, list[str]] = {}
        unsearched: set[tuple[str, str]] = set()
        unfollowed: set[tuple[str, str]] = set()
        for kind, fields in raw.items():
            self.used_kinds.append((kind, kp + (kind,)))
            entries = fields if isinstance(fields, list) else [fields]
            if not entries:
                raise self.error(kp + (kind,), "expected a field name or a list of field names, got an empty list")
            names: list[str] = []
            for i, entry in enumerate(entries):
                ekp = kp + (kind,) + ((i,) if isinstance(fields, list) else ())
                if isinstance(entry, dict):
                    self._keys(entry, ekp, LINK_KEYS, f"identity field of '{kind}'")
                    name = entry.get("field")
                    search = self._bool(entry, ekp, "search", True)
                    follow = self._bool(entry, ekp, "follow", True)
                    if not search and not follow:
                        raise self.error(ekp, f"'{name}' has search: false and follow: false: it would link "
                                              "nothing; remove it from identities")
                else:
                    name, search, follow = entry, True, True
                if not isinstance(name, str) or not name.strip():
                    raise self.error(ekp, f"expected a field name (or {{field: NAME, search: false}}), got "
                                          f"{_typename(entry if not isinstance(entry, dict) else name)}")
                if name in names:
                    raise self.error(ekp, f"field '{name}' is listed twice for '{kind}'")
                names.append(name)
                if not search:
                    unsearched.add((kind, name))
                if not follow:
                    unfollowed.add((kind, name))
            out[kind] = names
        return out, frozenset(unsearched), frozenset(unfollowed)

    def _categories(self, raw: Any, kp: tuple) -> dict[str, str]:
        if raw is None:
            return {}
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return {v: v for v in raw}
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise self.error(kp, "categories must map field -> category (name: contact.name) or list categories")
        return dict(raw)

    def _erase(self, raw: Any, kp: tuple) -> EraseRule:
        if isinstance(raw, str):
            raw = {"action": raw}
        if not isinstance(raw, dict):
            raise self.error(kp, f"erase must be an action (delete, anonymize, retain) or a mapping, got {_typename(raw)}")
        self._keys(raw, kp, {"action": None, "fields": None, "reason": None, "until": None}, "erase")
        action = raw.get("action")
        if action not in ERASE_ACTIONS:
            hint = _close_matches(str(action), ERASE_ACTIONS, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (one of: {', '.join(ERASE_ACTIONS)})"
            raise self.error(kp + ("action",), f"unknown erase action {action!r}{suggestion}")
        fields: dict[str, str] = {}
        raw_fields = raw.get("fields")
        if raw_fields is not None:
            if not isinstance(raw_fields, dict):
                raise self.error(kp + ("fields",), "fields must map field -> null | redact | hash")
            for field, op in raw_fields.items():
                op = "null" if op is None else op
                if op not in FIELD_OPS:
                    raise self.error(kp + ("fields", field), f"unknown field operation {op!r} (one of: null, redact, hash)")
                fields[field] = op
        if action == "delete" and (fields or "reason" in raw or "until" in raw):
            extra = "fields" if fields else ("reason" if "reason" in raw else "until")
            raise self.error(kp + (extra,), f"'{extra}' does not apply to erase action 'delete'")
        if action == "anonymize":
            if not fields:
                raise self.error(kp, "erase action 'anonymize' needs 'fields:' (field: null | redact | hash)")
            for extra in ("reason", "until"):
                if extra in raw:
                    raise self.error(kp + (extra,), f"'{extra}' applies to erase action 'retain' only")
        reason = until = None
        if action == "retain":
            reason = self._str(raw, kp, "reason")
            if not reason:
                raise self.error(kp, "erase action 'retain' needs a 'reason:' (the legal obligation)")
            until_text = self._str(raw, kp, "until")
            if until_text:
                from ..retention import parse_until

                try:
                    until = parse_until(until_text)
                except ValueError as exc:
                    raise self.error(kp + ("until",), str(exc)) from None
        return EraseRule(action=action, fields=fields, reason=reason, until=until)


def _erases(cls) -> bool:
    """Whether a source class has the erase capability."""
    from ..sources import Erasable

    return issubclass(cls, Erasable)


def _connectors_taking(key: str) -> list[str]:
    """The built-in connectors whose systems or collections take `key` (asked only for an unknown key)."""
    from ..connectors import registry

    out = []
    for name in sorted(registry.BUILTIN):
        cls = registry.get(name)
        if cls is not None and (key in cls.system_keys or key in cls.collection_keys):
            out.append(name)
    return out


def _and(words: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)


def _close_matches(word: str, choices, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """difflib's "did you mean", imported only when a key is wrong."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def _phone_region_known(region: str) -> bool:
    """Asked of `phonenumbers` itself when the generated list (known_codes) lacks the region."""
    import phonenumbers

    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def _calendar_problem(code: str) -> str | None:
    from .known_codes import CALENDARS

    country, _, subdiv = code.partition("-")
    known = CALENDARS.get(country.upper())
    if known is not None and (not subdiv or subdiv.upper() in known):
        return None  # the common case, without importing every country of `holidays` (~0.2 s)
    import holidays

    supported = holidays.list_supported_countries()
    if country.upper() not in supported:
        return f"unknown holiday calendar '{code}' (use a country code like GB-ENG, DE, FR, US-CO)"
    if subdiv and subdiv.upper() not in supported[country.upper()]:
        return f"unknown subdivision '{subdiv}' of {country.upper()} in holiday calendar '{code}'"
    return None


def _typename(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return f"text ({value!r})" if len(str(value)) < 40 else "text"
