# cookiecutter-sagemaker-airflow: the template's own tasks. `make` alone lists them.

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
UV_VERSION := 0.13.9
# uv from PATH, or a private copy installed on first use (needs only Python 3.11).
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen --no-sync
DEMO_DIR := build/demo

.PHONY: help install lint demo test test-fast bench options-table lock clean

help: ## List the tasks
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.synced ## Create the template's environment from its lock file

demo: install ## Bake a project with the default answers into build/demo and run its demo
	rm -rf $(DEMO_DIR)
	$(RUN) cookiecutter --no-input --output-dir $(DEMO_DIR) $(CURDIR)
	$(MAKE) -C $(DEMO_DIR)/$$(ls $(DEMO_DIR)) demo UV=$(UV)

lint: install ## Check the template's own code (hooks, scripts, tests)
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: install lint ## Lint, then every tier: options, answers (each bake), contract, end to end
	UV=$(UV) $(RUN) python -m pytest

test-fast: install lint ## The default bake only, and no end-to-end tier
	UV=$(UV) $(RUN) python -m pytest -m "not slow" --fast

bench: install ## Time baking (cookiecutter API and command) against copying the folder
	$(RUN) python benchmarks/bake.py $(if $(REPEAT),--repeat $(REPEAT)) --json build/benchmarks/bake.json

options-table: install ## Regenerate the README's options table from cookiecutter.json
	$(RUN) python scripts/options_table.py

lock: install ## Re-resolve the template's and the generated project's lock files
	$(UV) lock
	UV=$(UV) $(RUN) python scripts/lock_generated.py

clean: ## Remove environments and baked projects
	rm -rf .venv .tools build .pytest_cache .ruff_cache
