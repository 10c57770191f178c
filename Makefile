# Two commands for a fresh clone:  `make run` (app with demo data)  and  `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint system-deps bench bench-quick

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app-installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.app-installed

# Chromium (browser tests), Noto CJK (Chinese in charts) and nginx (the reverse proxy in
# front of gunicorn, tests/hostile/test_slow_clients.py), from Debian's packages.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || [ ! -x /usr/sbin/nginx ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk nginx; \
	fi

run: $(VENV)/.app-installed
	$(BIN)/flask --app app init-db
	$(BIN)/flask --app app demo
	$(BIN)/flask --app app run --host 127.0.0.1 --port 5000

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

test: $(VENV)/.dev-installed system-deps
	$(BIN)/ruff check .
	$(BIN)/python benchmarks/run_all.py --quick
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

bench-quick: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/run_all.py --quick

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/run_all.py
