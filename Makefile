# Every target runs inside .venv, which `make install` creates on first use.
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages: espeak-ng is the fallback voice when Piper cannot load; redis-server and prometheus are
# real servers for the shared-session and dashboard tests; chromium and its driver run the console's browser test.
SYSTEM_PACKAGES := espeak-ng redis-server prometheus postgresql chromium chromium-driver

.PHONY: install system-packages protos lint test test-fast fuzz demo bench load clean

install: $(STAMP) system-packages

system-packages:
	@missing=""; for package in $(SYSTEM_PACKAGES); do dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

protos: $(STAMP)
	$(PY) scripts/generate_protos.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: install lint
	$(PY) -m pytest -q

# Developers' inner loop: skips the suites that start real processes or build large indexes.
test-fast: install
	$(PY) -m pytest -q -m 'not slow'

# Property-based fuzzing of every input boundary with a large budget (make test runs the same tests briefly).
fuzz: install
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m fuzz -p no:cacheprovider

# Locust callers against one real gateway (fixed-latency fakes, then the offline models), then faults under load
# (bench/load); bounded, about 11 minutes, and prints its figures as tables.
load: install
	$(PY) bench/load/run.py

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) bench/redaction_bench.py
	$(PY) bench/model_bench.py
	$(PY) bench/gateway_bench.py
	$(PY) bench/streaming_bench.py
	$(PY) bench/turn_taking_bench.py
	$(PY) bench/retrieval_bench.py
	$(PY) bench/retrieval_store_bench.py
	$(PY) bench/console_bench.py
	$(PY) bench/answer_quality.py

clean:
	rm -rf $(VENV) data/*/vector_store .pytest_cache

# Container images (scripts/images): one per Dockerfile target, built with docker when its daemon answers, else
# podman. The Python base is python:3.11-slim-bookworm when a registry serves it, else `make base-image`'s.
IMAGE_REGISTRY ?= ghcr.io/voiceagent
IMAGE_TAG ?= $(shell git rev-parse --short HEAD)

.PHONY: base-image images images-check
# localhost/voiceagent-python:3.11 from Debian packages (debootstrap, as root; standard library only, no .venv).
base-image:
	$(PYTHON_BOOT) -m scripts.images.base_image

images: $(STAMP)
	$(PY) -m scripts.images.build --registry $(IMAGE_REGISTRY) --tag $(IMAGE_TAG)

# The images built, the whole stack run as deploy/k8s runs it, the sample org ingested and a call answered through
# the containers (scripts/images/check.py). Not part of make test: it takes minutes and a container engine.
images-check: $(STAMP)
	$(PY) -m scripts.images.check
