# liaison-bot: `make demo` runs the offline demo, `make test` runs every check.
# Both create .venv with the pinned versions in constraints.txt on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo guide test test-resilience test-scale fuzz lint typecheck pytest bench bench-smoke bench-scale crash faults clean lock

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/liaison-bot demo

# The guide's pictures (docs/images/guide/), drawn from real conversations with the bot.
guide: $(STAMP)
	$(BIN)/python scripts/guide_pictures.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite in two processes (pytest-xdist), one a core: much of it waits on the bot's process,
# the emulator or PostgreSQL. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2

pytest: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

test: lint typecheck pytest

# The slow robustness tests: SIGTERM mid-send, a second poller, PostgreSQL stopped and started.
test-resilience: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider -m resilience

# The property tests in full: any update from anyone in every conversation state (>10,000
# updates), and random updates in every registration step. `make test` runs a few examples.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=150 $(BIN)/python -m pytest -q -p no:cacheprovider -k "not postgres" \
		tests/handlers/test_any_update.py tests/handlers/test_registration_properties.py

# Every benchmark (HTTP client, throughput, broadcast pacing) on SQLite and PostgreSQL.
bench: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m bench

# A short throughput run for CI: a small burst and mix, one round, on SQLite.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.throughput --burst 200 --people 40 --rounds 1 --databases sqlite

# 20 trials of kill -9 during a broadcast of 1,000 and during conversations.
crash: $(STAMP)
	$(BIN)/python -m bench.crash

# 10% of Bot API calls failing at random while reminders and a notice go out.
faults: $(STAMP)
	$(BIN)/python -m bench.faults

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^liaison-bot' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# A country's roster (1,000, 10,000 and 100,000 units) on SQLite and PostgreSQL: see bench/scale.py.
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

# The tests of a country's roster (more rows than a statement's 32,767 parameters), on PostgreSQL.
test-scale: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python -m pytest -q -p no:cacheprovider -m scale
