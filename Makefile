# `make run` and `make test` are the two commands of the README.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: run test
run: $(VENV)/.runtime
	$(PY) manage.py quickstart

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)
