"""The settings form (web/schema.py): a JSON schema built from the Settings fields and their
rules, and the parser of the page's JSON."""

from __future__ import annotations

from dataclasses import fields

import pytest

from painterly.errors import InputError
from painterly.settings import Settings
from painterly.web.schema import HIDDEN_FIELDS, parse_settings, settings_schema


def test_the_settings_schema_is_built_from_the_settings_dataclass(client):
    schema = client.get("/api/settings").json()
    offered = [f for f in fields(Settings) if f.name not in HIDDEN_FIELDS]
    assert schema["x-order"] == [f.name for f in offered]
    assert {"size", "steps", "style_weight", "content_weight"} <= set(schema["x-main"])
    for f in offered:
        prop = schema["properties"][f.name]
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        assert prop["default"] == default and prop["description"] == f.metadata["help"]
    assert schema["properties"]["size"]["type"] == "integer"
    assert schema["properties"]["style_weight"]["type"] == "number"
    assert schema["properties"]["optimizer"]["enum"] == ["lbfgs", "adam"]
    assert schema["properties"]["seed"]["nullable"] is True
    assert schema["properties"]["style_layers"]["type"] == "array"
    assert "mask" not in schema["properties"]  # a server path: never from a browser
    assert HIDDEN_FIELDS == {"max_input_megapixels", "max_memory"}


def test_the_schema_carries_the_bounds_validation_uses():
    props = settings_schema()["properties"]
    assert props["size"]["minimum"] == 32 and "maximum" not in props["size"]
    assert props["ema"]["minimum"] == 0 and props["ema"]["maximum"] == 0.999
    assert props["lr"]["exclusiveMinimum"] == 0 and props["lr"]["nullable"] is True
    assert props["scale_steps"]["items"] == {"type": "integer", "minimum": 1}
    assert "relu4_2" in props["content_layers"]["items"]["enum"]
    # Each bound is the one Settings enforces: just inside is fine, just outside is refused.
    for name, prop in props.items():
        if "minimum" in prop and prop["type"] in ("integer", "number"):
            parse_settings({name: prop["minimum"]})
            with pytest.raises(InputError, match=name):
                parse_settings({name: prop["minimum"] - 1})
        if "maximum" in prop and prop["type"] == "number" and name != "seed":
            with pytest.raises(InputError, match=name):
                parse_settings({name: prop["maximum"] + 0.5})


def test_parse_settings_takes_json_values():
    s = parse_settings({"size": 64, "style_layers": ["relu1_1", "relu2_1"], "seed": None})
    assert s == Settings(size=64, style_layers=("relu1_1", "relu2_1"))
    assert parse_settings(None) == Settings()
    with pytest.raises(InputError, match="expected a JSON object"):
        parse_settings([1])
