# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck unit clean

$(BIN)/.installed: pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

## Start the embedded database, migrate, load reference + demo data, serve the API on 127.0.0.1:8080.
run: setup
	$(BIN)/warp db start
	$(BIN)/warp db migrate
	$(BIN)/warp db seed --demo
	$(BIN)/warp serve --host 127.0.0.1 --port 8080

## Lint, type-check and run the whole test suite against real PostgreSQL clusters.
test: setup lint typecheck unit

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -n 2 --dist loadfile

clean:
	-$(BIN)/warp db stop
	rm -rf $(VENV) .warp .mypy_cache .pytest_cache .ruff_cache
