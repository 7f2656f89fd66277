# AuraStudio: `make demo` renders examples/welcome.txt to out/welcome.mp4;
# `make test` runs the test suite. Both set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install demo test lint bench serve clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/aura render examples/welcome.txt -o out/welcome.mp4

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/emotion.py
	$(BIN)/python bench/voice.py
	$(BIN)/python bench/render.py

serve: install
	$(BIN)/aura serve

clean:
	rm -rf $(VENV) out .pytest_cache
