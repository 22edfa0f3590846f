"""The fresh-process query path: `gtindex search` never loads the build-time model stack,
`show` and `--help` load neither FAISS nor onnxruntime, and the fast-start query model
(one query per process) gives the same vectors and the same hits as the default one."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest


BUILD_STACK = ("torch", "sentence_transformers", "transformers")
QUERY_STACK = ("faiss", "onnxruntime", "tokenizers")

GUIDANCE = [
    "I. INTRODUCTION",
    "This guidance describes stopping rules for early-phase gene therapy trials.",
    "A stopping rule pauses enrolment when serious adverse events exceed a set threshold.",
    "II. MANUFACTURING",
    "Vector lots should be tested for replication-competent virus before release.",
    "Potency assays measure the biological activity of each lot.",
]
OTHER = [
    "I. BACKGROUND",
    "Donor screening questionnaires ask about recent travel and exposures.",
    "Blood establishments defer donors who report symptoms of West Nile virus.",
]


def write_pdf(path: Path, lines: list[str]) -> None:
    """A one-page PDF with these lines of 12 pt text (headings are the lines ending without a period)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    for number, line in enumerate(lines):
        page.setFont("Times-Roman" if line.endswith(".") else "Times-Bold", 12)
        page.drawString(72, 700 - 14 * number, line)
    page.showPage()
    page.save()


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory) -> Path:
    from gtindex.build import build_index

    root = tmp_path_factory.mktemp("query-path")
    corpus = root / "corpus"
    corpus.mkdir()
    write_pdf(corpus / "stopping-rules-guidance.pdf", GUIDANCE)
    write_pdf(corpus / "donor-screening.pdf", OTHER)
    report = build_index([corpus], root / "index")
    assert report.documents == 2 and not report.skipped
    return root / "index"


def run_cli_in_subprocess(args: list[str]) -> dict:
    """Run `gtindex ARGS` in a fresh interpreter; its exit code, output and loaded modules."""
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from gtindex.cli import main
        sys.argv = ["gtindex", *{args!r}]
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                main()
            except SystemExit as exit:
                code = exit.code
        print(json.dumps({{"code": code, "stdout": out.getvalue(), "modules": sorted(sys.modules)}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def top_level(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_search_loads_no_build_time_model_stack(tiny_index):
    result = run_cli_in_subprocess(["search", "stopping rules", "--index", str(tiny_index), "--json"])
    assert result["code"] == 0
    hits = json.loads(result["stdout"])["hits"]
    assert hits[0]["doc"] == "stopping-rules-guidance.pdf"
    loaded = top_level(result["modules"])
    assert not loaded & set(BUILD_STACK), loaded & set(BUILD_STACK)
    assert {"faiss", "onnxruntime"} <= loaded  # the query stack is what it runs on


def test_show_and_help_load_no_model_or_vector_library(tiny_index):
    shown = run_cli_in_subprocess(["show", "stopping-rules-guidance.pdf", "--page", "1",
                                   "--index", str(tiny_index), "--json"])
    assert shown["code"] == 0
    assert "stopping rules" in shown["stdout"]
    helped = run_cli_in_subprocess(["--help"])
    assert helped["code"] == 0 and "search" in helped["stdout"]
    for result in (shown, helped):
        heavy = top_level(result["modules"]) & set(BUILD_STACK + QUERY_STACK)
        assert not heavy, heavy


def test_fast_start_encoder_gives_the_same_vectors(tiny_index):
    from gtindex import store
    from gtindex.embedding import OnnxEncoder

    model_dir = store.current_generation(tiny_index) / store.MODEL_DIR
    texts = ["stopping rules", "What does a potency assay measure in a gene therapy lot?", "donor deferral"]
    default = OnnxEncoder(model_dir).encode(texts)
    fast = OnnxEncoder(model_dir, fast_start=True).encode(texts)
    cosines = np.sum(default * fast, axis=1)
    assert np.all(cosines > 0.9999), cosines


def test_fast_start_index_answers_like_the_default(tiny_index):
    from gtindex.search import Index

    queries = ["stopping rules", "replication-competent virus testing", "West Nile virus donors"]
    with Index.open(tiny_index) as default, Index.open(tiny_index, fast_start=True) as fast:
        for query in queries:
            expected = [hit.citation for hit in default.search(query, k=3)]
            assert expected
            assert [hit.citation for hit in fast.search(query, k=3)] == expected
