# The verbs a user types. Each one does its own idempotent set-up first.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup run test bench rules check static up down clean

# .ci/setup checks everything on each call (half a second when nothing is missing) and
# reinstalls into .venv when pyproject.toml changed.
setup:
	@bash .ci/setup

## run: the main job, in the foreground (Ctrl-C stops it): exporters, Prometheus and
## Alertmanager on loopback, state in .run/; STACK_ARGS="--port prometheus=9090 ..."
## TOPOLOGY=ha: two Prometheus replicas and three gossiping Alertmanagers;
## TOPOLOGY=sharded: Prometheus agents splitting the targets, writing to a receiver
TOPOLOGY ?= single
run: setup
	$(PY) -m runner run --topology $(TOPOLOGY) $(STACK_ARGS)

## up: the same stack in the background (pid files in .run/pids); down: stop it
up: setup
	$(PY) -m runner up --topology $(TOPOLOGY) $(STACK_ARGS)

down:
	@if [ -x $(PY) ]; then $(PY) -m runner down; else echo "nothing was running"; fi

## test: the static checks, then the whole test suite against real PostgreSQL, Redis,
## Prometheus and Alertmanager
test: setup static
	bash .ci/with-test-servers $(PY) -m pytest $(PYTEST_ARGS)

## bench: side-by-side benchmarks against the reference exporters; writes bench/results.md
bench: setup
	$(PY) -m bench

## rules: regenerate everything the catalogue owns
rules: setup
	$(PY) -m generator $(if $(OVERRIDES),--overrides $(OVERRIDES))

## check: generated files up to date, dashboards and links lint clean, rules lint clean
## (pint's offline checks), README's metrics reference current, ruff and mypy --strict clean
check: setup static

static: setup
	$(PY) -m generator --check
	$(PY) -m generator.lint
	$(PY) -m generator.rulelint
	$(PY) -m generator.deploylint
	$(PY) -m exporters.docs --check README.md docs/metrics.md
	.venv/bin/ruff check exporters generator runner topology oncall tests bench
	.venv/bin/mypy

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache *.egg-info
