# deribit-ingest: the two commands of the README are `make up` and `make test`.
# Everything else is installed by these targets (a Python venv, the pinned npm package).

PYTHON    ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
INGEST    := $(BIN)/ingest
DB_PORT   ?= 55432
DB_DATA   ?= .data/pg
SIM_PORT  ?= 8765
BG        := scripts/bg.sh
NATIVE    := scripts/native-timescaledb.sh
NATIVE_DATA ?= .data/native
export INGEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:$(DB_PORT)/postgres

DOCKER_OK := $(shell docker info >/dev/null 2>&1 && echo yes)
# The database `make up` / `make db` start without Docker: a native cluster in $(NATIVE_DATA) when a
# TimescaleDB >= 2.23 with its TSL features is installed on the machine (Timescale's packages) or built in
# .native/ (make native), else the embedded server. `make up ENGINE=embedded` chooses the embedded one.
ifndef ENGINE
ENGINE := $(shell $(NATIVE) detect >/dev/null 2>&1 && echo native || echo embedded)
endif

.PHONY: help install install-browser test test-fast test-native native bench-native up down db db-stop migrate status bench lint schema-snapshot demo demo-down clean

help:
	@echo "make up      start the stack (compose if Docker answers; else a native TimescaleDB if one is installed,"
	@echo "             else the embedded one; then migrations + ingest run). This machine: $(ENGINE)"
	@echo "make down    stop what make up started"
	@echo "make test    run the whole test suite: unit, integration, e2e (installs everything first; CI)"
	@echo "             on the embedded server; the tests marked native are deselected (-m 'not native')"
	@echo "make test-native  the whole suite, native tests included, on a throw-away native TimescaleDB"
	@echo "             (built from ../shared/timescaledb into .native/ unless 2.23.0 is installed; CI)"
	@echo "make test-fast  unit and integration tiers only (no whole-process wall-clock tests)"
	@echo "make native  build (or find) the native TimescaleDB only"
	@echo "make db      start only the database (native: $(NATIVE_DATA); embedded: .run/db.pid, .run/db.log)"
	@echo "make migrate alembic upgrade head on INGEST_DATABASE_URL"
	@echo "make demo    the whole stack offline against the simulated exchange"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make bench-native  backfill, SQL and analytics benchmarks on the embedded and a native engine, side by side"
	@echo "make lint    ruff and mypy"
	@echo "make schema-snapshot  regenerate migrations/schema_snapshot.json (head's schema) after a new revision"
	@echo "make backup  ingest db backup of INGEST_DATABASE_URL into .data/backups (docs/operations.md)"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

ingest/embedded/node_modules/.installed: ingest/embedded/package-lock.json
	cd ingest/embedded && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(BIN)/.installed ingest/embedded/node_modules/.installed

# the report tests open the page in Debian's chromium, headless (tests/test_report_chromium.py): installed
# here when missing and we are root (CI), else say how
install-browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the report tests need Debian's chromium: sudo apt-get install chromium"; exit 1; }

# tests marked `native` need real concurrency or background workers: deselected here, run by test-native
test: install install-browser
	$(BIN)/pytest -q -m "not native"

test-fast: install install-browser
	$(BIN)/pytest -q -m "(unit or integration) and not native"

# the whole suite on a native cluster that the run owns (port, data, socket under .native/test; stopped
# and removed at the end, failure or not)
test-native: install install-browser
	$(NATIVE) test $(BIN)/pytest -q

native:
	@$(NATIVE) build

# tests/test_systemd_units.py runs systemd-analyze (no systemd as PID 1 needed): Debian's systemd package,
# installed when missing and we are root (CI), else say how
.PHONY: system-tools backup
system-tools:
	@command -v systemd-analyze >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null; } || \
	  { echo "the unit-file tests need systemd-analyze: sudo apt-get install systemd"; exit 1; }
test test-fast test-native: system-tools

# a pg_dump -Fc archive of INGEST_DATABASE_URL (pg_dump must be of the server's major version or later)
backup: install
	$(INGEST) db backup

lint: install
	$(BIN)/ruff check ingest tests migrations benchmarks
	$(BIN)/mypy

schema-snapshot: install
	$(BIN)/python -m ingest.storage.schema snapshot

db: install
ifeq ($(ENGINE),native)
	@$(NATIVE) start $(NATIVE_DATA) $(DB_PORT)
else
	@$(BG) start db $(INGEST) db serve --embedded --port $(DB_PORT) --data $(DB_DATA)
endif
	@$(INGEST) db wait --timeout 90

db-stop:
	@$(BG) stop db
	@if [ -d $(NATIVE_DATA) ]; then $(NATIVE) stop $(NATIVE_DATA); fi

migrate: install
	$(INGEST) db upgrade

status: install
	$(INGEST) db status

ifeq ($(DOCKER_OK),yes)
up:
	docker compose up -d --build
down:
	docker compose down
else
up: db migrate
	@$(BG) start ingest $(INGEST) run
	@$(INGEST) db status
down:
	@$(BG) stop ingest
	@$(MAKE) --no-print-directory db-stop
endif

demo: install
	@$(BG) start demo-db $(INGEST) db serve --embedded --port $(DB_PORT) --data .data/demo
	@$(INGEST) db wait --timeout 90
	$(INGEST) db upgrade
	@$(BG) start demo-sim $(INGEST) sim --port $(SIM_PORT)
	@DERIBIT_API_URL=http://127.0.0.1:$(SIM_PORT)/api/v2 \
	 DERIBIT_HISTORY_URL=http://127.0.0.1:$(SIM_PORT)/history/api/v2 \
	 $(BG) start demo-run $(INGEST) run
	@echo "demo running: make demo-down stops it"

demo-down:
	@$(BG) stop demo-run; $(BG) stop demo-sim; $(BG) stop demo-db

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# the backfill, SQL and analytics benchmarks on the embedded server and on a native cluster started for the
# run (.native/bench), side by side (benchmarks/compare_engines.py)
bench-native: install
	$(BIN)/python benchmarks/compare_engines.py --start-native

clean: down
	rm -rf .run .data
