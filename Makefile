# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test install install-dev lint migrate worker beat web bench bench-inbound bench-outbound bench-broker \
	bench-bulk-compiler bench-reports bench-scale-out \
	clean messages compilemessages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

## run: install, migrate, create the demo admin and sandbox accounts, start web + worker + beat
## (EMULATOR=1: also emulated TeleSign, Twilio and ACS accounts, served by the provider emulator; ACS over its
## HTTPS port 8026, whose self-signed certificate the hub trusts)
ifdef EMULATOR
run: export TWILIO_API_URL = http://127.0.0.1:8025
run: export TELESIGN_API_URL = http://127.0.0.1:8025
run: export PROVIDER_CA_BUNDLE = $(CURDIR)/var/emulator-tls/cert.pem
run: export ACS_ENDPOINT_HOSTS = 127.0.0.1
# Customer media comes from the emulator on this machine: let outbound fetches reach loopback (config/egress.py).
run: export EGRESS_ALLOWED_NETWORKS = 127.0.0.0/8
endif
run: migrate
	$(PY) manage.py setup_demo --no-banner $(if $(EMULATOR),--emulator)
	$(PY) manage.py run_hub $(if $(EMULATOR),--emulator)

# Browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests are skipped until then)"; \
	fi
# A font with Chinese and Japanese characters, so that the browser tests' screenshots show them.
CJK_FONT ?= /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
$(CJK_FONT):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei; \
	else \
	  echo "No CJK font: run 'sudo apt-get install fonts-wqy-microhei' (screenshots show boxes for Chinese and Japanese)"; \
	fi

## test: install what the tests need (Python packages, Debian's Chromium, a CJK font, GNU gettext) and run
## the whole suite: unit and browser tests in two processes, then the tests with real worker processes one
## at a time (they share the broker's queues)
test: install-dev $(CHROMIUM) $(CJK_FONT) /usr/bin/xgettext
	$(PY) -m pytest -n 2 -m "not integration and not e2e" $(PYTEST_ARGS)
	$(PY) -m pytest -m "integration or e2e" $(PYTEST_ARGS) || [ $$? -eq 5 ]

## bench: every benchmark (PostgreSQL and Redis on 127.0.0.1, wrk from Debian); results in docs/benchmarks.md
/usr/bin/wrk:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

bench: bench-inbound bench-outbound bench-reports

bench-inbound: install-dev /usr/bin/wrk
	$(PY) -m bench.inbound

bench-outbound: install-dev /usr/bin/wrk
	$(PY) -m bench.outbound

## bench-scale-out: webhooks/s per web process (1, 2, 4) and messages/s per worker process (1, 2)
bench-scale-out: install-dev /usr/bin/wrk
	$(PY) -m bench.scale_out $(BENCH_ARGS)

## bench-bulk-compiler: bulk inserts as VALUES rows (the former custom compiler, kept in the benchmark) against Django's UNNEST
bench-bulk-compiler: install-dev
	$(PY) -m bench.bulk_compiler

## bench-reports: a seeded month of 1M messages (PostgreSQL on 127.0.0.1), every report page timed
bench-reports: install-dev
	$(PY) -m bench.reports $(BENCH_ARGS)

## bench-broker: the embedded brokers compared (install SQLAlchemy to include kombu's SQLAlchemy transport)
bench-broker: install-dev
	$(PY) -m bench.broker

lint: install-dev
	$(VENV)/bin/ruff check .

## messages: extract every marked string (Python and templates: django.po; the console's JavaScript:
## djangojs.po) into locale/<language>/LC_MESSAGES for each language; then translate the new entries
## (docs/i18n/README.md) and run `make compilemessages`. Needs GNU gettext.
LOCALES := zh_Hans zh_Hant ja pt_BR sv
MESSAGES_OPTIONS := $(foreach l,$(LOCALES),-l $(l)) -i .venv -i tests -i bench -i devtools -i var -i staticfiles \
	--no-obsolete --no-wrap --add-location=file
# GNU gettext: `make messages` and `make compilemessages` need it, and a test checks the catalogues
# against the code with it (skipped without it).
/usr/bin/xgettext /usr/bin/msgfmt:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext; \
	else \
	  echo "GNU gettext is missing: run 'sudo apt-get install gettext'"; \
	fi

messages: install /usr/bin/xgettext
	$(PY) manage.py makemessages -d django -e html,txt,py $(MESSAGES_OPTIONS)
	$(PY) manage.py makemessages -d djangojs -e js $(MESSAGES_OPTIONS)

## compilemessages: the .po catalogues → the .mo files Django reads. Both are committed, so a fresh clone
## shows translated pages without gettext; a test fails when a .mo is not compiled from its .po.
compilemessages: install /usr/bin/msgfmt
	$(PY) manage.py compilemessages -i .venv -i var -i staticfiles

web: migrate
	$(PY) manage.py runserver

worker: install
	$(VENV)/bin/celery -A config worker -l INFO

beat: install
	$(VENV)/bin/celery -A config beat -l INFO

clean:
	rm -rf var/ .pytest_cache
