import dataclasses

import pytest

from painterly.settings import InputError, Settings


def test_defaults_are_valid_and_frozen():
    s = Settings()
    assert s.content_layers == ("relu4_2",)
    assert s.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    assert (s.style_stats, s.preserve_color, s.style_weight) == ("meancov", "painting", 20.0)
    assert s.deepest_layer == "relu4_2"  # the content layer lies past relu4_1
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.size = 3  # type: ignore[misc]


def test_replace_validates_and_rejects_unknown_fields():
    assert Settings().replace(size=64).size == 64
    with pytest.raises(InputError, match="size=8"):
        Settings().replace(size=8)
    with pytest.raises(InputError, match="colour"):
        Settings().replace(colour="red")


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"size": 10}, "size=10"),
        ({"size": 100.5}, "size=100.5"),
        ({"size": True}, "size=True"),
        ({"steps": 0}, "steps=0"),
        ({"style_weight": -1.0}, "style_weight=-1.0"),
        ({"tv_weight": float("nan")}, "tv_weight=nan"),
        ({"content_weight": 0.0, "style_weight": 0.0}, "both 0"),
        ({"style_scale": 0.0}, "style_scale=0.0"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"optimizer": "sgd"}, "optimizer='sgd'"),
        ({"pooling": "median"}, "pooling='median'"),
        ({"device": "tpu"}, "device='tpu'"),
        ({"weights": "imagenet"}, "weights='imagenet'"),
        ({"init": ""}, "init=''"),
        ({"seed": -1}, "seed=-1"),
        ({"content_layers": ("relu9_9",)}, "relu9_9"),
        ({"style_layers": ()}, "style_layers"),
        ({"style_layers": "relu1_1"}, "style_layers"),
        ({"style_layers": ("relu1_1", "relu1_1")}, "twice"),
        ({"style_layer_weights": (1.0, 2.0)}, "expected 4 numbers"),
        ({"style_layer_weights": (1.0, 1.0, 1.0, -1.0)}, "-1.0"),
        ({"style_layer_weights": (0.0,) * 4}, "all 0"),
        ({"start_size": 16}, "start_size=16"),
        ({"size": 512, "scale_steps": (10,)}, "expected 3 numbers"),
        ({"size": 512, "scale_steps": (10, 0, 10)}, "0 is not"),
    ],
)
def test_bad_values_name_themselves(changes, named):
    with pytest.raises(InputError, match=named.replace("(", r"\(").replace("[", r"\[")):
        Settings(**changes)


def test_to_dict_is_json_ready_and_from_dict_reads_it_back():
    import json

    d = Settings(seed=3, scale_steps=(1, 2, 3)).to_dict()
    assert d["style_layers"] == list(Settings().style_layers)
    assert json.loads(json.dumps(d)) == d
    assert Settings.from_dict(json.loads(json.dumps(d))) == Settings(seed=3, scale_steps=(1, 2, 3))
    with pytest.raises(InputError, match="unknown setting.*mask"):
        Settings.from_dict({**d, "mask": "m.png"})
    with pytest.raises(InputError, match="expected a mapping"):
        Settings.from_dict([("size", 3)])  # type: ignore[arg-type]


def test_settings_name_no_files():
    with pytest.raises(InputError, match="init='start.png': expected one of content, noise"):
        Settings(init="start.png")
    with pytest.raises(InputError, match="weights='vgg.safetensors'"):
        Settings(weights="vgg.safetensors")


def test_the_bounds_in_the_field_metadata_are_the_ones_enforced():
    rules = {f.name: f.metadata for f in dataclasses.fields(Settings)}
    assert rules["size"]["min"] == 32 and rules["ema"]["max"] == 0.999
    assert rules["lr"]["positive"] and rules["max_input_megapixels"]["server"]
    for f in dataclasses.fields(Settings):
        low, kind = f.metadata.get("min"), type(f.default)
        if low is None or kind not in (int, float):
            continue
        Settings(**{f.name: low})  # every stated minimum is allowed
        with pytest.raises(InputError, match=f"{f.name}="):
            Settings(**{f.name: low - 1})  # and just below it is refused
    with pytest.raises(InputError, match="ema=1.0: must be at most 0.999"):
        Settings(ema=1.0)


def test_scale_ladder_and_steps():
    assert Settings(size=160).scales == (160,)  # below 1.5 x start_size: one scale
    assert Settings(size=192).scales == (128, 192)
    assert Settings(size=384).scales == (128, 222, 384)
    assert Settings(size=512).scales == (128, 256, 512)
    assert Settings(size=1024).scales == (128, 256, 512, 1024)
    ladder = Settings(size=1536).scales
    assert ladder[0] == 128 and ladder[-1] == 1536
    assert all(1.5 <= b / a <= 2.0 for a, b in zip(ladder, ladder[1:], strict=False))
    assert Settings(size=512, start_size=512).scales == (512,)
    assert Settings(size=512).steps_per_scale == (50, 50, 50)
    assert Settings(size=512, steps=301).steps_per_scale == (100, 100, 101)
    assert Settings(size=1024, steps=2).scales == (512, 1024)  # too few steps for 4 scales
    s = Settings(size=1024, start_size=256, scale_steps=(200, 100, 50))
    assert s.steps_per_scale == (200, 100, 50) and s.total_steps == 350


def test_print_size_scales_get_fewer_steps_and_the_total_is_kept():
    assert Settings(size=1024).steps_per_scale == (37, 37, 38, 38)  # even up to 1024 px
    s = Settings(size=3840)
    steps = s.steps_per_scale
    assert sum(steps) == s.steps == 150 and len(steps) == len(s.scales)
    assert steps[:4] == (31, 31, 31, 31)  # scales up to 1024 px share evenly
    # above it, in proportion to 1024 / side: 1945 px about half, 3840 px about a quarter
    assert steps[4] == pytest.approx(31 * 1024 / 1945, abs=1)
    assert steps[5] == pytest.approx(31 * 1024 / 3840, abs=1)
    for steps in (7, 8, 20):
        few = Settings(size=7680, steps=steps).steps_per_scale
        assert sum(few) == steps and min(few) >= 1
