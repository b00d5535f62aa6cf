# Refinery — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup chromium demo lint test test-slow bench clean

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

# The report test renders report.html in headless Chromium: Debian's package (no browser download).
chromium:  ## install Debian's chromium if it is not on PATH (root or sudo)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "make: the report test needs Chromium: apt-get install chromium (as root)" >&2; exit 1; fi; \
	  $$sudo apt-get install -y -q --no-install-recommends chromium >/dev/null || { $$sudo apt-get update -q \
	  && $$sudo apt-get install -y -q --no-install-recommends chromium >/dev/null; }; }

test: lint chromium  ## lint, then the default test suite (what CI runs)
	$(PY) -m pytest -q

test-slow: setup  ## the slow tests too
	$(PY) -m pytest -q -m slow

clean:
	rm -rf out .pytest_cache
