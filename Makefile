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

bench-quick: $(STAMP)
	$(BIN)/python -m bench.append --quick

demo: $(STAMP)
	@if $(BIN)/sitrep demo --help >/dev/null 2>&1; then $(BIN)/sitrep demo; \
	else echo "make demo: the bundled MSS Haiti demo arrives with the dashboard work (issue 6)." \
	     "Until then: make test, and the store's CLI ($(BIN)/sitrep --help)."; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
