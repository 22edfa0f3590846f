"""The fresh-process query path: `gtindex search` never loads the build-time model stack,
`show` and `--help` load neither FAISS nor onnxruntime, the fast-start query model (one
query per process) gives the same vectors and the same hits as the default one, and with
`gtindex serve` running a search process loads no numerical library at all."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from gtindex import serve

BUILD_STACK = ("torch", "sentence_transformers", "transformers")
QUERY_STACK = ("faiss", "onnxruntime", "tokenizers")

RARE = "fda-gt-rare-diseases-draft-2018.pdf"  # in the small_index fixture (conftest)


def run_cli_in_subprocess(args: list[str], env: dict | None = None) -> dict:
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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                          env=env)
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
    from gtindex.index import generations
    from gtindex.embedding import OnnxEncoder

    model_dir = generations.current_generation(small_index) / generations.MODEL_DIR
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


def test_dense_search_restricted_to_rows_is_exact_on_flat_and_filters_on_hnsw(monkeypatch):
    from gtindex import dense
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
    hnsw_index = DenseIndex.build(vectors, kind="hnsw")
    assert list(hnsw_index.search(query, 10, rows=allowed).rows) == list(expected)  # few rows: rescored exactly
    monkeypatch.setattr(dense, "EXACT_SUBSET", 100)  # more rows than that: FAISS filters while it walks
    hnsw = hnsw_index.search(query, 10, rows=allowed)
    assert set(hnsw.rows) <= set(allowed) and hnsw.rows[0] == allowed[5]
    assert len(set(hnsw.rows) & set(expected)) >= 8
    short = hnsw_index.search(query, 10, rows=allowed[:3])  # fewer rows than k: padded with -1
    assert sorted(short.rows[:3]) == sorted(allowed[:3]) and list(short.rows[3:]) == [-1] * 7


def test_filtered_dense_retrieval_is_exact_and_remembers_the_rows(small_index):
    from gtindex.search import Index

    with Index.open(small_index) as index:
        doc_id = index.find_document(RARE).doc_id
        query = index.encoder().encode(["stopping rules for early-phase trials"])[0]
        rows = [r[0] for r in index.conn.execute("SELECT vector_row FROM passages WHERE doc_id = ?", (doc_id,))]
        scores = index.retriever.dense.vectors()[rows] @ query
        by_row = dict(index.conn.execute("SELECT vector_row, passage_id FROM passages"))
        expected = [by_row[rows[i]] for i in np.argsort(-scores, kind="stable")[:10]]
        assert index.retriever.dense_top("passages", query, [doc_id], 10) == expected
        assert index.retriever.dense_top("passages", query, [doc_id], 10) == expected  # from the remembered rows
        assert ("passages", (doc_id,)) in index.retriever.row_cache


# --------------------------------------------------------------------------- gtindex serve


def citations(result: dict) -> list[tuple]:
    return [(hit["citation"], round(hit["score"], 4)) for hit in json.loads(result["stdout"])["hits"]]


def wait_for(path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"no socket at {path}"
        time.sleep(0.2)


@pytest.fixture()
def runtime_dir(tmp_path, monkeypatch):
    """A private socket folder for this test (the server and the clients look there)."""
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_served_search_answers_like_in_process_without_numerical_libraries(small_index, runtime_dir):
    args = ["search", "stopping rules", "--index", str(small_index), "--json"]
    alone = run_cli_in_subprocess(args)
    server = subprocess.Popen([sys.executable, "-m", "gtindex", "serve", "--index", small_index.name],
                              stderr=subprocess.PIPE, text=True, cwd=small_index.parent)  # a path relative to it
    try:
        path = serve.socket_path(small_index)
        wait_for(path)
        assert stat_mode(path) & 0o077 == 0  # nobody but the owner may connect
        served = run_cli_in_subprocess(args, env=dict(os.environ))
        assert served["code"] == 0 and citations(served) == citations(alone)
        assert not top_level(served["modules"]) & {"numpy", "faiss", "onnxruntime", "torch"}
        refused = run_cli_in_subprocess(["search", "rules", "--doc", "nope.pdf", "--index", str(small_index)])
        assert refused["code"] == 2  # the server's GtindexError is the client's
        # ... and names a path that works where the client is (the server's relative one did not)
        elsewhere = subprocess.run([sys.executable, "-m", "gtindex", "search", "rules", "--doc", "nope.pdf",
                                    "--index", str(small_index)], capture_output=True, text=True, cwd="/", timeout=300)
        assert elsewhere.returncode == 2 and f"--index {small_index.absolute()}`" in elsewhere.stderr, elsewhere.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0 and not path.exists()
    fallback = run_cli_in_subprocess(args)
    assert fallback["code"] == 0 and citations(fallback) == citations(alone)
    assert "onnxruntime" in top_level(fallback["modules"])  # searched in-process again


def stat_mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_a_stale_socket_is_ignored_by_clients_and_replaced_by_a_server(small_index, runtime_dir):
    path = serve.socket_path(small_index)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening: what a killed server leaves
    stale.close()
    assert serve.served_search(small_index, "stopping rules", {"k": 1}) is None
    serve._claim(path)
    assert not path.exists()


def test_the_server_reopens_a_newly_published_generation(small_index, tmp_path):
    from gtindex.index import generations
    from gtindex.search import Index

    index_dir = tmp_path / "index"
    shutil.copytree(small_index, index_dir)
    state = {"index": Index.open(index_dir)}
    try:
        assert serve._current(state, Index, index_dir) is state["index"]  # nothing new: kept
        live = generations.current_generation(index_dir)
        shutil.copytree(live, index_dir / "gen-000099")
        (index_dir / generations.CURRENT_FILE).write_text("gen-000099\n")
        reopened = serve._current(state, Index, index_dir)
        assert reopened.generation.path.name == "gen-000099" and state["index"] is reopened
        assert reopened.search("stopping rules", k=1)
    finally:
        state["index"].close()


def test_the_server_answers_bad_requests_with_one_line(small_index):
    from gtindex.search import Index

    state = {"index": Index.open(small_index)}
    try:
        assert serve._answer(b"not json\n", state, Index, small_index)["ok"] is False
        reply = serve._answer(json.dumps({"query": "rules", "filters": {"mode": "bogus"}}).encode(), state, Index,
                              small_index)
        assert reply["ok"] is False and "\n" not in reply["error"]
        reply = serve._answer(json.dumps({"query": "stopping rules", "filters": {"k": 2}}).encode(), state, Index,
                              small_index)
        assert reply["ok"] is True and len(reply["hits"]) == 2
        assert serve.hit_from_wire(reply["hits"][0]).doc == RARE
    finally:
        state["index"].close()


def test_the_console_command_skips_teardown_after_a_search_yet_keeps_output_and_exit_codes(small_index):
    """`gtindex` (cli.run) ends a search with os._exit: the JSON must be whole, the exit codes
    ripgrep's, and other commands must still end normally (atexit handlers run)."""
    def gtindex(*args: str) -> subprocess.CompletedProcess:
        code = ("import atexit, sys; atexit.register(lambda: sys.stderr.write('teardown ran\\n'));"
                "from gtindex.cli import run; sys.argv = ['gtindex', *sys.argv[1:]]; run()")
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)

    found = gtindex("search", "stopping rules", "--index", str(small_index), "--json", "-k", "3")
    assert found.returncode == 0 and len(json.loads(found.stdout)["hits"]) == 3
    assert "teardown ran" not in found.stderr
    nothing = gtindex("search", "zzqxv qqzzv", "--index", str(small_index), "--mode", "lexical")
    assert nothing.returncode == 1
    error = gtindex("search", "stopping rules", "--index", str(small_index), "--doc", "nope.pdf")
    assert error.returncode == 2 and "no document named" in error.stderr
    shown = gtindex("show", RARE, "--lines", "348-351", "--index", str(small_index))
    assert shown.returncode == 0 and "teardown ran" in shown.stderr


def test_a_reader_that_stops_reading_ends_a_search_with_0_not_nothing_found(small_index):
    """`gtindex search ... | head -1`: the hits were found and being printed; the closed pipe
    must not turn that into exit 1 (nothing found) or a traceback."""
    code = "import sys; from gtindex.cli import run; sys.argv = ['gtindex', *sys.argv[1:]]; run()"
    for extra in ([], ["--json"]):
        reader = subprocess.Popen(
            [sys.executable, "-c", code, "search", "stopping rules", "--index", str(small_index), "-k", "20", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "80"},
        )
        reader.stdout.read(1)
        reader.stdout.close()  # as `head -c 1` does
        stderr = reader.stderr.read().decode()
        assert reader.wait(timeout=300) == 0, stderr
        assert "Traceback" not in stderr and "Broken pipe" not in stderr


def test_doctor_read_by_a_reader_that_stops_still_says_whether_the_index_is_healthy(small_index, tmp_path):
    """`gtindex doctor | head -1`: the checks ran before anything was printed, so the closed
    pipe must not change the exit code (it was 1, with no message, whenever the pipe closed
    before doctor printed: four runs of five under `head -1`)."""
    code = "import sys; from gtindex.cli import run; sys.argv = ['gtindex', *sys.argv[1:]]; run()"
    damaged = tmp_path / "damaged"
    shutil.copytree(small_index, damaged)
    live = damaged / (damaged / "CURRENT").read_text().strip()
    (live / "vectors.faiss").write_bytes((live / "vectors.faiss").read_bytes()[:-8] + b"\0" * 8)
    for index, expected in ((small_index, 0), (damaged, 2)):
        reader = subprocess.Popen([sys.executable, "-c", code, "doctor", "--index", str(index), "--no-build-model"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader.stdout.close()  # before the checks end: the first line printed meets a closed pipe
        stderr = reader.stderr.read().decode()
        assert reader.wait(timeout=300) == expected, stderr
        assert "Traceback" not in stderr and "Broken pipe" not in stderr
