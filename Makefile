# The two entry points: `make run` and `make test` (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck debian-tools unit bench bench-serve bench-doctor bench-mirrors bench-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: diagnose the network first (a failing source is reported, not fatal:
# unstall go fails over to what works), then download the example service's
# dependencies through unstall.
run: $(STAMP)
	cd examples/service && { ../../$(BIN)/unstall doctor || echo "make run: doctor found a failing source (above); continuing"; }
	cd examples/service && ../../$(BIN)/unstall go mod download
	cd examples/service && go build -o /dev/null ./...
	@echo "make run: examples/service dependencies downloaded and verified"
	$(BIN)/unstall report --since 1h

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Go driver modules for the test that compiles `unstall check --fix` output (downloaded
# once, here, so that the test itself runs offline)
DRIVERS := .cache/drivers-gomodcache/.fetched
$(DRIVERS): tests/support/drivers.py $(STAMP)
	$(BIN)/python -m tests.support.drivers
	touch $@

# Debian packages the tests drive for real: openssh-server for the fleet tests (one real
# sshd per fake host on 127.0.0.x; sshd needs its privilege-separation directory
# /run/sshd), chromium for rendering `unstall report --html` headless, and prometheus
# for promtool, which checks contrib/prometheus/alerts.yml.
DEBIAN_TOOLS := /usr/sbin/sshd:openssh-server /usr/bin/chromium:chromium /usr/bin/promtool:prometheus
debian-tools:
	@SUDO=$$([ "$$(id -u)" = 0 ] || command -v sudo); \
	missing=""; \
	for pair in $(DEBIAN_TOOLS); do \
	  [ -x "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || \
	  { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }; \
	fi; \
	[ -d /run/sshd ] || $$SUDO mkdir -p /run/sshd

test: lint typecheck $(DRIVERS) debian-tools
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/go_download.py

# needs wrk (Debian package) and go; installs goproxy/goproxy into a temporary directory
bench-serve: $(STAMP)
	$(BIN)/python bench/serve.py

# every source failing: unstall doctor at once vs one source at a time
bench-doctor: $(STAMP)
	$(BIN)/python bench/doctor.py

# 8 Go mirrors, half blackholed: unstall mirrors rank at once vs one mirror at a time
bench-mirrors: $(STAMP)
	$(BIN)/python bench/mirrors.py

# unstall check vs golangci-lint and gosec on a large real code base (installs both)
bench-check: $(STAMP)
	$(BIN)/python bench/check.py

clean:
	chmod -R u+w .cache 2>/dev/null || true  # go writes its module cache read-only
	rm -rf $(VENV) .cache .mypy_cache .pytest_cache .ruff_cache
