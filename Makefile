# profilestore: `make serve` and `make test` work from a clean clone (they create .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= auto

.PHONY: serve test lint format bench-profiles-read bench-media-history clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "profilestore needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/profilestore db upgrade
	$(BIN)/profilestore serve --host $(HOST) --port $(PORT) --no-migrate

test: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-profiles-read: $(STAMP)
	$(BIN)/python bench/profiles_read.py

bench-media-history: $(STAMP)
	$(BIN)/python bench/media_history.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
