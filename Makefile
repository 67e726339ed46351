# Sentio: `make demo` runs the stack with a demo workload; `make test` runs every test.
# Both install what is missing: Python deps in .venv, Mosquitto and Chromium from Debian's
# packages, and the backends (built once into ~/.cache/sentio from the Go module proxy);
# `make test` also a real Home Assistant for the connector's tests (a cached virtualenv, once),
# the independent protocol implementations of the interop tests (node-opcua and
# zigbee-herdsman-converters, pinned, cached) and the Kubernetes manifests' render and
# validation tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SENTIO_IMAGE := $(shell sed -n 's/^SENTIO_IMAGE=//p' versions.env)
SENTIO_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: all install venv system-deps backends homeassistant interop deploy-tools lint test test-unit demo \
	clean image image-push

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was called `sentio` before it became `sentio-iot`
	$(BIN)/python -m pip uninstall --quiet --yes sentio 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@bash scripts/install-system-deps

backends: venv
	$(BIN)/sentio stack install

# A real Home Assistant for the connector's integration tests, in its own cached virtualenv.
homeassistant:
	@bash scripts/install-homeassistant

# node-opcua (an OPC-UA server) and the exposes of real Zigbee device definitions, cached.
interop: system-deps
	@bash scripts/install-interop

# kustomize and the Kubernetes schemas (kubernetes-validate) for the manifests' tests, and
# compose-go's validator for docker-compose.yml, cached.
deploy-tools: venv
	@bash scripts/install-deploy-tools

install: venv system-deps backends homeassistant interop deploy-tools

lint: venv
	$(BIN)/ruff check sentio connectors collectors simulators dashboards ai-engine tests
	$(BIN)/ruff format --check sentio connectors collectors simulators dashboards ai-engine tests
	MYPY=$(BIN)/mypy bash scripts/typecheck

test: install lint
	$(BIN)/pytest

test-unit: venv
	$(BIN)/pytest tests/unit

demo: venv system-deps backends
	$(BIN)/sentio demo -c config/sentio.yaml

# Sentio's image, as docker compose and the Kubernetes manifests run it (name: versions.env).
image:
	docker build -f docker/sentio.Dockerfile -t $(SENTIO_IMAGE):$(SENTIO_VERSION) .

image-push: image
	docker push $(SENTIO_IMAGE):$(SENTIO_VERSION)

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .ruff_cache .pytest_cache
