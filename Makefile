# Breakwater developer commands. Both main commands work from a fresh clone:
# they create .venv, install, and start embedded PostgreSQL/Redis when
# DATABASE_URL / REDIS_URL are unset.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format static bench check-compose clean soak fuzz

# setuptools is upgraded too: the one a new venv brings (65.5) has published advisories, and
# make static audits this environment.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $(STAMP)

## make run: the demo / development stack on http://127.0.0.1:$${PORT:-8000}/
run: $(STAMP)
	exec $(BIN)/python scripts/run.py

## make test: the whole test suite against real PostgreSQL and Redis
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

## make static: ruff, bandit, mypy and the dependency audit, timed (docs/security.md)
static: $(STAMP)
	$(BIN)/python scripts/static_checks.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --editable ".[dev,bench]"
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

## make fuzz: the API fuzz tests (tests/fuzz) with 1000 examples per operation (FUZZ_MAX_EXAMPLES;
## CI runs 10); FUZZ_SEED=<n> for other data (docs/testing.md)
fuzz: $(STAMP)
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-1000} $(BIN)/python -m pytest tests/fuzz -o timeout=0 -s $(PYTEST_ARGS)

## make soak: 10 minutes (SOAK_SECONDS) of mixed load on the real stack; not part of CI
soak: $(STAMP)
	$(BIN)/python scripts/soak.py

check-compose:
	docker-compose -f docker/compose.yaml config -q

clean:
	rm -rf $(VENV) .local staticfiles
