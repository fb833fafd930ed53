# liaison-bot: `make demo` runs the offline demo, `make test` runs every check.
# Both create .venv with the pinned versions in constraints.txt on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck pytest bench bench-scale test-scale clean lock

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/liaison-bot demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^liaison-bot' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# A country's roster (1,000, 10,000 and 100,000 units) on SQLite and PostgreSQL: see bench/scale.py.
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

# The tests of a country's roster (more rows than a statement's 32,767 parameters), on PostgreSQL.
test-scale: $(STAMP)
	SCALE_TESTS=1 scripts/with-postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider -m scale
