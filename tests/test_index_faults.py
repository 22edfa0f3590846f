"""A damaged index: search and show give one clear line and exit 2 (never a traceback or a
wrong answer), and `gtindex doctor` names the damage; on a healthy index every check is ok."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from gtindex.cli import main
from gtindex.doctor import diagnose

RARE = "fda-gt-rare-diseases-draft-2018.pdf"
QUERY = "stopping rules"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def copy_index(index_dir: Path, target: Path) -> Path:
    """A copy that shares unchanged files by hard link; `own_file` before changing one."""
    shutil.copytree(index_dir, target, copy_function=os.link)
    return target


def own_file(path: Path) -> Path:
    """Replace a hard link with a private copy, so that damaging it leaves the original intact."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


def live(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


# --------------------------------------------------------------------------- damage


def truncate(path: Path) -> None:
    data = own_file(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scramble_header(path: Path) -> None:
    """Same size, garbage where the format's magic and header are."""
    data = bytearray(own_file(path).read_bytes())
    data[:64] = bytes(range(7, 7 + 64))
    path.write_bytes(bytes(data))


def _rewrite_vectors(path: Path, change: Callable[[bytes], bytes]) -> None:
    """Same size, valid FAISS header; the vector block (the file's tail) replaced."""
    index = faiss.read_index(str(own_file(path)))
    data = bytearray(path.read_bytes())
    size = index.ntotal * index.d * 4
    data[-size:] = change(bytes(data[-size:]))
    path.write_bytes(bytes(data))


def randomize_vectors(path: Path) -> None:
    _rewrite_vectors(path, lambda block: np.random.default_rng(7).bytes(len(block)))


def rescale_vectors(path: Path) -> None:
    """Every vector doubled: no longer unit length, but every ranking is unchanged."""
    _rewrite_vectors(path, lambda block: (np.frombuffer(block, dtype=np.float32) * 2).astype(np.float32).tobytes())


def scribble_pages(path: Path) -> None:
    """Same size, 256 garbage bytes in the middle of every 4 KiB page after the first."""
    data = bytearray(own_file(path).read_bytes())
    for offset in range(4096 + 1024, len(data) - 256, 4096):
        data[offset : offset + 256] = b"\xde\xad\xbe\xef" * 64
    path.write_bytes(bytes(data))


def edit_manifest_model(path: Path) -> None:
    manifest = json.loads(own_file(path).read_text())
    manifest["model"] = "sentence-transformers/all-mpnet-base-v2"
    path.write_text(json.dumps(manifest))


def write(text: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.unlink()
        path.write_text(text)
    return damage


def remove(path: Path) -> None:
    path.unlink()


# (file relative to the index directory, {gen} = live generation; damage; doctor checks that must FAIL)
FAULTS = {
    "vectors missing": ("{gen}/vectors.faiss", remove, {"file checksums", "faiss vectors"}),
    "vectors truncated": ("{gen}/vectors.faiss", truncate, {"file checksums", "faiss vectors"}),
    "vectors header garbage": ("{gen}/vectors.faiss", scramble_header, {"file checksums", "faiss vectors"}),
    "vectors garbage": ("{gen}/vectors.faiss", randomize_vectors, {"file checksums", "every passage has its vector"}),
    "vectors rescaled": ("{gen}/vectors.faiss", rescale_vectors, {"file checksums", "every passage has its vector"}),
    "sqlite missing": ("{gen}/index.sqlite", remove, {"file checksums", "sqlite integrity"}),
    "sqlite truncated": ("{gen}/index.sqlite", truncate, {"file checksums", "sqlite integrity"}),
    "sqlite header garbage": ("{gen}/index.sqlite", scramble_header, {"file checksums", "sqlite integrity"}),
    "sqlite pages garbage": ("{gen}/index.sqlite", scribble_pages, {"file checksums", "sqlite integrity"}),
    "manifest missing": ("{gen}/manifest.json", remove, {"manifest"}),
    "manifest truncated": ("{gen}/manifest.json", truncate, {"manifest"}),
    "manifest names another model": ("{gen}/manifest.json", edit_manifest_model, {"manifest", "model matches the bundled model"}),
    "CURRENT missing": ("CURRENT", remove, {"live generation"}),
    "CURRENT empty": ("CURRENT", write(""), {"live generation"}),
    "CURRENT names a missing generation": ("CURRENT", write("gen-000099\n"), {"live generation"}),
    "CURRENT holds escape sequences": ("CURRENT", write("\x1b]0;pwned\x07\x1b[2J"), {"live generation"}),
    "onnx model missing": ("{gen}/model/model.onnx", remove, {"file checksums", "query encoder (onnx) reproduces stored vectors"}),
    "onnx model truncated": ("{gen}/model/model.onnx", truncate, {"file checksums", "query encoder (onnx) reproduces stored vectors"}),
    "onnx model garbage": ("{gen}/model/model.onnx", scramble_header, {"file checksums", "query encoder (onnx) reproduces stored vectors"}),
}


@pytest.fixture
def damaged(request, small_index, tmp_path) -> tuple[Path, set[str]]:
    name, damage, failing = FAULTS[request.param]
    index_dir = copy_index(small_index, tmp_path / "index")
    damage(index_dir / name.format(gen=live(index_dir).name))
    return index_dir, failing


def assert_one_line_error(result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gtindex: error: "), result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert any(word in lines[0] for word in expected), lines[0]


# Damage a query cannot meet: lexical search never loads vectors.faiss (a file of the right
# size passes the manifest check), and doubling every vector keeps every ranking. These
# must answer exactly as the healthy index does (never a wrong answer).
UNHARMED_MODES = {  # damage a mode never reads (a missing or truncated model fails every mode: open checks sizes)
    "onnx model garbage": ("lexical",),  # lexical search never runs the query model
    "vectors header garbage": ("lexical",),
    "vectors garbage": ("lexical",),
    "vectors rescaled": ("hybrid", "dense", "lexical"),
}


@pytest.mark.parametrize("damaged", list(FAULTS), indirect=True)
def test_search_on_a_damaged_index_exits_2_with_one_line(request, damaged, small_index):
    index_dir, _failing = damaged
    unharmed = UNHARMED_MODES.get(request.node.callspec.params["damaged"], ())
    for mode in ("hybrid", "dense", "lexical"):
        result = run("search", QUERY, "--index", index_dir, "--mode", mode, "--json", "-k", 3)
        if mode in unharmed:
            healthy = run("search", QUERY, "--index", small_index, "--mode", mode, "--json", "-k", 3)
            assert result.exit_code == 0 and json.loads(result.stdout) == json.loads(healthy.stdout)
        else:
            assert_one_line_error(result, "rebuild", "gtindex build")


@pytest.mark.parametrize("damaged", [f for f in FAULTS if FAULTS[f][0] not in ("{gen}/model/model.onnx", "{gen}/vectors.faiss")]
                         + ["vectors missing"], indirect=True)
def test_show_on_a_damaged_index_exits_2_with_one_line(damaged):
    # show reads no vectors and no model: only the damage it can meet
    index_dir, _failing = damaged
    assert_one_line_error(run("show", RARE, "--lines", "348-350", "--index", index_dir), "rebuild", "gtindex build")


@pytest.mark.parametrize("damaged", list(FAULTS), indirect=True)
def test_doctor_names_the_damage_and_exits_2(damaged):
    index_dir, failing = damaged
    result = run("doctor", "--index", index_dir, "--no-build-model")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "\x1b" not in result.output
    status = dict(reversed(re.match(r"(ok|FAIL) +([^:]+):", line).groups()) for line in result.stdout.splitlines()[:-1])
    assert {name for name, word in status.items() if word == "FAIL"} >= failing, result.stdout
    assert result.stdout.splitlines()[-1].endswith("checks failed")


def test_doctor_on_a_healthy_index_passes_every_check(small_index):
    before = {p: p.stat().st_mtime_ns for p in small_index.rglob("*") if p.is_file()}
    result = run("doctor", "--index", small_index)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{small_index}: healthy"
    checks = lines[:-1]
    assert len(checks) == 13 and all(line.startswith("ok    ") for line in checks), result.stdout
    assert any("bundled model (offline)" in line and "min cosine 1.0" in line for line in checks)
    # doctor writes nothing (the FTS5 check runs on an in-memory copy)
    assert {p: p.stat().st_mtime_ns for p in small_index.rglob("*") if p.is_file()} == before


def test_doctor_json_lists_every_check(small_index):
    result = run("doctor", "--index", small_index, "--json", "--no-build-model")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["generation"] == live(small_index).name
    assert [check["ok"] for check in payload["checks"]] == [True] * 12
    assert {"name", "ok", "detail"} == set(payload["checks"][0])


def test_doctor_finds_text_edited_in_place(small_index, tmp_path):
    """An edit that keeps the file size and SQLite's structure is invisible to a query
    (searching does not hash the index); doctor finds it three ways."""
    index_dir = copy_index(small_index, tmp_path / "index")
    sqlite = own_file(live(index_dir) / "index.sqlite")
    data = sqlite.read_bytes()
    assert b"study stopping" in data
    sqlite.write_bytes(data.replace(b"study stopping", b"study stoqping"))
    report = diagnose(index_dir, build_model=False)
    failed = {check.name: check.detail for check in report.failed}
    assert set(failed) >= {"file checksums", "fts5 integrity", "every passage has its vector"}
    assert "index.sqlite differs from its sha256" in failed["file checksums"]
    assert "does not match its content hash" in failed["every passage has its vector"]


def test_doctor_finds_bm25_postings_that_disagree_with_fts5(small_index, tmp_path):
    """Search ranks by the stored postings, never asking FTS5: stale or altered postings
    would rank wrongly without any error, so doctor compares them with FTS5's bm25()."""
    index_dir = copy_index(small_index, tmp_path / "index")
    sqlite_path = own_file(live(index_dir) / "index.sqlite")
    with sqlite3.connect(sqlite_path) as conn:
        term, impacts = conn.execute(  # the commonest word: the one doctor is sure to sample
            "SELECT term, impacts FROM passages_bm25 ORDER BY length(rowids) DESC, term LIMIT 1").fetchone()
        doubled = (np.frombuffer(impacts, dtype="<f4") * 2).astype("<f4").tobytes()
        conn.execute("UPDATE passages_bm25 SET impacts = ? WHERE term = ?", (doubled, term))
    report = diagnose(index_dir, build_model=False)
    failed = {check.name: check.detail for check in report.failed}
    assert f"passages_bm25 disagrees with FTS5 for the term {term!r}" in failed["bm25 postings agree with FTS5"]


def test_doctor_finds_a_layout_that_disagrees_with_the_tables(small_index, tmp_path):
    """Search maps candidate sentences to their passages and lines from the layout arrays
    alone: a layout out of step with span_passages would cite silently wrong places."""
    index_dir = copy_index(small_index, tmp_path / "index")
    sqlite_path = own_file(live(index_dir) / "index.sqlite")
    with sqlite3.connect(sqlite_path) as conn:
        span_id, passage_id = conn.execute("SELECT span_id, passage_id FROM span_passages LIMIT 1").fetchone()
        conn.execute("DELETE FROM span_passages WHERE span_id = ? AND passage_id = ?", (span_id, passage_id))
    report = diagnose(index_dir, build_model=False)
    failed = {check.name: check.detail for check in report.failed}
    assert "the layout disagrees with the tables (holder_offsets" in failed["layout agrees with the tables"]


def test_doctor_without_an_index(tmp_path):
    result = run("doctor", "--index", tmp_path / "nothing-here")
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0].startswith("FAIL  live generation: no index at")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("damage", ["manifest", "pointer"])
def test_a_plain_rebuild_of_an_index_whose_sources_cannot_be_read_asks_for_them(small_index, tmp_path, monkeypatch,
                                                                                 damage):
    """`gtindex build --rebuild`, as the errors advise, read no sources from a damaged manifest
    and rebuilt corpus/ of the folder it ran in (53 documents in place of 2), or failed with
    'no documents in corpus/' elsewhere."""
    index_dir = copy_index(small_index, tmp_path / "idx")
    if damage == "manifest":
        own_file(live(index_dir) / "manifest.json").write_text("{bad")
    else:
        own_file(index_dir / "CURRENT").write_text("garbage\n")
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # where corpus/ is the default

    result = run("build", "--rebuild", "--index", index_dir)

    assert result.exit_code == 2
    assert result.stderr == (f"gtindex: error: {index_dir} records no sources that can be read (its CURRENT or manifest "
                             f"is damaged); give them: `gtindex build --rebuild SOURCES --index {index_dir}`\n")


@pytest.mark.parametrize("damage", ["vectors.faiss", "spans.faiss", "model"])
def test_a_plain_build_mends_a_damaged_live_generation(small_index, tmp_path, damage):
    """It said 'up to date, nothing written', exit 0, and search went on failing."""
    index_dir = copy_index(small_index, tmp_path / "idx")
    damaged_path = live(index_dir) / damage
    if damage == "model":
        shutil.rmtree(damaged_path)
    else:
        own_file(damaged_path)
        truncate(damaged_path)
    assert run("search", QUERY, "--index", index_dir).exit_code == 2

    result = run("build", "--index", index_dir, "--json")

    assert result.exit_code == 0 and not json.loads(result.stdout)["up_to_date"], result.output
    assert json.loads(result.stdout)["embedded"] == 0  # the vectors come from the cache
    assert run("search", QUERY, "--index", index_dir).exit_code == 0
    assert run("doctor", "--index", index_dir).exit_code == 0


def test_a_damaged_index_never_crashes_in_a_fresh_process(small_index, tmp_path):
    """The real entry point, not CliRunner: exit 2 and one line on stderr."""
    import subprocess
    import sys

    index_dir = copy_index(small_index, tmp_path / "index")
    scribble_pages(live(index_dir) / "index.sqlite")
    completed = subprocess.run([sys.executable, "-m", "gtindex", "search", QUERY, "--index", str(index_dir)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2
    assert completed.stdout == "" and len(completed.stderr.splitlines()) == 1
    assert "gtindex doctor" in completed.stderr or "rebuild" in completed.stderr
