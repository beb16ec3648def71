"""Dependencies point one way (DESIGN.md), registries match the names settings offer,
and importing the package or asking for --help does not load torch."""

import ast
import subprocess
import sys
from pathlib import Path

import painterly
from painterly import objective, optimize, settings, weights

SRC = Path(painterly.__file__).parent

# What each module may import from the package. Nothing imports cli.
ALLOWED = {
    "version": set(),
    "arch": set(),
    "settings": {"arch"},
    "losses": set(),
    "image": {"losses"},
    "io": {"settings"},
    "weights": {"arch", "settings"},
    "runtime": {"arch", "image", "settings"},
    "features": {"arch", "settings", "weights"},
    "objective": {"losses", "features", "settings"},
    "optimize": {"features", "image", "objective", "settings"},
    "checkpoint": {"io", "optimize", "settings", "version"},
    "guides": {"io", "image", "objective", "settings"},
    "api": {
        "io",
        "guides",
        "runtime",
        "weights",
        "arch",
        "features",
        "image",
        "optimize",
        "settings",
        "version",
    },
    "cli": {
        "arch",
        "settings",
        "version",
        "api",
        "io",
        "optimize",
        "runtime",
        "weights",
        "web",
        "checkpoint",
    },
    "__init__": {"version", "api", "arch", "io", "optimize", "settings"},
    "__main__": {"cli"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "painterly":
                found |= {a.name for a in node.names}
            elif node.module.startswith("painterly."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("painterly.")}
    return found


def test_every_module_is_listed():
    assert {p.stem for p in SRC.glob("*.py")} == set(ALLOWED)


def test_dependencies_point_one_way():
    for module, allowed in ALLOWED.items():
        extra = _imports(SRC / f"{module}.py") - allowed
        assert not extra, f"{module} imports {extra}"


def test_registries_match_the_names_settings_offer():
    assert tuple(optimize.OPTIMIZERS) == settings.OPTIMIZERS
    assert tuple(optimize.INITS) == settings.INITS
    assert tuple(weights.WEIGHT_SOURCES) == settings.WEIGHT_SOURCES
    assert tuple(objective.STYLE_STATISTICS) == settings.STYLE_STATS


def test_import_and_help_do_not_load_torch():
    code = (
        "import sys, painterly, painterly.cli\n"
        "try:\n    painterly.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
