# Everything a fresh machine needs: `make run` (the demo pipeline) and `make test`.
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
PORT      ?= 3000

export DAGSTER_HOME := $(CURDIR)/dagster_home
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install prepare run run-quick lint test test-all ui validate bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	# torch first and pinned: an open range would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(STAMP)

# Parse the dbt project into target/manifest.json (dagster-dbt reads it; never done at import).
prepare: install
	$(PY) -m ecom_assets.cli prepare

# Real Chinese ad copy (AdvertiseGen) for the copy generator, where the shared public data
# sits beside the project; the demo runs without it elsewhere.
ADVERTISEGEN ?= ../shared/data/advertisegen/advertisegen_sample.jsonl
COPY_EXAMPLES := $(if $(wildcard $(ADVERTISEGEN)),--copy-examples $(ADVERTISEGEN))

run: prepare
	$(PY) -m ecom_assets.cli run $(COPY_EXAMPLES)

run-quick: prepare
	$(PY) -m ecom_assets.cli run --no-drift $(COPY_EXAMPLES)

lint: install
	$(VENV)/bin/ruff check .

test: prepare lint
	$(PY) -m pytest -q

test-all: prepare
	$(PY) -m pytest -q -m "slow or not slow"

validate: prepare
	$(VENV)/bin/dagster definitions validate -m ecom_assets.definitions

ui: prepare
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

bench: prepare
	$(PY) bench/ingest.py

clean:
	rm -rf data/warehouse.duckdb* dbt/target dbt/logs
