"""Odd queries: every one is answered (exit 0 or 1) or explained (exit 2, one line), never a
crash; the same through the API; and many at once from several processes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gtindex.cli import main
from gtindex.errors import GtindexError
from bench.loadtest import run_load
from gtindex.search import Index

DOCS = {"fda-gt-rare-diseases-draft-2018.pdf", "asgct-strategic-plan.html"}

ODD_QUERIES = {
    "10,000 characters": "gene therapy stopping rules " * 357 + "x" * 4,
    "one 10,000-character word": "a" * 10_000,
    "only stopwords": "the of and to in is it",
    "only punctuation": "?!.,;:…—–-()[]{}<>/\\|@#$%&*+=~`'",
    "double quotes": '"stopping rules',
    "star": "stop* rul*",
    "NEAR": "NEAR(stopping rules, 3)",
    "column filter": "text:stopping section:safety",
    "leading minus": "-stopping -rules",
    "parentheses": "((stopping) OR (rules)",
    "caret": "^stopping ^rules",
    "boolean words": "stopping AND OR NOT rules",
    "only boolean words": "AND OR NOT NEAR",
    "FTS5 everything": '"*:-()^ NEAR AND OR NOT "',
    "SQL": "'; DROP TABLE passages; --",
    "Chinese": "基因治疗的停止规则",
    "Arabic": "قواعد التوقف في العلاج الجيني",
    "Cyrillic": "правила остановки генной терапии",
    "emoji": "🧬💉 stopping rules 🛑",
    "only emoji": "🧬💉🛑",
    "control characters": "stopping\x00rules\x1b[2J\x07",
    "bidi override": "\u202estopping rules\u202c",
    "combining marks": "s\u0336t\u0336o\u0336p\u0336",
    "section number": "314.101(d)(5) Q9(R1) 21 CFR 50.53",
}
EMPTY_QUERIES = {"empty": "", "spaces": "   ", "whitespace": " \t\n\u3000 "}
# No word of these stands in the index: hybrid search finds nothing (exit 1), as lexical search
# does; the nearest vectors of tokens the model was never shown here are no answer.
NO_WORD_OF_THE_INDEX = {"one 10,000-character word", "only stopwords", "only punctuation", "only boolean words",
                        "FTS5 everything", "Chinese", "Arabic", "Cyrillic", "only emoji"}


@pytest.fixture(scope="module")
def index(small_index):
    with Index.open(small_index) as opened:
        yield opened


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("name", list(ODD_QUERIES))
def test_api_answers_odd_queries(index, name, mode):
    hits = index.search(ODD_QUERIES[name], k=3, mode=mode)
    assert len(hits) <= 3
    for hit in hits:
        assert hit.doc in DOCS and hit.lines and hit.citation
    if mode == "dense":
        assert hits, "dense retrieval always finds the nearest passages"
    elif mode == "hybrid":
        assert bool(hits) == (name not in NO_WORD_OF_THE_INDEX), "hybrid finds what holds a word of the index"


@pytest.mark.parametrize("name", list(EMPTY_QUERIES))
def test_api_explains_an_empty_query(index, name):
    with pytest.raises(GtindexError, match="empty query"):
        index.search(EMPTY_QUERIES[name])


def test_api_rejects_text_that_is_not_utf8(index):
    # bytes from a terminal in another encoding reach Python as lone surrogates
    with pytest.raises(GtindexError, match="not valid UTF-8"):
        index.search("caf\udce9 stopping rules")
    with pytest.raises(GtindexError, match="not valid UTF-8"):
        index.find_document("caf\udce9.pdf")


def test_odd_queries_still_find_the_obvious_answer(index):
    """Noise around a real query does not lose it: the stopping-rules lines stay on top."""
    for query in (ODD_QUERIES["emoji"], ODD_QUERIES["boolean words"], ODD_QUERIES["control characters"],
                  ODD_QUERIES["double quotes"], ODD_QUERIES["leading minus"]):
        top = index.search(query, k=1)[0]
        assert top.doc == "fda-gt-rare-diseases-draft-2018.pdf" and top.page_label_start == "9", query


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name", list(ODD_QUERIES))
def test_cli_answers_odd_queries(small_index, name):
    query = ODD_QUERIES[name]
    # "--" so that a query starting with "-" is not read as an option
    result = run("search", "--index", small_index, "--json", "-k", 2, "--", query)
    assert result.exit_code in (0, 1), result.output
    payload = json.loads(result.stdout)
    assert payload["query"] == query
    assert (result.exit_code == 0) == bool(payload["hits"])
    text = run("search", "--index", small_index, "-k", 2, "--", query)
    assert text.exit_code == result.exit_code
    assert "\x1b" not in text.output and "\x07" not in text.output and "\u202e" not in text.output


@pytest.mark.parametrize("name", list(EMPTY_QUERIES))
def test_cli_explains_an_empty_query(small_index, name):
    result = run("search", EMPTY_QUERIES[name], "--index", small_index)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "gtindex: error: empty query; type the words or question to search for\n"


def test_cli_batch_of_odd_queries_answers_each_and_explains_the_bad_one(small_index, tmp_path):
    batch = tmp_path / "queries.jsonl"
    batch.write_text("".join(json.dumps({"id": name, "query": query}) + "\n" for name, query in ODD_QUERIES.items()))
    result = run("search", "--batch", batch, "--index", small_index, "--json", "-k", 1)
    assert result.exit_code == 0
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["id"], a["query"]) for a in answers] == list(ODD_QUERIES.items())
    batch.write_text(json.dumps({"id": 1, "query": "stopping rules"}) + "\n" + json.dumps({"id": 2, "query": " "}) + "\n")
    result = run("search", "--batch", batch, "--index", small_index, "--json")
    assert result.exit_code == 2 and result.stderr.startswith(f"gtindex: error: {batch}:2: empty query")


def test_cli_query_bytes_that_are_not_utf8_exit_2_in_a_real_process(small_index):
    completed = subprocess.run(
        [sys.executable, "-m", "gtindex", "search", b"caf\xe9 stopping", "--index", str(small_index)],
        capture_output=True, timeout=300,
    )
    assert completed.returncode == 2
    assert completed.stdout == b""
    assert completed.stderr.decode() == (
        "gtindex: error: the query is not valid UTF-8 text; check the terminal's character encoding\n"
    )


# --------------------------------------------------------------------------- load


def test_concurrent_queries_from_four_processes_are_all_answered(small_index):
    queries = ["stopping rules", "natural history of the disease", "strategic plan education"] + list(ODD_QUERIES.values())
    report = run_load(small_index, n_queries=40 * 4, processes=4, queries=queries, k=3)
    assert report["errors"] == 0, report["error_samples"]
    assert report["queries"] == report["answered"] == 160
    assert report["processes"] == 4
    # Sent in order, round robin; hybrid finds something for each query holding a word of the index.
    no_word = {ODD_QUERIES[name] for name in NO_WORD_OF_THE_INDEX}
    assert report["with_hits"] == sum(queries[i % len(queries)] not in no_word for i in range(160)) > 100
