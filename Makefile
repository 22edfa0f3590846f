# gtindex — developer and user entry points. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The real corpus lives beside the repo in ../shared (never copied in); corpus/ documents it.
CORPUS ?= $(if $(wildcard ../shared/corpus),../shared/corpus,corpus)
INDEX ?= indexes/default
QUERY ?= stopping rules
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install test demo index bench clean

$(BIN)/gtindex: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel on disk; otherwise pip pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/gtindex

test: install
	$(BIN)/python -m pytest -q -ra

index: install
	$(BIN)/gtindex build $(CORPUS) --index $(INDEX)

demo: index
	$(BIN)/gtindex search "$(QUERY)" --index $(INDEX) -k 3

# pdfgrep is the baseline the CLI is timed against (Debian package); the bench says so when it is missing.
bench: install
	@command -v pdfgrep >/dev/null || (apt-get update -qq && apt-get install -y -qq pdfgrep) >/dev/null 2>&1 \
		|| echo "pdfgrep not available"
	$(BIN)/python -m gtindex.bench --corpus $(CORPUS)

clean:
	rm -rf $(VENV) build *.egg-info
