# The verbs a user types. Each one does its own idempotent set-up first.
SHELL := /bin/bash
PY := .venv/bin/python
SETUP := .venv/.promfleet-setup-done

.PHONY: setup run test bench rules check lint up down clean

$(SETUP): pyproject.toml .ci/setup
	@bash .ci/setup
	@touch $@

setup: $(SETUP)
	@bash .ci/setup >/dev/null

## run: the main job, in the foreground (Ctrl-C stops it)
run: setup
	$(PY) -m exporters system --web.listen-address=127.0.0.1:9101

## test: the whole test suite, against real PostgreSQL, Redis, Prometheus, Alertmanager
test: setup
	$(PY) -m pytest

## bench: side-by-side benchmarks against the reference exporters; writes bench/results.md
bench: setup
	$(PY) -m bench

## rules: regenerate everything the catalogue owns
rules: setup
	$(PY) -m generator

## check: generated files up to date, lint and types
check: setup
	$(PY) -m generator --check
	.venv/bin/ruff check exporters generator tests bench
	.venv/bin/mypy

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache *.egg-info
