# Every target sets up what it needs: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := mapreduce_fsm/examples/word_stats.yml

.PHONY: install test lint run diagrams bench torture clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check mapreduce_fsm tests
	$(BIN)/mypy

run: $(STAMP)
	$(BIN)/mapreduce-fsm validate $(EXAMPLE)
	$(BIN)/mapreduce-fsm run --yes $(EXAMPLE)

diagrams: $(STAMP)
	$(BIN)/python -m mapreduce_fsm.phases.diagrams diagrams

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# SIGKILL run/resume/dlq retry at random points and check every item's result (README:
# Reliability); KILLS=300 for a longer campaign.
KILLS ?= 100
torture: $(STAMP)
	$(BIN)/python -m tests.torture --kills $(KILLS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis out
