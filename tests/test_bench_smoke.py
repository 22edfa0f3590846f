"""`make bench` code on a tiny corpus (two one-page PDFs), so that it cannot rot unnoticed.

No timing is asserted: only that every section runs and reports coherent figures. The
synthetic-corpus helpers of scale.py are checked on their own.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from bench import bench, scale
from bench.quality import CV_MARGINS
from gtindex import dense
from gtindex.documents import KIND_BODY, KIND_HEADING, Document, Line

PAGES = {
    "stopping-rules-guidance.pdf": [
        "I. INTRODUCTION",
        "This guidance describes stopping rules for early-phase gene therapy trials.",
        "A stopping rule pauses enrolment when serious adverse events exceed a set threshold.",
        "II. MANUFACTURING",
        "Vector lots should be tested for replication-competent virus before release.",
        "Potency assays measure the biological activity of each lot.",
    ],
    "donor-screening.pdf": [
        "I. BACKGROUND",
        "Donor screening questionnaires ask about recent travel and exposures.",
        "Blood establishments defer donors who report symptoms of West Nile virus.",
    ],
}
GOLD = [
    {"id": "q1", "query": "stopping rules", "style": "keyword",
     "gold": [{"doc": "stopping-rules-guidance.pdf", "pdf_page": 1, "lines": None,
               "quote": "A stopping rule pauses enrolment when serious adverse events exceed a set threshold."}]},
    {"id": "q2", "query": "Which donors are deferred for West Nile virus?", "style": "question",
     "gold": [{"doc": "donor-screening.pdf", "pdf_page": 1, "lines": None,
               "quote": "Blood establishments defer donors who report symptoms of West Nile virus."}]},
]


def write_pdf(path: Path, lines: list[str]) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    for number, line in enumerate(lines):
        page.setFont("Times-Roman" if line.endswith(".") else "Times-Bold", 12)
        page.drawString(72, 700 - 14 * number, line)
    page.showPage()
    page.save()


@pytest.fixture(scope="module")
def bench_results(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bench")
    corpus = root / "corpus" / "pdf"
    corpus.mkdir(parents=True)
    for name, lines in PAGES.items():
        write_pdf(corpus / name, lines)
    gold = root / "dev.jsonl"
    gold.write_text("".join(json.dumps(record) + "\n" for record in GOLD))
    # A tiny flat limit, so that both scaled indexes (full and retrieval-only) take the HNSW path.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dense, "FLAT_LIMIT", 3)
        return bench.run(root / "corpus", gold, root / "work", set(bench.SECTIONS), scale_factors=(2, 12),
                         cli_runs=1, pdfgrep_runs=1, load_total=8,
                         on_section=lambda results, key: ANNOUNCED.append((key, key in results)))


ANNOUNCED: list[tuple[str, bool]] = []  # (section, its figures were in when announced)


def test_build_and_incremental_sections(bench_results):
    build = bench_results["build"]
    assert build["documents"] == 2 and build["pages"] == 2 and not build["skipped"]
    assert {"parse", "passages", "embed", "lexical", "dense", "write", "query model"} <= set(build["stage_seconds"])
    assert build["dominant_stage"] in build["stage_seconds"]
    assert build["index"]["total_mb"] > build["index"]["sqlite_mb"] > 0
    assert build["peak_memory"]["self_mb"] > 0
    inc = bench_results["incremental"]
    assert inc["document"] in PAGES
    assert inc["remove_one"]["reparsed"] == 0
    assert inc["add_one"]["reparsed"] == 1 and inc["add_one"]["embedded"] > 0  # really parsed and embedded again
    assert inc["unchanged"]["reparsed"] == 0 and inc["unchanged"]["embedded"] == 0
    assert all(inc[step]["pass"] in (True, False) for step in ("add_one", "unchanged"))


def test_query_sections(bench_results):
    assert bench_results["query"]["runs"] == 3 * len(GOLD)
    assert bench_results["query"]["p95_ms"] >= bench_results["query"]["median_ms"] > 0
    cli = bench_results["cli"]
    assert cli["exit_codes"] == [0]
    assert cli["heavy_imports"] == []
    served = bench_results["cli_served"]
    assert served["available"] and served["exit_codes"] == [0]
    grep = bench_results["pdfgrep"]
    if grep["available"]:
        assert grep["matching_lines"] >= 1  # the stopping-rules guidance
        assert bench_results["cli_vs_pdfgrep"]["ratio"] > 0
    assert set(bench_results["eval"]) == {"hybrid", "dense", "lexical"}
    assert bench_results["eval"]["hybrid"]["queries"] == len(GOLD)
    load = bench_results["load"]
    assert load["queries"] == load["answered"] == 8 and load["errors"] == 0


def test_scale_section(bench_results):
    rows = {row["factor"]: row for row in bench_results["scale"]}
    assert set(rows) == {1, 2, 12}
    base = rows[1]["passages"]
    assert rows[2]["passages"] >= 1.5 * base and rows[12]["passages"] >= 10 * base
    assert rows[2]["query_ms"] > 0 and rows[12]["query_ms"] is None  # 12x: retrieval structures only
    assert all(row["retrieval_ms"] > 0 and 0 < row["recall_at_10"] <= 1 for row in rows.values())
    assert [rows[f]["dense_kind"] for f in (1, 2, 12)] == ["flat", "hnsw", "hnsw"]
    assert [point["ef_search"] for point in rows[12]["ef_sweep"]] == [128, 256, 512]
    assert all(row["retrieval_ms"] >= row["dense_ms"] + row["lexical_ms"] for row in rows.values())


def test_sections_are_announced_as_they_finish(bench_results):
    assert ANNOUNCED == [(key, True) for key in ("machine", "build", "incremental", "query", "cli", "eval", "quality",
                                                  "load", "scale")]


def test_quality_section_scores_gtindex_and_the_naive_baseline_alike(bench_results):
    quality = bench_results["quality"]
    dev = quality["sets"]["dev"]
    assert dev["queries"] == len(GOLD)
    assert set(dev["passage_recall"]) == {"dense", "bm25", "rrf"}
    assert all(0 <= recall[k] <= 1 for recall in dev["passage_recall"].values() for k in (1, 5, 20, 100))
    assert dev["hybrid"]["overall"]["queries"] == quality["naive"]["dev"]["overall"]["queries"] == len(GOLD)
    assert quality["naive"]["chunks"] >= len(PAGES)
    assert quality["references"]["queries"] == quality["subdivisions"]["queries"] == 0  # no "21 CFR" in the pages
    assert len(quality["cv"]["chosen"]) == 5
    assert all(choice["margin"] in CV_MARGINS for choice in quality["cv"]["chosen"])


def test_results_print_and_serialise(bench_results):
    out = io.StringIO()
    bench.print_results(bench_results, out)
    text = out.getvalue()
    for heading in ("Full build", "Incremental", "Query latency", "Eval", "Load", "Scale"):
        assert heading in text
    assert json.loads(json.dumps(bench_results, default=str))["build"]["documents"] == 2


# --------------------------------------------------------------------------- scale.py


def _document() -> Document:
    lines = [Line(1, "1", 1, 1, KIND_HEADING, "I. Scope", "I. Scope")]
    lines += [Line(1, "1", n, n, KIND_BODY, "I. Scope", f"Sentence number {n} about potency assays and lots.")
              for n in range(2, 8)]
    return Document(doc="guide.pdf", source_type="pdf", sha256="0" * 64, title="Guide", pages=1,
                    line_kind="printed", lines=lines)


def test_perturbed_replica_keeps_the_citation_structure():
    original = _document()
    replica = scale.perturb_document(original, replica=3)
    assert replica.doc == "guide~r003.pdf" and replica.sha256 != original.sha256
    assert [(l.page, l.line, l.kind, l.section) for l in replica.lines] == \
        [(l.page, l.line, l.kind, l.section) for l in original.lines]
    assert [l.text for l in replica.lines] != [l.text for l in original.lines]
    assert replica.lines[0].text == "I. Scope"  # headings are not shuffled among body lines
    assert scale.perturb_document(original, replica=3) == replica  # deterministic
    assert scale.perturb_document(original, replica=4) != replica


def test_noise_keeps_unit_vectors_near_the_original():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    moved = scale.add_noise(vectors, rng)
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * moved, axis=1)
    assert abs(float(cosine.mean()) - 1 / np.sqrt(1 + scale.NOISE**2)) < 0.02


def test_recall_of_hnsw_against_exact_search():
    from gtindex.dense import DenseIndex

    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((3000, 32)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = matrix[:20] + 0.1 * rng.standard_normal((20, 32)).astype(np.float32)
    exact = scale.exact_top_k(matrix, queries, 10, chunk=700)  # chunks: the merge across them is exercised
    brute = np.argsort(-(queries @ matrix.T), axis=1)[:, :10]
    assert (exact == brute).all()
    hnsw = DenseIndex.build(matrix, kind="hnsw")
    assert 0.8 <= scale.recall_vs_flat(hnsw, matrix, queries) <= 1.0
    assert scale.recall_vs_flat(DenseIndex.build(matrix, kind="flat"), matrix, queries) == 1.0



def test_load_counts_failures_instead_of_raising(tmp_path):
    from bench.loadtest import run_load

    report = run_load(tmp_path / "no-index", n_queries=4, processes=2)
    assert report["answered"] == 0 and report["errors"] == 4
    assert any("no index at" in sample for sample in report["error_samples"])


def test_main_refuses_a_missing_gold_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        bench.main(["--corpus", str(tmp_path), "--gold", str(tmp_path / "missing.jsonl")])
    assert exit.value.code == 2
    assert "gold queries not found" in capsys.readouterr().err
