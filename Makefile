# Two commands matter: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
LOCK_FLAGS := --python-version 3.11 --no-header --no-annotate -q

.PHONY: demo test lint typecheck stack-up stack-down stack-status bench chaos clean chromium prometheus venv lock

# Every install is exactly what a lock pins, hashes checked. uv (its own pin in
# requirements-uv.lock, the dev lock's) installs the locks in seconds where pip takes a minute.
$(UV): requirements-uv.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements-uv.lock
	touch $(UV)

# what the product runs (the demo needs no more): requirements.lock, then ordersync itself
$(RUNTIME): $(UV) pyproject.toml requirements.lock
	$(UV) pip install -q --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $(RUNTIME)

# and the development tools, for make test
$(STAMP): $(RUNTIME) requirements-dev.lock
	$(UV) pip install -q --python $(BIN)/python --require-hashes -r requirements-dev.lock
	touch $(STAMP)

venv: $(STAMP)

# upgrades the pins on purpose: review the diff, then make test
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --upgrade $(LOCK_FLAGS) -o lock.new
	head -3 requirements.lock > lock.head && cat lock.head lock.new > requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements.lock --generate-hashes \
		--upgrade $(LOCK_FLAGS) -o lock.new
	head -2 requirements-dev.lock > lock.head && cat lock.head lock.new > requirements-dev.lock
	head -2 requirements-uv.lock > lock.head
	awk '/^uv==/{p=1} p{print} p && !/\\$$/{exit}' requirements-dev.lock > lock.new
	cat lock.head lock.new > requirements-uv.lock
	rm lock.head lock.new

demo: $(RUNTIME)
	$(BIN)/ordersync demo

# the report page's browser test drives Debian's Chromium (Playwright's own download is not used)
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# the alert rules' tests run Debian's promtool, the monitoring test its Prometheus (2.42);
# where the package cannot be installed those tests skip and say why
prometheus:
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
		|| echo "Debian's prometheus package could not be installed: the monitoring tests skip"

test: $(STAMP) chromium prometheus
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -ra

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

stack-up: $(STAMP)
	$(BIN)/ordersync stack up

stack-down: $(STAMP)
	$(BIN)/ordersync stack down

stack-status: $(STAMP)
	$(BIN)/ordersync stack status

# BENCH_QUICK=1 for a short run, BENCH_ONLY=uniform1,... for some scenarios, BENCH_PORT_BASE
# for a stack beside another's; results in bench/results/latest.json and latest.md
# (latest-quick.md, latest-partial.md for the others)
bench: $(STAMP)
	$(BIN)/python -m bench.run

# CHAOS_QUICK=1 for a short run; results in chaos/results/latest.json
chaos: $(STAMP)
	$(BIN)/python -m chaos.run

clean:
	-$(BIN)/ordersync stack down
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
