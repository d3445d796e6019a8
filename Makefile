# `make run` and `make test` are the two commands of the README; `make lint` is CI's first step.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
REDIS_SERVER ?= /usr/bin/redis-server
# One pytest worker per core, at most four: each starts its own server processes and redis-server.
PYTEST_ARGS ?= --numprocesses auto --maxprocesses 4
CHROMIUM_PATH ?= /usr/bin/chromium
NGINX_PATH ?= /usr/sbin/nginx

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: run test lint redis-server chromium nginx
run: $(VENV)/.runtime
	$(PY) manage.py quickstart

# Exit status 5 means pytest collected no tests: never a pass, so say so instead of a bare "Error 5".
test: $(VENV)/.dev redis-server chromium nginx
	@echo "$(PY) -m pytest $(PYTEST_ARGS)"
	@$(PY) -m pytest $(PYTEST_ARGS) || { status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (PYTEST_ARGS='$(PYTEST_ARGS)')" >&2; fi; \
	  exit $$status; }

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The tests that use a Redis channel layer start a throwaway redis-server of their own (tests/redis_server.py),
# unless REDIS_URL names a running one. Only installs when it is missing.
redis-server:
	@if [ -z "$$REDIS_URL" ] && ! command -v redis-server >/dev/null && [ ! -x $(REDIS_SERVER) ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "make test needs redis-server (the Redis tests start their own): install Debian's package," \
	         "e.g. 'sudo apt-get install redis-server', or set REDIS_URL to a running Redis." >&2; \
	    exit 1; \
	  fi; \
	  echo "Installing redis-server (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

# The browser tests (tests/browser.py, marker `browser`) drive Debian's chromium through Playwright:
# Playwright's own browser download is not reachable here. Only installs when it is missing.
chromium:
	@if [ ! -x "$(CHROMIUM_PATH)" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "make test needs Debian's chromium for the browser tests: e.g. 'sudo apt-get install chromium'," \
	         "or set CHROMIUM_PATH to a Chromium; deselect them with PYTEST_ARGS='-m \"not browser\"'." >&2; \
	    exit 1; \
	  fi; \
	  echo "Installing chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The deploy tests (tests/deploy/) run `nginx -t` on deploy/nginx.conf and serve it in front of the
# server with Debian's nginx, as a site does. Only installs when it is missing; they fail, never skip, without it.
nginx:
	@if [ ! -x "$(NGINX_PATH)" ] || ! command -v openssl >/dev/null; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "make test needs Debian's nginx and openssl for the deploy tests: e.g. 'sudo apt-get install nginx openssl'," \
	         "or set NGINX_PATH to an nginx binary." >&2; \
	    exit 1; \
	  fi; \
	  echo "Installing nginx and openssl (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl >/dev/null; \
	fi
