# The two commands of the README. Both create the virtual environment on first use.
#   make demo   - the whole pipeline on the embedded synthetic data set
#   make test   - the default test suite (what CI runs); `make test-slow` runs the slow tests: cub100 checks, slow fault cases
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow env

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[export,dev]'
	touch $@

env: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/fgvc-mobile demo --out runs/demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow
