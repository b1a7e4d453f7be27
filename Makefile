# The two commands of the README's Quick start, and the steps behind them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-reference lint install services

serve: $(STAMP)
	$(BIN)/scandepot serve

# One test worker more than cores: a third of the run waits on disks, databases and peers.
# Then the tests over the network again, through a scaled-out deployment (docs/operations.md,
# "Testing a scaled-out deployment").
test: $(STAMP) services lint
	$(BIN)/pytest -n $$(( $$(nproc) + 1 ))
	$(BIN)/pytest -n $$(( $$(nproc) + 1 )) --through-deployment

# Checks against reference files that are not ours to ship, found by the paths their tests
# name (docs/deid-ctp.md); the last -m wins over the default's "not reference".
test-reference: $(STAMP)
	$(BIN)/pytest -n 0 -m reference

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh scripts/fetch-viewer.sh
	PYTHON=$(PYTHON) scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

services:
	scripts/ensure-services.sh
