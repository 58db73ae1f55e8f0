# Two commands on a fresh machine: `make run` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# Without sign-in configured ([auth] in .streamlit/secrets.toml) the app is for the person at
# this machine: it listens on localhost only.
ADDRESS ?= $(shell grep -qs '^\[auth\]' .streamlit/secrets.toml && echo 0.0.0.0 || echo localhost)

.PHONY: run test setup dev bench browser java docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

dev: $(VENV)/.dev-installed

## make run: set up, seed the demo store on first run, start the app
run: setup
	@$(BIN)/python -m ui.auth  # sign-in configured but unusable (e.g. the sample cookie secret): refuse to start
	$(BIN)/python -m kam_analytics datasets > /dev/null
	@if [ "$(ADDRESS)" = "localhost" ]; then echo "No sign-in configured ([auth] in .streamlit/secrets.toml): serving on localhost only."; fi
	$(BIN)/python -m ui.serve --server.port $(PORT) --server.address $(ADDRESS)

## make test: set up and run every test (browser tests need Debian's chromium; see `make browser`)
test: dev
	$(BIN)/python -m pytest -q

## make browser: install Debian's chromium and chromium-driver for the browser tests (root)
browser:
	apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-cjk

## make java: install Java 17 for local Spark sessions (the Spark tests, `attach --engine spark`) (root)
java:
	apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless

## make bench: the performance benchmarks (not part of make test): library timings, every page
## in the browser at 1M and 10M lines, what each part of a page costs a new tab, and N sessions at once
bench: dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/front_end.py
	$(BIN)/python bench/sessions.py

## make docs: write the command summary in README.md from the command-line parser
docs: setup
	$(BIN)/python -m kam_analytics.readme

clean:
	rm -rf $(VENV) .pytest_cache
