# Every target installs what it needs into .venv first (Python 3.11 and pip are all it assumes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.occamlab-installed

.PHONY: demo test test-slow test-gpu bench install lint clean

# torch first, pinned to the CPU wheel this machine carries: an unpinned torch pulls a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/occamlab report

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q

test-slow: lint
	$(BIN)/pytest -q -m slow

# Needs a CUDA device and a CUDA build of torch; every gpu test skips without one.
test-gpu: lint
	$(BIN)/pytest -q -m gpu -rs

# Peers live in their own environments (benchmarks/envs/<peer>.txt -> benchmarks/envs/<peer>/).
bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs build src/*.egg-info
