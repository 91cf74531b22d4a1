# The two commands a new user needs: `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml scripts/system-deps.sh | sha256sum | cut -c1-12)
export LICREG_KEY_PASSPHRASE ?= TEST-ONLY-demo-passphrase
export DO_NOT_TRACK = 1
# Prefect's settings are in prefect.toml; the demo and the tests print their own summaries,
# so Prefect's INFO lines are left out of them.
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m flows.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check registry flows tests fixtures
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/licreg bench $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache
