# Closeloop: `make run` starts everything on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/closeloop up

test: $(STAMP)
	$(BIN)/python tests/run_suite.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The screenshots in docs/images/: the browser tests that call doc_screenshot(page, name), run
# with CLOSELOOP_DOC_SCREENSHOTS=1 (tests/screenshots.py); commit the PNGs they rewrite.
SCREENSHOT_TESTS = $(shell grep -rl --include='test_*.py' --exclude=test_doc_images.py doc_screenshot closeloop tests)

screenshots: $(STAMP)
	CLOSELOOP_DOC_SCREENSHOTS=1 DATABASE_URL= $(BIN)/pytest -q -m browser $(SCREENSHOT_TESTS)

clean:
	rm -rf $(VENV) var/test-*
