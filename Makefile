# ModelRollout: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLUSTER_DIR := .cluster
KUBECONFIG_FILE := $(CLUSTER_DIR)/kubeconfig
PYTEST_ARGS ?=

.PHONY: help deps venv crds check-crds lint unit integration e2e test cluster-build cluster-up \
	cluster-down demo clean router-compiled

help:
	@echo "make demo          bring everything up and show a rollout (see README)"
	@echo "make test          lint + the whole test suite against a real control plane"
	@echo "make cluster-up    start the local control plane; kubeconfig in $(KUBECONFIG_FILE)"
	@echo "make cluster-down  stop it"
	@echo "make crds          regenerate crds/ and docs/api.md from the pydantic models"

deps:  ## system packages (Prometheus, openssl, Go is expected on the machine)
	@bash .ci/system-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

CHART_CRD := charts/modelrollout/crds/modelrollout.yaml

crds: venv
	$(PY) -m controller.api.crd
	$(PY) -m controller.api.crd --output $(CHART_CRD)
	$(PY) -m controller.api.docs

check-crds: venv
	$(PY) -m controller.api.crd --check
	$(PY) -m controller.api.crd --check --output $(CHART_CRD)
	$(PY) -m controller.api.docs --check

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports  # the import contract in pyproject.toml: core, shell and router apart

cluster-build: venv
	$(PY) -m tests.cluster build

cluster-up: deps venv
	$(PY) -m tests.cluster up --dir $(CLUSTER_DIR)
	$(PY) -m tests.cluster install-crds --dir $(CLUSTER_DIR)

cluster-down: venv
	$(PY) -m tests.cluster down --dir $(CLUSTER_DIR)

unit: venv
	$(VENV)/bin/pytest -m unit $(PYTEST_ARGS)

integration: deps venv cluster-build
	$(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

e2e: deps venv cluster-build
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

test: deps venv cluster-build lint check-crds
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	$(MAKE) router-compiled

router-compiled: venv  ## the router tests again, against the mypyc build the image ships
	$(PY) -m tests.compiled_router test $(PYTEST_ARGS)

.PHONY: image image-lock
IMAGE ?= localhost/modelrollout:dev

# The image without a Docker engine: local Debian bases (debootstrap, cached by their inputs),
# buildah, then each entrypoint once under podman (README, "Image"; image/*.sh).
image: deps
	bash image/build.sh $(IMAGE)
	bash image/smoke.sh $(IMAGE)

image-lock:  ## image/*.lock from pyproject.toml, after a dependency change (needs the index)
	bash image/lock.sh

demo: deps venv cluster-up
	$(PY) -m examples.demo --kubeconfig $(KUBECONFIG_FILE)

clean: cluster-down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
