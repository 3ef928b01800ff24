# Gigawatt: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: run test test-unit test-postgres bench lint format clean

# Base install (no extras beyond PostgreSQL): enough for `gigawatt serve`.
$(BIN)/.installed-base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	touch $@

# Everything: CPU PyTorch first (so no CUDA wheels are pulled), then all extras.
$(BIN)/.installed-all: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@ $(BIN)/.installed-base

run: $(BIN)/.installed-base
	$(BIN)/gigawatt serve

test: $(BIN)/.installed-all
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(BIN)/.installed-all
	$(BIN)/python -m benchmarks.run

lint: $(BIN)/.installed-all
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(BIN)/.installed-all
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
