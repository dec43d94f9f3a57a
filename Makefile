# VAM: `make run PHOTOS=~/Pictures` (embedded default) and `make test` (real Postgres and Redis).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PHOTOS ?=
CATALOG ?= var/catalog
NAME ?=
HOST ?= 127.0.0.1
PORT ?= 8000
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
TEST_DATABASE_URL ?= postgres://postgres@$(PG_HOST):$(PG_PORT)/vam
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# The tests keep their data apart from `make run`'s var/ (its library roots list, its SQLite database).
TEST_DATA_DIR ?= var/test-data
PYTEST_ARGS ?=

.PHONY: install dev run serve test services ffmpeg exiftool browser lint format clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("VAM needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	@test -n "$(PHOTOS)" || { echo "usage: make run PHOTOS=/path/to/photos"; exit 2; }
	@test -d "$(PHOTOS)" || { echo "PHOTOS=$(PHOTOS) is not a folder"; exit 2; }
	$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py ensure_admin
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py library_roots add "$(PHOTOS)" "$(CATALOG)" >/dev/null
	$(PY) manage.py analyze "$(CATALOG)" -s "$(PHOTOS)" $(if $(NAME),--name "$(NAME)",$(if $(wildcard $(CATALOG)),,--name "$(notdir $(abspath $(PHOTOS)))"))
	@$(MAKE) --no-print-directory serve

serve: install
	@echo "VAM: http://$(HOST):$(PORT)/ (log in as admin; Ctrl-C stops the server, \`make serve\` starts it again)"
	$(PY) manage.py serve $(HOST):$(PORT)

# Start Postgres and Redis when they are not reachable (Debian's pg_ctlcluster, redis-server), or fail clearly.
services:
	@reach() { timeout 2 bash -c "</dev/tcp/$$1/$$2" 2>/dev/null; }; \
	if ! reach $(PG_HOST) $(PG_PORT); then \
	  echo "PostgreSQL is not reachable at $(PG_HOST):$(PG_PORT); starting it"; \
	  command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start || true; \
	  for i in $$(seq 20); do reach $(PG_HOST) $(PG_PORT) && break; sleep 0.5; done; \
	  reach $(PG_HOST) $(PG_PORT) || { echo "error: PostgreSQL is not reachable at $(PG_HOST):$(PG_PORT) and could not be started"; exit 1; }; \
	fi; \
	if ! reach 127.0.0.1 6379; then \
	  echo "Redis is not reachable at 127.0.0.1:6379; starting it"; \
	  command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true; \
	  for i in $$(seq 20); do reach 127.0.0.1 6379 && break; sleep 0.5; done; \
	  reach 127.0.0.1 6379 || { echo "error: Redis is not reachable at 127.0.0.1:6379 and could not be started"; exit 1; }; \
	fi

# The video tests need ffmpeg (poster frames, ffprobe for .mts); install it from Debian's packages when root.
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing ffmpeg"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; \
	  else echo "error: the tests need ffmpeg and ffprobe: install ffmpeg (apt install ffmpeg)"; exit 1; fi; }

# ExifTool reads maker notes, XMP/IPTC and the RAW and camcorder formats Pillow and exifread cannot (optional at run
# time; the tests of those formats need it): install Debian's package when root.
exiftool:
	@command -v exiftool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing exiftool"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libimage-exiftool-perl >/dev/null; \
	  else echo "error: the tests need exiftool: install it (apt install libimage-exiftool-perl)"; exit 1; fi; }

# The browser test drives Debian's chromium through chromium-driver (never a browser a tool downloads itself).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	  else echo "error: the browser test needs Debian's chromium and chromium-driver (apt install chromium chromium-driver)"; exit 1; fi; }

test: $(VENV)/.dev-installed services ffmpeg exiftool browser
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-secret VAM_DATA_DIR=$(TEST_DATA_DIR) \
	  $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy catalog jobs vamsite

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
