# Refinery — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo lint test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps 'datasets==2.19.2' 'multiprocess==0.70.16'  # see pyproject [test]
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: setup  ## refine the bundled sample corpus into out/demo and summarise it
	$(VENV)/bin/refinery run --input 'examples/sample/*' --output out/demo --overwrite
	$(VENV)/bin/refinery inspect out/demo

lint: setup  ## ruff over the whole repository ([tool.ruff] in pyproject.toml)
	$(VENV)/bin/ruff check .

test: lint  ## lint, then the default test suite (what CI runs)
	$(PY) -m pytest -q

test-slow: setup  ## the slow tests too
	$(PY) -m pytest -q -m slow

clean:
	rm -rf out .pytest_cache
