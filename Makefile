# Two commands for a fresh machine: `make chat` and `make test`. Both install what is missing into .venv,
# one explained step at a time (python -m rag.installer; every command's full output goes to .venv/install.log).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: chat test install install-test index clean-index

chat: install  ## install what is missing, fetch the reader model, build the index if needed, start the chat UI
	@echo "• Starting the chat on http://127.0.0.1:7860 (Ctrl+C stops it)."
	@$(BIN)/rag serve

test: install-test  ## install what is missing (test tools too), fetch the models the tests use, run every test
	@echo "• Running the test suite."
	$(BIN)/python -m pytest

install:  ## what the chat needs: .venv, PyTorch (CPU), the app, llama.cpp, the reader model, the index
	@$(PYTHON) -m rag.installer chat

install-test:  ## the above (but no index) plus pytest, Playwright, llama.cpp's server, SmolLM2 and Chromium
	@$(PYTHON) -m rag.installer test

index: install  ## (re)build the index from data/ incrementally
	$(BIN)/rag ingest

clean-index:
	rm -rf data/index
