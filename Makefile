# One virtual environment in .venv. TORCH picks the wheel: the default resolves to the CPU build on this project's
# machines and to the CUDA build on a GPU box with a PyPI that serves it; override e.g. TORCH="torch==2.13.0 --index-url ...".
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every folder that holds Python (tests/test_architecture.py checks that none is missing).
PY_DIRS := synthembed data_generation synthembed_common model_cards recipes scripts tests benchmarks

.PHONY: install quickstart test test-fast style quality

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/python scripts/quickstart.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

style: $(STAMP)
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)

quality: $(STAMP)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
