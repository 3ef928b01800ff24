# Gigawatt: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
# pytest-xdist workers for `make test` (the suite waits on servers and processes: 2 fill 2 cores).
TEST_WORKERS ?= 2

.PHONY: run test test-unit test-postgres bench build lint format clean system-deps

# Debian packages the project uses when the host has none of them: bubblewrap (the job
# sandbox, for `make run` and `make test`) and chromium (browser tests, `make test` only).
# Installed with apt-get when we are root (or have password-less sudo); otherwise a warning:
# `gigawatt serve` then refuses external tenants' jobs unless `--isolation none` is given.
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo "sudo -n apt-get")
define need_debs
	@missing=""; for pair in $(1); do cmd=$${pair%%:*}; deb=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q $$missing >/dev/null 2>&1 || \
	  { DEBIAN_FRONTEND=noninteractive $(APT_GET) update -q >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q $$missing >/dev/null 2>&1; } || \
	  echo "warning: could not install$$missing (see docs/operations.md)" >&2; fi
endef

# Base install (no extras beyond PostgreSQL): enough for `gigawatt serve`.
$(BIN)/.installed-base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	touch $@ $(BIN)/.native

# Everything: CPU PyTorch first (so no CUDA wheels are pulled), then all extras.
$(BIN)/.installed-all: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(TORCH)'
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@ $(BIN)/.installed-base $(BIN)/.native

# The scheduler and the twin's event loop are compiled with mypyc at install (setup.py); after
# editing one of them, `make build` recompiles (until then the sources run: gigawatt/native.py).
NATIVE_SRC := $(wildcard src/gigawatt/scheduling/*.py) src/gigawatt/native.py setup.py \
  $(addprefix src/gigawatt/sim/,engine.py grid.py sketch.py stream.py)
$(BIN)/.native: $(NATIVE_SRC) | $(BIN)/.installed-base
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

build: $(BIN)/.native

# GIGAWATT_PORT / GIGAWATT_HOST (environment or `make run GIGAWATT_PORT=8080`) choose the address.
run: $(BIN)/.installed-base
	$(call need_debs,bwrap:bubblewrap)
	$(BIN)/gigawatt serve $(if $(GIGAWATT_PORT),--port $(GIGAWATT_PORT)) $(if $(GIGAWATT_HOST),--host $(GIGAWATT_HOST))

system-deps:
	$(call need_debs,bwrap:bubblewrap chromium:chromium)

test: $(BIN)/.installed-all system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup --durations=15

bench: $(BIN)/.installed-all $(BIN)/.native
	$(BIN)/python -m benchmarks.run

lint: $(BIN)/.installed-all
	$(BIN)/ruff check src tests benchmarks setup.py
	$(BIN)/ruff format --check src tests benchmarks setup.py
	$(BIN)/mypy

format: $(BIN)/.installed-all
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
