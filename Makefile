# Developer commands. `make test` and `make demo` are the two a newcomer needs; both create
# .venv with python3 (3.11 or newer) and install the package into it on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
TOX_ARGS ?=

# pyenv's shims answer `python3.12`/`python3.13` only for the selected versions. When pyenv
# is present and PYENV_VERSION unset, select every installed CPython 3.11+ (newest patch of
# each, oldest minor first so `python3` stays the oldest) so tox finds all its interpreters.
ifeq ($(origin PYENV_VERSION),undefined)
PYENV_ALL := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null \
	| grep -E '^3\.1[1-9]\.[0-9]+$$' | sort -V \
	| awk -F. '{ last[$$1"."$$2] = $$0; if (!seen[$$1"."$$2]++) order[++n] = $$1"."$$2 } \
	           END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? ":" : ""), last[order[i]] }')
TOX_ENV := $(if $(PYENV_ALL),PYENV_VERSION=$(PYENV_ALL),)
endif

.PHONY: help install test lint lint-ruff lint-format lint-migrations lint-mypy demo tox docs mutate clean

help:
	@echo "make test    run the test suite (PYTEST_ARGS='-k name' to select)"
	@echo "make lint    ruff check, ruff format --check, makemigrations --check, mypy"
	@echo "make demo    the example project: simulator, Celery worker + beat, dev server, 3 sample calls"
	@echo "make tox     run the tox matrix (TOX_ARGS='-e py312-django60' to pick envs)"
	@echo "make docs    build the documentation site into site/ (mkdocs build --strict)"
	@echo "make mutate  mutation testing of the rule modules (MODULE=phone for one, JOBS=2 in parallel)"
	@echo "make clean   remove the virtualenv, tox envs, caches and the demo database"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(PYTHON) is $$($(PYTHON) --version 2>&1); Python 3.11 or newer is needed" \
		     "(run: make PYTHON=python3.11 ...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml (the dependency list) is newer than the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --editable '.[test,lint,browser]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# `make -k lint` runs every check and reports all failures (.ci/run does that).
lint: lint-ruff lint-format lint-migrations lint-mypy

lint-ruff: $(STAMP)
	$(BIN)/ruff check .

lint-format: $(STAMP)
	$(BIN)/ruff format --check .

# The labels are named because makemigrations skips an app that has no migrations package, so
# a missing initial migration would otherwise pass unnoticed.
lint-migrations: $(STAMP)
	$(BIN)/python example_project/manage.py makemigrations --check --dry-run esms_voice shop

lint-mypy: $(STAMP)
	$(BIN)/mypy django_esms_voice

# The demo: SQLite, an embedded Celery broker (a folder), the simulator; Ctrl-C stops it all.
# `$(BIN)/python example_project/demo.py --help` lists its options (ports, data folder, --check).
demo: $(STAMP)
	$(BIN)/python example_project/demo.py

$(BIN)/tox: | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet 'tox>=4.20'

tox: $(BIN)/tox
	$(TOX_ENV) $(BIN)/tox $(TOX_ARGS)

# The documentation site (mkdocs.yml, docs/): MkDocs from the `docs` extra, installed into .venv
# on first use; every warning (a broken link or anchor, a page missing from nav) is an error.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --editable '.[docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict -d site

# Mutation testing (mutation/run.py, docs/testing.md): Cosmic Ray from the `mutate` extra,
# installed into .venv on first use. Slow (minutes a module), so neither CI nor `make test` runs it.
MUTATE_STAMP := $(VENV)/.mutate-installed
MODULE ?=
JOBS ?= 1
$(MUTATE_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --editable '.[mutate]'
	@touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(BIN)/python mutation/run.py --jobs $(JOBS) $(MODULE)

clean:
	rm -rf $(VENV) .tox .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	rm -rf example_project/db.sqlite3 example_project/db.sqlite3-* example_project/.broker site test-artifacts
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
