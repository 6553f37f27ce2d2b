# The README's two commands: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench fuzz clean

$(STAMP): pyproject.toml setup.py src/hush/shh/_powloop.c src/hush/shh/_envelope.c src/hush/shh/_keccak.h src/hush/crypto/_gcm.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hush node --http 127.0.0.1:8545 --ws 127.0.0.1:8546 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples fuzz
	$(BIN)/ruff format --check src tests benchmarks examples fuzz

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/hush bench pow --size 100 --seconds 3 --json
	$(BIN)/hush bench validate --json
	$(BIN)/hush bench open --json

# Long fuzzing runs (docs/fuzzing.md): every target one after another, RUNS executions each, at
# low priority; `make fuzz TARGETS="rlp envelope" RUNS=100000`. Needs the fuzz extra (atheris).
fuzz: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[fuzz]'
	RUNS=$(or $(RUNS),1000000) PY=$(BIN)/python fuzz/campaign.sh $(TARGETS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
