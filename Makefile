# gtindex — developer and user entry points. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The default corpus is part of the repository (corpus/: 50 PDFs, 3 web pages, provenance).
CORPUS ?= corpus
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
	@echo
	@echo "Next (activate with: . $(VENV)/bin/activate, or prefix $(BIN)/):"
	@echo "  gtindex search \"long-term follow-up duration\" --index $(INDEX)"
	@echo "  gtindex show fda-gt-rare-diseases-draft-2018 --lines 348-351 --index $(INDEX)"
	@echo "  gtindex build ~/guidances --index $(INDEX)      # your own folder of guidances"
	@echo "  gtindex add new-guidance.pdf --index $(INDEX)   # one new guidance"

# pdfgrep is the baseline the CLI is timed against (Debian package); the bench says so when it is missing.
bench: install
	@command -v pdfgrep >/dev/null || (apt-get update -qq && apt-get install -y -qq pdfgrep) >/dev/null 2>&1 \
		|| echo "pdfgrep not available"
	$(BIN)/python -m bench.bench --corpus $(CORPUS)

clean:
	rm -rf $(VENV) build *.egg-info
