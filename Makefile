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

# Chromium (browser tests), Noto CJK (Chinese in charts), nginx (the reverse proxy in
# front of gunicorn, tests/hostile/test_slow_clients.py), LibreOffice Writer and poppler
# (tests/test_word_report.py renders the Word report to PDF and PNG pages), from Debian's
# packages; apt-get runs only when one of them is missing.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || [ ! -x /usr/sbin/nginx ] \
		|| ! command -v soffice >/dev/null || ! command -v pdftoppm >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk nginx \
			libreoffice-writer-nogui poppler-utils; \
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
