# airsweep: every target bootstraps .venv from requirements.lock on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install up down status clean demo sweep test test-unit test-integration lint lock init-compose

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "airsweep needs Python 3.11, got " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv from the lock file

up: $(STAMP) ## start the native cluster; returns when healthy
	$(BIN)/airsweep up

down: $(STAMP) ## stop every component, keep data
	$(BIN)/airsweep down

status: $(STAMP) ## show each component's state
	$(BIN)/airsweep status

clean: $(STAMP) ## stop and delete the state dir (asks; CONFIRM=yes skips the question)
	$(BIN)/airsweep clean $(if $(filter yes,$(CONFIRM)),--yes,)

init-compose: $(STAMP) ## write .env (fresh secrets, mode 0600) for docker compose; FORCE=yes adds missing values
	$(BIN)/airsweep init-compose $(if $(filter yes,$(FORCE)),--force,)

demo: $(STAMP) ## start the cluster if needed, run a sweep over both queues, print the leaderboard
	$(BIN)/airsweep up
	$(BIN)/airsweep sweep --dataset breast_cancer --models random_forest,xgboost --n-trials 24

sweep: $(STAMP) ## trigger and follow a sweep: make sweep ARGS='--dataset wine --n-trials 32'
	$(BIN)/airsweep sweep $(ARGS)

test: $(STAMP) ## the whole suite: lint, unit, DAG integrity, integration on a real cluster
	$(BIN)/ruff check src tests dags bench
	$(BIN)/ruff format --check src tests dags bench
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## unit and DAG tests only (no cluster)
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: $(STAMP) ## integration tests only (starts a throwaway cluster)
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check src tests dags bench
	$(BIN)/ruff format --check src tests dags bench

lock: ## re-resolve requirements.lock from pyproject.toml
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --quiet -o requirements.lock
