# Every target runs inside .venv, which `make install` creates on first use.
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages: espeak-ng is the fallback voice when Piper cannot load; redis-server and prometheus are
# real servers for the shared-session and dashboard tests; chromium and its driver run the console's browser test.
SYSTEM_PACKAGES := espeak-ng redis-server prometheus postgresql chromium chromium-driver

.PHONY: install system-packages protos lint test test-fast fuzz demo bench clean

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

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) bench/redaction_bench.py
	$(PY) bench/model_bench.py
	$(PY) bench/gateway_bench.py
	$(PY) bench/streaming_bench.py
	$(PY) bench/retrieval_bench.py
	$(PY) bench/retrieval_store_bench.py
	$(PY) bench/answer_quality.py

clean:
	rm -rf $(VENV) data/*/vector_store .pytest_cache

# Container images, one target per service. Needs a container runtime (not available in CI here).
IMAGE_REGISTRY ?= ghcr.io/voiceagent
IMAGE_TAG ?= $(shell git rev-parse --short HEAD)
IMAGE_SERVICES := gateway stt retrieval llm tts

.PHONY: images
images:
	for service in $(IMAGE_SERVICES); do \
	  docker build --target $$service -t $(IMAGE_REGISTRY)/$$service:$(IMAGE_TAG) . || exit 1; \
	done
