# Two commands on a fresh machine: `make run` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# Without sign-in configured ([auth] in .streamlit/secrets.toml) the app is for the person at
# this machine: it listens on localhost only.
ADDRESS ?= $(shell grep -qs '^\[auth\]' .streamlit/secrets.toml && echo 0.0.0.0 || echo localhost)

# What the app needs from the system (Debian's packages): Pango and a CJK font for the review
# report's PDF (Chinese names printed as text, the font embedded).
RUN_PACKAGES := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
# What the tests need besides: Chromium and its driver for the browser tests (the CJK font so
# screenshots show Chinese), Java 17 for the local Spark session, poppler-utils to look at the PDFs,
# HAProxy for the team's proxy (make team).
SYSTEM_PACKAGES := $(RUN_PACKAGES) chromium chromium-driver openjdk-17-jre-headless poppler-utils haproxy
# Tests in three workers on the two cores (much of a browser or app test is waiting), a test file
# to a worker (a file's app, browser and Spark session are started once, on its worker).
# Measured on a fresh clone, 2026-12-07: -n 2 18:37, -n 3 18:16, -n 4 19:51 (installs included);
# 2026-12-08, -n 3: 30:06 with the round's features, the cores busy 88% of the run (CPU-bound)
PYTEST_PARALLEL ?= -n 3 --dist loadfile

.PHONY: run team test check setup dev system system-for-run system-for-team system-for-tests bench browser java docs clean

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
run: setup system-for-run
	@$(BIN)/python -m ui.auth  # sign-in configured but unusable (e.g. the sample cookie secret): refuse to start
	$(BIN)/python -m kam_analytics datasets > /dev/null
	@if [ "$(ADDRESS)" = "localhost" ]; then echo "No sign-in configured ([auth] in .streamlit/secrets.toml): serving on localhost only."; fi
	$(BIN)/python -m ui.serve --server.port $(PORT) --server.address $(ADDRESS)

## make team REPLICAS=N PORT=P: N app processes on the store behind HAProxy on PORT (sticky by
## cookie, WebSockets, health checks; a replica that exits is started again; Ctrl-C stops all)
REPLICAS ?= 2
team: setup system-for-run system-for-team
	@$(BIN)/python -m ui.auth
	$(BIN)/python -m kam_analytics datasets > /dev/null
	$(BIN)/python -m ui.team --replicas $(REPLICAS) --port $(PORT) --address $(ADDRESS)

## (as root, installs HAProxy when missing; otherwise says how)
system-for-team:
	@if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
	  echo "Installing HAProxy for make team"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else \
	  echo "HAProxy is missing: install it with sudo apt-get install haproxy (or sudo make system)"; exit 1; \
	fi

## make test: set up and run every test. As root it first installs the system packages the tests
## need (SYSTEM_PACKAGES); otherwise it names the tests it will skip and the command that installs them.
test: dev system-for-tests
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

## make check: the edit-and-test loop — the library, the command line and every page through
## AppTest; no browser, Spark or proxy (about 2 minutes)
check: dev
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m "not browser and not spark and not slow"

## make system: install SYSTEM_PACKAGES with apt-get (root)
system:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null

## (as root, installs RUN_PACKAGES when missing; otherwise says what the PDF report will lack)
system-for-run:
	@missing="$$(for p in $(RUN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
	  echo "Installing what the review report needs: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RUN_PACKAGES) >/dev/null; \
	else \
	  echo "Missing system packages: $$missing — the review report (PDF) is refused until they are installed: sudo make system"; \
	fi

system-for-tests:
	@missing="$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done)"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
	  echo "Installing the system packages the tests need: $$missing"; \
	  $(MAKE) --no-print-directory system; \
	else \
	  echo "Missing system packages: $$missing"; \
	  echo "  without chromium/chromium-driver the browser tests are skipped; without openjdk-17-jre-headless the Spark tests are skipped; without haproxy the team test is skipped;"; \
	  echo "  install them with: sudo make system"; \
	fi

## make browser / make java: only Chromium (browser tests) or only Java 17 (local Spark) (root)
browser:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk

java:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless

## make bench: the performance benchmarks (not part of make test): library timings, every page
## in the browser at 1M and 10M lines, what each part of a page costs a new tab, and N sessions at once
bench: dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/front_end.py
	$(BIN)/python bench/sessions.py

## make docs: write the command summary in README.md and docs/cli.md from the command-line parser
docs: setup
	$(BIN)/python -m kam_analytics.readme

clean:
	rm -rf $(VENV) .pytest_cache
