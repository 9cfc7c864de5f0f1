# peerstudy: two commands on a fresh machine.
#   make report   set up .venv if needed and build the default report (reports/outpatient_default/)
#   make test     set up .venv if needed (and headless chromium) and run the tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= outpatient_default
PRESETS := outpatient_default ed_bridge moud_clinic cluster_randomised null_effect coach_clustered

.PHONY: venv test report data bench lab lock browser r-reference docs clean help

help:
	@echo "make report | make test | make venv | make docs | make data | make bench | make lab | make lock | make r-reference"

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name peerstudy --display-name "peerstudy (.venv)" >/dev/null
	touch $(STAMP)

# Headless chromium for the report browser test (Debian package; needs root or sudo on a fresh machine).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The tests, the docstring examples (--doctest-modules, in pyproject.toml) and the report notebooks run with their
# default parameters by nbval in the venv's python; loadfile keeps each notebook's cells (one kernel) in one worker.
test: venv browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --nbval-lax --nbval-current-env tests src/peerstudy

# compileall: kernels import the package from byte code even where PYTHONDONTWRITEBYTECODE is set
report: venv
	$(BIN)/python -m compileall -q src/peerstudy >/dev/null
	$(BIN)/peerstudy report --scenario $(SCENARIO)

data: venv
	$(BIN)/python -m peerstudy.make_data data/synthetic

bench: venv
	$(BIN)/python benchmarks/run.py --out benchmarks/results.json

lab: venv
	$(BIN)/jupyter lab --notebook-dir=notebooks

# The documentation site (docs/_build/html/index.html); any Sphinx warning fails the build.
docs: venv
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# Re-resolve the pins from requirements.in (then copy the direct pins into environment.yml; a test checks they agree).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock && rm -rf .lock-venv
	$(PYTHON) tools/sync_environment.py

# Regenerate the stored R reference outputs (R packages per script: README, "What you can trust").
r-reference:
	cd tests/reference && for f in *.R; do Rscript --vanilla $$f; done

clean:
	rm -rf $(VENV) .pytest_cache .wheel-cache
