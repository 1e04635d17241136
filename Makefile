# Solidarity: two commands. `make dev` runs the system with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test install kafka kafka-stop browser bench drills screenshots clean help

help:
	@echo "make dev    - set up, start Kafka + sandbox + worker with demo data (Ctrl-C stops all)"
	@echo "make test   - set up, then run the whole test suite against a real Kafka broker"
	@echo "make bench  - benchmarks (see BENCHMARKS.md)"
	@echo "make drills - full-size fault drills; make screenshots - refresh the screenshots in docs/"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

kafka:
	@$(PYTHON) deploy/kafka/broker.py start >/dev/null

kafka-stop:
	@$(PYTHON) deploy/kafka/broker.py stop

dev: install
	@bash scripts/dev.sh

test: install
	@bash scripts/test.sh

screenshots: install
	@SOLIDARITY_SCREENSHOTS=$(CURDIR)/docs bash scripts/test.sh tests/e2e

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis

bench: install
	@$(BIN)/pip install -q -e ".[test,bench]"
	@$(PYTHON) deploy/kafka/broker.py start >/dev/null
	$(BIN)/python -m bench pipeline fanout latency escalation memory restart scaling $(BENCH_ARGS)

drills: install
	@$(PYTHON) deploy/kafka/broker.py start >/dev/null
	$(BIN)/python -m bench drills $(DRILL_ARGS)
