# Task Manager. The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
REQS   := requirements.txt requirements/runtime.txt requirements/dev.txt \
          libs/common/pyproject.toml libs/devstack/pyproject.toml bench/pyproject.toml \
          $(wildcard services/*/pyproject.toml)
PROTOS := $(shell find protos third_party -name '*.proto') tools/gen_protos.py tools/gen_json_shapes.py \
          tools/gen_openapi.py
GEN    := build/descriptors/taskmanager.pb
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/.installed-stamp

.PHONY: run test test-fast chaos lint protos venv bench bench-crossover clean fmt release-contract

run: $(GEN)  ## start everything; prints the gateway URL (Ctrl-C stops)
	$(PY) -m tm_devstack.cli

test: $(GEN) $(CHECKOV) lint  ## every test, against a stack the tests start themselves
	$(PY) -m pytest

# tests/chaos: two instances of every service (REPLICAS=2) under load while instances are killed,
# Postgres stops and Redis restarts, then a soak (SOAK_SECONDS, default 600). `make test` leaves
# them out; CI runs both.
chaos: $(GEN)  ## the chaos tests and the soak, against a REPLICAS=2 stack they start themselves
	$(PY) -m pytest tests/chaos

test-fast: $(GEN) lint  ## the inner loop: lint, unit, use-case and adapter tests, the gateway's Lua, the house rules; no stack
	$(PY) -m pytest libs/common/tests/unit $(wildcard services/*/tests/unit services/*/tests/adapters) \
	    gateway/tests tests/architecture tests/contract

lint: $(GEN)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/common/tm_common libs/devstack/tm_devstack bench/tm_bench clients/python/src/taskmanager_client $(patsubst %/__init__.py,%,$(wildcard services/*/tm_*/__init__.py))
	$(VENV)/bin/buf lint
	@# Contracts only change compatibly: with the last released contract and with main.
	bash tools/contract.sh check
	bash tools/check_deploy.sh  # Dockerfiles, compose and the container's Envoy config, offline

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(GEN)  ## load through the gateway and over native gRPC; prints req/s and p50/p99
	$(PY) -m tm_bench

bench-crossover: $(GEN)  ## two settings (CROSSOVER_A, CROSSOVER_B) on two stacks at once, swapped halfway
	$(PY) -m tm_bench.crossover

protos: $(GEN)

release-contract: $(STAMP)  ## at a release: snapshot the contract later versions must stay compatible with
	bash tools/contract.sh release

$(GEN): $(STAMP) $(PROTOS)
	$(PY) tools/gen_protos.py
	$(PY) tools/gen_json_shapes.py
	$(PY) tools/gen_openapi.py  # build/openapi/openapi.json, the JSON API as OpenAPI 3.1

venv: $(STAMP) $(CHECKOV)

$(CHECKOV): requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements/checkov.txt
	touch $@

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

clean:
	rm -rf build .pytest_cache
