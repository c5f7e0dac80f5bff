"""JSON Schema of inventory.yaml, generated from the same key declarations the loader checks."""

from __future__ import annotations

from typing import Any

from .. import connectors
from ..identity import IDENTITY_TYPES
from .model import ERASE_ACTIONS, FIELD_OPS
from .spec import (AUDIT_KEYS, COLLECTION_KEYS, CONTROLLER_KEYS, CUSTOM_REGIME_KEYS, IDENTITY_KEYS, LINK_KEYS,
                   REGIME_IDS, SMTP_KEYS, SYSTEM_KEYS)

_SIMPLE = {
    "str": {"type": "string"},
    "path": {"type": "string"},
    "url": {"type": "string"},
    "secret": {"type": "string"},
    "secrets": {"type": ["object", "string"]},
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "strlist": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "char": {"type": "string", "minLength": 1, "maxLength": 1},
    "encoding": {"type": "string"},
    "instructions": {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]},
    "decisions": {"oneOf": [{"enum": ["none", False]}, {"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
    "transfers": {"oneOf": [{"enum": ["none", False]}, {"type": "array", "items": {"type": "object"}}]},
    "emails": {"oneOf": [{"type": "string", "format": "email"},
                         {"type": "array", "items": {"type": "string", "format": "email"}}]},
}


def _props(keys, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {}
    for name, spec in keys.items():
        schema = dict(_SIMPLE.get(spec.type, {}))
        if getattr(spec, "choices", ()):
            schema = {"enum": list(spec.choices)}
        schema["description"] = spec.doc
        props[name] = schema
    for name, schema in (overrides or {}).items():
        props[name] = {**props.get(name, {}), **schema}
    return props


def _object(keys, overrides=None) -> dict[str, Any]:
    required = [k for k, s in keys.items() if s.required]
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": _props(keys, overrides)}
    if required:
        out["required"] = required
    return out


def inventory_json_schema() -> dict[str, Any]:
    """A draft 2020-12 JSON Schema that editors can use to validate inventory.yaml."""
    system_keys = dict(SYSTEM_KEYS)
    collection_keys = dict(COLLECTION_KEYS)
    for name in connectors.names():
        cls = connectors.get(name)
        if cls is None:
            continue
        system_keys.update({k: v for k, v in cls.system_keys.items() if k not in system_keys})
        collection_keys.update({k: v for k, v in cls.collection_keys.items() if k not in collection_keys})
    system_keys.update({k: v for k, v in collection_keys.items() if k not in system_keys})
    field_ops = {"oneOf": [{"type": "null"}, {"enum": list(FIELD_OPS)}]}
    erase = {
        "oneOf": [
            {"enum": list(ERASE_ACTIONS)},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["action"],
                "properties": {
                    "action": {"enum": list(ERASE_ACTIONS)},
                    "fields": {"type": "object", "additionalProperties": field_ops},
                    "reason": {"type": "string"},
                    "until": {"type": "string", "description": "FIELD + N years | end_of_year(FIELD) + N years | N days"},
                },
            },
        ]
    }
    link = _object(LINK_KEYS)  # {field: F, search: false} / {field: F, follow: false}
    one_field = {"oneOf": [{"type": "string"}, link]}
    fields = {"oneOf": [one_field, {"type": "array", "items": one_field, "minItems": 1}]}
    identities_map = {"type": "object", "additionalProperties": fields}
    categories = {"oneOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                            {"type": "array", "items": {"type": "string"}}]}
    collection_overrides = {"identities": identities_map, "categories": categories, "erase": erase}
    collection = _object({k: v for k, v in collection_keys.items()}, collection_overrides)
    collection.pop("required", None)
    collection["required"] = ["identities"]
    system = _object(system_keys, {
        **collection_overrides,
        "connector": {"enum": connectors.names()},
        "identities": {"oneOf": [identities_map, {"type": "array", "items": {"type": "string"}}]},
        "collections": {"type": "object", "additionalProperties": collection},
    })
    system.pop("required", None)
    system["required"] = ["connector"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dsarctl inventory",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "controller", "identities", "systems"],
        "properties": {
            "version": {"const": 1},
            "controller": _object(CONTROLLER_KEYS, {
                "regime": {"enum": list(REGIME_IDS)},
                "authority": {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]},
                "smtp": _object(SMTP_KEYS),
            }),
            "audit": _object(AUDIT_KEYS),
            "identities": {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [{"enum": list(IDENTITY_TYPES)}, {"type": "null"},
                              _object(IDENTITY_KEYS, {"type": {"enum": list(IDENTITY_TYPES)}})]
                },
            },
            "custom_regime": _object(CUSTOM_REGIME_KEYS),
            "systems": {"type": "object", "minProperties": 1, "additionalProperties": system},
        },
    }
