# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-all bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/stockbank $(ARGS)

test: $(STAMP_TEST)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# Every contract suite on every store (make test runs a part of them on the stores that share repositories).
test-all: $(STAMP_TEST)
	STOCKBANK_FULL_MATRIX=1 $(MAKE) test

bench: $(STAMP_TEST)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
