"""Dependencies point one way (DESIGN.md), registries match the names settings offer,
and importing the package or asking for --help does not load torch."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import painterly
from painterly import guides, objective, optimize, runtime, settings, transform, weights
from painterly.features import POOLS

SRC = Path(painterly.__file__).parent

# What each module may import from the package ("web.jobs" is painterly/web/jobs.py).
# Nothing imports cli; nothing outside web imports web, but the CLI's 'serve' command.
CORE = {
    "version": set(),
    "errors": set(),
    "allocator": set(),
    "arch": set(),
    "settings": {"arch", "errors"},
    "inputs": {"errors", "settings"},
    "losses": set(),
    "image": {"losses"},
    "encoders": {"errors"},
    "io": {"encoders", "errors", "settings", "version"},
    "weights": {"arch", "errors", "settings"},
    "features": {"arch", "errors", "weights"},
    "tiles": {"arch", "losses"},
    "objective": {"arch", "errors", "losses", "features", "settings", "tiles"},
    "optimize": {"errors", "features", "image", "objective", "settings"},
    "runtime": {"arch", "errors", "image", "optimize", "settings", "tiles"},
    "guides": {"errors", "image", "objective"},
    "checkpoint": {"errors", "inputs", "io", "optimize", "settings", "version"},
    "transform": {"errors", "tiles"},
    "modelfile": {"errors", "io", "transform"},
    "train": {"errors", "features", "guides", "image", "objective", "settings", "transform"},
    "onnxrt": {"errors", "io", "modelfile", "transform"},
    "openvinort": {"modelfile", "onnxrt", "transform"},
    "fast": {
        "errors",
        "onnxrt",
        "openvinort",
        "features",
        "image",
        "inputs",
        "io",
        "modelfile",
        "runtime",
        "settings",
        "train",
        "transform",
        "version",
        "weights",
    },
    "api": {
        "allocator",
        "arch",
        "errors",
        "features",
        "guides",
        "image",
        "inputs",
        "io",
        "objective",
        "optimize",
        "runtime",
        "settings",
        "version",
        "weights",
    },
    "curves": {"errors", "io"},
    "explain": {"features", "losses", "objective", "optimize", "settings"},
    "figure": {"curves", "explain"},
    "driver": {"api", "checkpoint", "curves", "errors", "io", "optimize", "settings"},
    "cli": {
        "allocator",
        "api",
        "arch",
        "checkpoint",
        "cli_batch",
        "cli_explain",
        "cli_fast",
        "cli_video",
        "console",
        "curves",
        "driver",
        "errors",
        "fast",
        "inputs",
        "io",
        "runtime",
        "settings",
        "version",
        "weights",
        "web",
    },
    "workers": {
        "api",
        "errors",
        "fast",
        "features",
        "inputs",
        "io",
        "settings",
        "version",
        "weights",
    },
    "batch": {"errors", "io", "workers"},
    "cluster": {"batch", "errors", "workers"},
    "cli_batch": {
        "batch",
        "fast",
        "runtime",
        "cluster",
        "console",
        "errors",
        "io",
        "modelfile",
        "settings",
        "workers",
    },
    "flow": {"errors"},
    "videoio": {"errors", "flow", "io"},
    "video": {
        "api",
        "errors",
        "fast",
        "flow",
        "image",
        "inputs",
        "io",
        "objective",
        "optimize",
        "settings",
        "videoio",
    },
    "cli_video": {"console", "errors", "fast", "io", "settings", "video", "videoio"},
    "console": {"errors", "settings"},
    "cli_explain": {
        "api",
        "console",
        "errors",
        "explain",
        "figure",
        "inputs",
        "io",
        "settings",
    },
    "cli_fast": {
        "console",
        "errors",
        "fast",
        "inputs",
        "io",
        "modelfile",
        "onnxrt",
        "settings",
        "train",
    },
    "__init__": {"api", "arch", "errors", "inputs", "io", "optimize", "settings", "version"},
    "__main__": {"cli"},
}
WEB = {
    "web.__init__": {"errors", "web.app", "web.clips", "web.executors"},
    "web.executors": {"errors", "web.clips", "web.jobs"},
    "web.app": {
        "errors",
        "settings",
        "version",
        "web.clips",
        "web.executors",
        "web.guard",
        "web.instant",
        "web.jobs",
        "web.schema",
        "web.store",
    },
    "web.guard": set(),
    "web.instant": {"errors", "fast", "io", "modelfile", "settings", "web.jobs"},
    "web.clips": {
        "errors",
        "fast",
        "image",
        "io",
        "video",
        "videoio",
        "web.instant",
        "web.jobs",
        "web.store",
    },
    "web.jobs": {
        "api",
        "curves",
        "driver",
        "errors",
        "inputs",
        "io",
        "optimize",
        "settings",
        "web.store",
    },
    "web.schema": {"errors", "settings"},
    "web.store": set(),
}
ALLOWED = {**CORE, **WEB}


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports, as ``io`` or ``web.jobs``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "painterly":
                found |= {a.name for a in node.names}
            elif node.module.startswith("painterly."):
                found.add(node.module.removeprefix("painterly."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("painterly.")
                for a in node.names
                if a.name.startswith("painterly.")
            }
    return found


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts)


def test_every_module_is_listed():
    assert {_module(p) for p in SRC.rglob("*.py")} == set(ALLOWED)


def test_dependencies_point_one_way():
    for module, allowed in ALLOWED.items():
        extra = _imports(SRC / f"{module.replace('.', '/')}.py") - allowed
        assert not extra, f"{module} imports {extra}"


def test_nothing_imports_the_cli():
    for module, allowed in ALLOWED.items():
        assert "cli" not in allowed or module == "__main__", module


def test_only_web_and_the_cli_import_web():
    for module, allowed in CORE.items():
        if module != "cli":
            assert not any(name.startswith("web") for name in allowed), module


def test_registries_match_the_names_settings_offer():
    assert tuple(optimize.OPTIMIZERS) == settings.OPTIMIZERS
    assert tuple(optimize.INITS) == settings.INITS
    assert tuple(weights.WEIGHT_SOURCES) == settings.WEIGHT_SOURCES
    assert tuple(objective.STYLE_STATISTICS) == settings.STYLE_STATS
    assert tuple(guides.COLOR_MODES) == settings.COLOR_MODES
    assert tuple(POOLS) == settings.POOLINGS
    assert set(runtime.DEVICES) | {"auto"} == set(settings.DEVICES)
    assert tuple(runtime.PRECISIONS) == settings.PRECISIONS
    assert tuple(transform.ARCHITECTURES) == settings.ARCHITECTURE_NAMES
    assert transform.MAX_NOISE == settings.MAX_NOISE


def test_settings_choices_are_the_registries():
    fields = {f.name: f for f in dataclasses.fields(settings.Settings)}
    for name, names in [
        ("optimizer", settings.OPTIMIZERS),
        ("init", settings.INITS),
        ("weights", settings.WEIGHT_SOURCES),
        ("style_stats", settings.STYLE_STATS),
        ("preserve_color", settings.COLOR_MODES),
        ("pooling", settings.POOLINGS),
        ("device", settings.DEVICES),
        ("precision", settings.PRECISIONS),
    ]:
        assert fields[name].metadata["choices"] == names, name


@pytest.mark.parametrize(
    "argv", [["--help"], ["train", "--help"], ["apply", "--help"], ["explain", "--help"]]
)
def test_import_and_help_do_not_load_torch(argv):
    code = (
        "import sys, painterly, painterly.cli\n"
        f"try:\n    painterly.cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
