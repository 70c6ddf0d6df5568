# The two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV = $(shell scripts/bootstrap.sh)

.PHONY: help run test lint typecheck bench

help:
	@echo "make run   - install, start embedded PostgreSQL, migrate, load demo data, serve 8001-8003"
	@echo "make test  - install and run the whole suite (lint, types, tests) on real PostgreSQL"
	@echo "make bench - every benchmark, one table + var/bench/results.json (QUICK=1: a few minutes)"

# REPLICAS=2: two processes of each service behind the gateway, which answers 8001-8003 and 8000
run:
	@uv_bin="$(UV)"; GRIDGOV_REPLICAS="$(or $(REPLICAS),$(GRIDGOV_REPLICAS),1)" exec "$$uv_bin" run --frozen python scripts/run.py

test:
	@uv_bin="$(UV)"; PATH="$$(dirname "$$uv_bin"):$$PATH" "$$uv_bin" run --frozen python scripts/test.py

lint:
	@uv_bin="$(UV)"; "$$uv_bin" run --frozen ruff check . && "$$uv_bin" run --frozen ruff format --check .

typecheck:
	@uv_bin="$(UV)"; "$$uv_bin" run --frozen mypy shared/src services/case_service/src services/grid_service/src services/notify_service/src

# QUICK=1: smaller scale (a few minutes); BENCH_ARGS: more options of bench/run.py (--only, --keep)
bench:
	@uv_bin="$(UV)"; scripts/ensure_wrk.sh || echo "bench: going on without wrk (intake will fail)"; \
	PATH="$$(dirname "$$uv_bin"):$$PATH" "$$uv_bin" run --frozen python bench/run.py $(if $(QUICK),--quick) $(BENCH_ARGS)
