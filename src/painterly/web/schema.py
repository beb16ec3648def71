"""The Settings dataclass as a form: a JSON schema the page builds its inputs from, and the
parser that turns the page's JSON back into a validated Settings.

Everything here is derived from ``dataclasses.fields(Settings)`` (names, types, defaults and
the rules in their metadata: help, bounds, choices), so a new setting appears in the studio
without touching the web code. Settings name no files (those are inputs), so a browser cannot
make the server read a path of its choosing; fields marked ``server`` (the server's own
policy, such as the input size limit) are withheld.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from painterly.errors import InputError
from painterly.settings import Settings, field_types

# The server's own policy, never set by a client.
HIDDEN_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings) if f.metadata.get("server"))
# Shown first and open; the rest go under "more settings". Names missing from Settings are
# ignored, so this list cannot break the form.
MAIN_FIELDS = ("size", "steps", "style_weight", "content_weight", "tv_weight", "seed")

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def settings_schema() -> dict[str, Any]:
    """A JSON schema (draft 2020-12 subset) of the settings the studio offers.

    Each property has ``type``, ``default``, ``description`` (the CLI's help text), ``enum``
    where the field has fixed choices, ``minimum``, ``maximum`` or ``exclusiveMinimum`` where
    it has bounds (on the items, for lists), and ``nullable`` where None means "automatic".
    ``x-order`` lists the fields in dataclass order; ``x-main`` the ones to show first.
    """
    kinds = field_types()
    props: dict[str, Any] = {}
    for f in _offered_fields():
        props[f.name] = _property(f, *kinds[f.name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "painterly settings",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "x-order": list(props),
        "x-main": [name for name in MAIN_FIELDS if name in props],
    }


def parse_settings(raw: Any) -> Settings:
    """Validated Settings from the page's JSON object (field names as keys).

    JSON arrays become the tuples Settings expects; None keeps a nullable field automatic.
    Raises InputError naming the bad key or value.
    """
    if raw is None:
        return Settings()
    if not isinstance(raw, dict):
        raise InputError("settings: expected a JSON object of setting names and values")
    known = {f.name for f in dataclasses.fields(Settings)}
    for name in raw:
        if name not in known:
            raise InputError(f"unknown setting {name!r}")
        if name in HIDDEN_FIELDS:
            raise InputError(f"setting {name!r} cannot be set from the web studio")
    return Settings.from_dict(raw)


def _offered_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(Settings) if f.name not in HIDDEN_FIELDS]


def _property(f: dataclasses.Field[Any], base: Any, nullable: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {"description": f.metadata.get("help", "")}
    rules = _rules(f)
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        prop["type"] = "array"
        prop["items"] = {"type": _JSON_TYPES.get(item, "string"), **rules}
    else:
        prop["type"] = _JSON_TYPES.get(base, "string")
        prop.update(rules)
    default = f.default
    prop["default"] = list(default) if isinstance(default, tuple) else default
    if nullable:
        prop["nullable"] = True
    return prop


def _rules(f: dataclasses.Field[Any]) -> dict[str, Any]:
    """The field's bounds and choices in JSON-schema words."""
    meta = f.metadata
    rules: dict[str, Any] = {}
    if "choices" in meta:
        rules["enum"] = list(meta["choices"])
    if meta.get("positive"):
        rules["exclusiveMinimum"] = 0
    if meta.get("min") is not None:
        rules["minimum"] = meta["min"]
    if meta.get("max") is not None:
        rules["maximum"] = meta["max"]
    return rules


__all__ = ["HIDDEN_FIELDS", "MAIN_FIELDS", "parse_settings", "settings_schema"]
