"""The fresh-process query path: `gtindex search` never loads the build-time model stack,
`show` and `--help` load neither FAISS nor onnxruntime, and the fast-start query model
(one query per process) gives the same vectors and the same hits as the default one."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np

BUILD_STACK = ("torch", "sentence_transformers", "transformers")
QUERY_STACK = ("faiss", "onnxruntime", "tokenizers")

RARE = "fda-gt-rare-diseases-draft-2018.pdf"  # in the small_index fixture (conftest)


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


def test_search_loads_no_build_time_model_stack(small_index):
    result = run_cli_in_subprocess(["search", "stopping rules", "--index", str(small_index), "--json"])
    assert result["code"] == 0
    hits = json.loads(result["stdout"])["hits"]
    assert hits[0]["doc"] == RARE
    loaded = top_level(result["modules"])
    assert not loaded & set(BUILD_STACK), loaded & set(BUILD_STACK)
    assert {"faiss", "onnxruntime"} <= loaded  # the query stack is what it runs on


def test_show_and_help_load_no_model_or_vector_library(small_index):
    shown = run_cli_in_subprocess(["show", RARE, "--lines", "348-351", "--index", str(small_index), "--json"])
    assert shown["code"] == 0
    assert [line["line"] for line in json.loads(shown["stdout"])["lines"]] == [348, 349, 350, 351]
    helped = run_cli_in_subprocess(["--help"])
    assert helped["code"] == 0 and "search" in helped["stdout"]
    for result in (shown, helped):
        heavy = top_level(result["modules"]) & set(BUILD_STACK + QUERY_STACK)
        assert not heavy, heavy


def test_fast_start_encoder_gives_the_same_vectors(small_index):
    from gtindex import store
    from gtindex.embedding import OnnxEncoder

    model_dir = store.current_generation(small_index) / store.MODEL_DIR
    texts = ["stopping rules", "What should an early-phase gene therapy protocol include?", "strategic plan"]
    default = OnnxEncoder(model_dir).encode(texts)
    fast = OnnxEncoder(model_dir, fast_start=True).encode(texts)
    cosines = np.sum(default * fast, axis=1)
    assert np.all(cosines > 0.9999), cosines


def test_fast_start_index_answers_like_the_default(small_index):
    from gtindex.search import Index

    queries = ["stopping rules", "natural history studies of rare diseases", "ASGCT strategic plan goals"]
    with Index.open(small_index) as default, Index.open(small_index, fast_start=True) as fast:
        for query in queries:
            expected = [hit.citation for hit in default.search(query, k=3)]
            assert expected
            assert [hit.citation for hit in fast.search(query, k=3)] == expected


def test_dense_search_restricted_to_rows_is_exact_on_flat_and_filters_on_hnsw():
    from gtindex.dense import DenseIndex

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((2000, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    allowed = np.sort(rng.choice(2000, size=300, replace=False))
    query = vectors[allowed[5]]
    expected = allowed[np.argsort(-(vectors[allowed] @ query), kind="stable")[:10]]
    flat = DenseIndex.build(vectors, kind="flat").search(query, 10, rows=allowed)
    assert list(flat.rows) == list(expected)
    assert np.allclose(flat.scores, vectors[expected] @ query, atol=1e-5)
    hnsw = DenseIndex.build(vectors, kind="hnsw").search(query, 10, rows=allowed)
    assert set(hnsw.rows) <= set(allowed) and hnsw.rows[0] == allowed[5]
    assert len(set(hnsw.rows) & set(expected)) >= 8
