"""The Settings dataclass as a form: a JSON schema the page builds its inputs from, and the
parser that turns the page's JSON back into a validated Settings.

Everything here is derived from ``dataclasses.fields(Settings)`` (names, types, defaults,
``metadata["help"]`` and ``metadata["choices"]``), so a new setting appears in the studio
without touching the web code. Fields that name files on the server (masks, an init image, a
weights file) are withheld or limited to their named choices: a browser must never make the
server read a path of its choosing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from painterly.settings import InputError, Settings

# Fields that take server-side file paths, or that are the server's own policy.
HIDDEN_FIELDS = frozenset({"mask", "style_mask", "max_input_megapixels"})
# Shown first and open; the rest go under "more settings". Names missing from Settings are
# ignored, so this list cannot break the form.
MAIN_FIELDS = ("size", "steps", "style_weight", "content_weight", "tv_weight", "seed")

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def settings_schema() -> dict[str, Any]:
    """A JSON schema (draft 2020-12 subset) of the settings the studio offers.

    Each property has ``type``, ``default``, ``description`` (the CLI's help text), ``enum``
    where the field has fixed choices, and ``nullable`` where None means "automatic".
    ``x-order`` lists the fields in dataclass order; ``x-main`` the ones to show first.
    """
    hints = typing.get_type_hints(Settings)
    props: dict[str, Any] = {}
    for f in _offered_fields():
        props[f.name] = _property(f, hints[f.name])
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
    offered = {f.name: f for f in _offered_fields()}
    known = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise InputError(f"unknown setting {name!r}")
        if name not in offered:
            raise InputError(f"setting {name!r} cannot be set from the web studio")
        values[name] = _value(offered[name], value)
    return Settings(**values)


def _offered_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(Settings) if f.name not in HIDDEN_FIELDS]


def _property(f: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    base, nullable = _unwrap_optional(hint)
    prop: dict[str, Any] = {"description": f.metadata.get("help", "")}
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        prop["type"] = "array"
        prop["items"] = {"type": _JSON_TYPES.get(item, "string")}
    else:
        prop["type"] = _JSON_TYPES.get(base, "string")
    default = f.default
    prop["default"] = list(default) if isinstance(default, tuple) else default
    if "choices" in f.metadata:
        # Fields that also accept a path (init, weights) are limited to their named choices.
        prop["enum"] = list(f.metadata["choices"])
    if nullable:
        prop["nullable"] = True
    return prop


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _value(f: dataclasses.Field[Any], value: Any) -> Any:
    """Shape a JSON value for Settings (which checks ranges and types itself)."""
    if isinstance(value, list):
        return tuple(value)
    choices = f.metadata.get("choices")
    if choices is not None and f.metadata.get("or_path") and value not in choices:
        raise InputError(f"{f.name}={value!r}: expected one of {', '.join(choices)}")
    return value


__all__ = ["HIDDEN_FIELDS", "MAIN_FIELDS", "parse_settings", "settings_schema"]
