# Every target runs inside .venv, which `make install` creates on first use.
PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install protos test test-fast demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

protos: $(STAMP)
	$(PY) scripts/generate_protos.py

test: $(STAMP)
	$(PY) -m pytest -q

# Developers' inner loop: skips the suites that start real processes or build large indexes.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not slow'

demo: $(STAMP)
	$(PY) scripts/demo.py

bench: $(STAMP)
	$(PY) bench/retrieval_bench.py

clean:
	rm -rf $(VENV) data/*/vector_store .pytest_cache
