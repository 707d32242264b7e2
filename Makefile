# Cloudstate for Python. Everything installs into .venv, exactly as uv.lock says; only python3
# and make are needed. `make lock` refreshes the lock deliberately (one reviewed commit).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
PORT ?= 9000
# Parallel test workers (xdist); the suite is sized for a 2-core machine.
WORKERS ?= 2
# Every extra (PostgreSQL, NATS, JWT, OpenTelemetry) and the dev and bench groups
# (pyproject.toml's default-groups), from the lock only.
SYNC := $(UV) sync --frozen --all-extras

.PHONY: install lock check-env dist run run-actions run-crdts run-views test lint protos bench bench-extra bench-restate-install mutants clean

# uv itself comes from the lock too: its version and wheel hashes are read from uv.lock.
$(UV): uv.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/bootstrap_uv.py $(PY)
	touch $(UV)

$(STAMP): pyproject.toml uv.lock $(UV)
	$(SYNC)
	touch $(STAMP)

install: $(STAMP)

## lock: re-resolve every dependency to the newest the ranges in pyproject.toml allow
lock: $(UV)
	$(UV) lock --upgrade
	$(SYNC)

## check-env: fail when .venv differs from uv.lock, or uv.lock from pyproject.toml
check-env: $(STAMP)
	$(UV) lock --check
	$(SYNC) --check

## dist: the wheel and sdist in dist/ (built with the locked setuptools, no index needed)
dist: $(STAMP)
	rm -rf dist
	$(UV) build --no-build-isolation --out-dir dist

## run: the shopping-cart example (user function + proxy) on SQLite under ./data, gRPC on $(PORT)
run: $(STAMP)
	@mkdir -p data
	@echo "Starting the shopping cart on port $(PORT). In another terminal try:"
	@echo "  $(PY) examples/shoppingcart/client.py --port $(PORT) add alice apple 'Red apple' 3"
	@echo "  $(PY) examples/shoppingcart/client.py --port $(PORT) get alice"
	@echo "Ctrl-C stops it; the carts stay in data/shoppingcart.db."
	$(VENV)/bin/cloudstate run shoppingcart.shopping_cart --path examples/shoppingcart \
		--port $(PORT) --store sqlite:///data/shoppingcart.db

## run-actions: the actions example (stateless actions in front of the cart), gRPC/HTTP on $(PORT)
run-actions: $(STAMP)
	@mkdir -p data
	@echo "Starting the actions example on port $(PORT). In another terminal try:"
	@echo "  $(PY) examples/actions/client.py --port $(PORT) add alice apple 3"
	@echo "  $(PY) examples/actions/client.py --port $(PORT) catalog --delay-ms 300"
	@echo "  curl -N -H 'Accept: text/event-stream' localhost:$(PORT)/actions/catalog"
	$(VENV)/bin/cloudstate run cartactions.main --path examples/actions \
		--port $(PORT) --store sqlite:///data/actions.db

## run-crdts: the CRDT example (like counters, presence), gRPC/HTTP/SSE on $(PORT)
run-crdts: $(STAMP)
	@mkdir -p data
	@echo "Starting the CRDT example on port $(PORT). In other terminals try:"
	@echo "  $(PY) examples/crdts/client.py --port $(PORT) watch post-1"
	@echo "  $(PY) examples/crdts/client.py --port $(PORT) like post-1"
	@echo "  curl -N -H 'Accept: text/event-stream' 'localhost:$(PORT)/rooms/lobby/connect?user=alice'"
	@echo "  curl localhost:$(PORT)/rooms/lobby/online"
	$(VENV)/bin/cloudstate run crdts.main --path examples/crdts \
		--port $(PORT) --store sqlite:///data/crdts.db

## run-views: the views example (popular products, order confirmations), gRPC/HTTP on $(PORT)
run-views: $(STAMP)
	@mkdir -p data
	@echo "Starting the views example on port $(PORT). In another terminal try:"
	@echo "  $(PY) examples/shoppingcart_views/client.py --port $(PORT) add alice apple Apple 3"
	@echo "  $(PY) examples/shoppingcart_views/client.py --port $(PORT) top 5"
	@echo "  $(PY) examples/shoppingcart_views/client.py --port $(PORT) checkout alice"
	@echo "  curl localhost:$(PORT)/confirmations/alice"
	$(VENV)/bin/cloudstate run cartviews.main --path examples/shoppingcart_views \
		--port $(PORT) --store sqlite:///data/views.db

## test: lint, type-check, generated-code check and the whole suite
test: $(STAMP)
	$(MAKE) --no-print-directory check-env lint
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup -q -m "not alone"
	$(PY) -m pytest -q -m alone

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/gen_protos.py --check

## protos: regenerate the Python code of every .proto in the repo
protos: $(STAMP)
	$(PY) scripts/gen_protos.py

# run.py: every scenario x transport x concurrency with its baselines (benchmarks/README.md);
# the others measure parts it does not (store alone, fan-out, eventing, durable calls, kits,
# metrics, workflows vs Restate).
bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/bench_store.py
	$(PY) benchmarks/bench_postgres.py
	$(PY) benchmarks/bench_cluster.py
	$(PY) benchmarks/bench_eventing.py
	$(PY) benchmarks/bench_topics.py
	$(PY) benchmarks/bench_views.py
	$(PY) benchmarks/bench_durable.py
	$(PY) benchmarks/bench_crdt_sdk.py
	$(PY) benchmarks/bench_crdt.py
	$(PY) benchmarks/bench_testkit.py
	$(PY) benchmarks/bench_tck.py
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_tracing.py
	$(PY) benchmarks/bench_workflows.py
	$(PY) benchmarks/bench_workers.py
	$(PY) benchmarks/bench_workers_sqlite.py

## bench-restate-install: the Restate server of the workflow benchmark, exactly as
## benchmarks/restate/package-lock.json says (npm ci; no install scripts run)
bench-restate-install:
	cd benchmarks/restate && npm ci --ignore-scripts --no-audit --no-fund

# Older per-scenario scripts whose throughput tables run.py now covers (kept for their extras:
# the relay vs --grpc-port comparison, save_value alone, hot-post CRDT and fan-out through the proxy).
bench-extra: $(STAMP)
	$(PY) benchmarks/bench_action.py
	$(PY) benchmarks/bench_http.py
	$(PY) benchmarks/bench_valueentity.py

## mutants: plant each bug of tests/mutants/catalogue.py in a copy of the repo and run the tests
## that must catch it; fails naming any survivor (docs/mutation-testing.md, .mutants/results.json)
mutants: $(STAMP)
	$(PY) -m tests.mutants --jobs $(WORKERS)

clean:
	rm -rf $(VENV) build dist *.egg-info cloudstate*.egg-info .pytest_cache .mypy_cache .ruff_cache
