# AuraStudio: `make demo` renders examples/welcome.txt to out/welcome.mp4;
# `make test` runs the test suite; `make drills` the slower fault drills of operations
# (tests marked `drill`; CI runs both). All set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install demo test drills lint bench serve deploy worker clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/aura render examples/welcome.txt -o out/welcome.mp4

test: install
	$(BIN)/python -m pytest -m "not drill"

drills: install
	$(BIN)/python -m pytest -m drill

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/emotion.py
	$(BIN)/python bench/voice.py
	$(BIN)/python bench/render.py

serve: install
	$(BIN)/aura serve

# Against the Prefect server in PREFECT_API_URL: the gpu limit, the work pool and its
# queues, then every deployment of prefect.yaml (README: Deploying and scaling out).
deploy: install
	$(BIN)/python -m deployments.setup --work-pool
	AURA_CODE_DIR="$${AURA_CODE_DIR:-$(CURDIR)}" $(BIN)/prefect --no-prompt deploy --all

worker: install
	$(BIN)/prefect worker start --pool aurastudio

clean:
	rm -rf $(VENV) out .pytest_cache
