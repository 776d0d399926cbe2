# Two commands: `make demo` and `make test`. Both build .venv from scratch if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

RLLIB_VENV := .venv-rllib
RLLIB_STAMP := $(RLLIB_VENV)/.installed

.PHONY: demo test test-rllib lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# Pinned CPU torch first: an unpinned torch would pull gigabytes of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# RLlib pins another gymnasium than the main venv gets, so its test runs in a virtualenv of its own.
$(RLLIB_STAMP): pyproject.toml
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_VENV)/bin/pip install --quiet --upgrade pip
	$(RLLIB_VENV)/bin/pip install --quiet torch==2.13.0
	$(RLLIB_VENV)/bin/pip install --quiet -e ".[rllib]" "pytest>=8"
	touch $(RLLIB_STAMP)

# The tour and the two learners (~20 s), then the benchmark harness's quick preset (~1 min; a rerun
# skips finished runs) and where its report is.
demo: $(STAMP)
	$(BIN)/python -m examples.demo
	$(BIN)/token-gym bench --preset quick --out bench-results/quick

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -q

# Each RLlib test starts its own Ray on 2 CPUs: no -n here.
test-rllib: $(RLLIB_STAMP)
	$(RLLIB_VENV)/bin/python -m pytest -q tests/test_rllib.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.env_speed
	$(BIN)/python -m benchmarks.sampling
	$(BIN)/python -m benchmarks.sb3_adapter
	$(BIN)/python -m benchmarks.sb3_extractor
	$(BIN)/python -m benchmarks.agents_vs_ppo
	$(BIN)/python -m benchmarks.reinforce_speed
	$(BIN)/python -m benchmarks.harness

clean:
	rm -rf $(VENV) $(RLLIB_VENV) .pytest_cache .ruff_cache .hypothesis
