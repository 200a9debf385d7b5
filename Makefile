PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint bench bench-quick demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -v

lint: $(STAMP)
	$(BIN)/ruff check sitrep events projections api tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.append
	$(BIN)/python -m bench.stall
	$(BIN)/python -m bench.faults
	$(BIN)/python -m bench.report

bench-quick: $(STAMP)
	$(BIN)/python -m bench.append --quick
	$(BIN)/python -m bench.stall --quick
	$(BIN)/python -m bench.faults --quick
	$(BIN)/python -m bench.report --quick

demo: $(STAMP)
	$(BIN)/sitrep demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
