# The front door: `make run` starts the product, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export MLOPS_LOG_JSON ?= false

.PHONY: help install install-test install-browser screenshots bench-first-prediction run test test-unit lint format migrate up down clean bench-automl bench-robustness

help:
	@echo "make run    - install and start everything in one process on http://localhost:8000"
	@echo "make test   - install test tools and run the whole test suite"
	@echo "make lint   - ruff + mypy;  make migrate - update the database;  make up - docker compose"
	@echo "make bench-automl BUDGETS='30 120' - our trainer against FLAML on 17 bundled datasets"
	@echo "make bench-first-prediction - seconds from a sample CSV to the first prediction, in Chromium"
	@echo "make bench-robustness - hostile files refused, other clients served, predictions shed"
	@echo "make screenshots - run the browser tests and refresh docs/screenshots"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(if $(NO_BROWSER),,install-browser)

# The browser tests drive Debian's Chromium: Playwright's own browser download is never used.
install-browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium >/dev/null; \
	  else \
	    echo "chromium not found: browser tests will be skipped (they fail with CI=true)"; \
	  fi; }

run: install
	$(BIN)/mlops migrate
	exec $(BIN)/mlops all

migrate: install
	$(BIN)/mlops migrate

test: install-test
	$(BIN)/pytest

test-unit: install-test
	$(BIN)/pytest tests/unit

lint: install-test
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy services

format: install-test
	$(BIN)/ruff format services tests bench
	$(BIN)/ruff check --fix services tests bench

# Run the browser tests and keep their screenshots as the README's current ones.
screenshots: install-test
	$(BIN)/pytest tests/browser -q
	mkdir -p docs/screenshots && cp tests/artifacts/screenshots/*.png docs/screenshots/

# A first-time user's wait, in the browser: bench/results/first_prediction.md.
bench-first-prediction: install-test
	$(BIN)/python -m bench.first_prediction

# Hostile files and prediction load shedding (issue 10): bench/results/robustness.md.
bench-robustness: install-test
	$(BIN)/python -m bench.robustness

# Side-by-side AutoML benchmark (bench/automl.py); results in bench/results/automl.{md,json}.
BUDGETS ?= 30 120
bench-automl: $(VENV)/.installed-bench
	$(BIN)/python -m bench.automl --budgets $(BUDGETS) \
		$(if $(DATASETS),--datasets $(DATASETS)) $(if $(METHODS),--methods $(METHODS))

up:
	docker compose up --build

down:
	docker compose down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
