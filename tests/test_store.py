"""The index directory: generations, manifest checks, reuse of parsed lines and embeddings."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from conftest import HTML_DIR
from gtindex.index import lock, schema
from gtindex.index.manifest import file_sha256
from gtindex.index.layout import Layout
from gtindex.build import build_index
from gtindex.embedding import DIM, MODEL_NAME
from gtindex.errors import GtindexError
from gtindex.search import Index

PAGES = sorted(HTML_DIR.glob("*.html"))


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """Two builds over the three real web pages: the second finds nothing to parse, embed or write."""
    sources = tmp_path_factory.mktemp("sources")
    for page in PAGES:
        shutil.copy(page, sources / page.name)
    index_dir = tmp_path_factory.mktemp("index") / "idx"
    first = build_index([sources], index_dir)
    second = build_index([sources], index_dir)
    return sources, index_dir, first, second


def test_generation_layout_and_manifest(small_index):
    _sources, index_dir, first, second = small_index
    assert second.up_to_date and second.generation == first.generation == "gen-000001"
    assert (index_dir / "CURRENT").read_text().strip() == "gen-000001"
    live = index_dir / second.generation
    for name in ("manifest.json", "index.sqlite", "vectors.faiss", "spans.faiss", "model/model.onnx",
                 "model/tokenizer.json"):
        assert (live / name).is_file(), name
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["model"] == MODEL_NAME and manifest["dim"] == DIM
    assert manifest["index_format"] == schema.INDEX_FORMAT
    assert manifest["counts"]["documents"] == first.documents == 3
    assert manifest["sha256"]["index.sqlite"] == file_sha256(live / "index.sqlite")
    assert manifest["sha256"]["model/model.onnx"] == file_sha256(live / "model/model.onnx")
    # an unchanged rebuild writes no generation; no staging directories are left
    assert sorted(p.name for p in index_dir.iterdir() if p.is_dir()) == ["gen-000001"]


def test_sqlite_is_readable_without_gtindex(small_index):
    _sources, index_dir, first, _second = small_index
    conn = sqlite3.connect(index_dir / "gen-000001" / "index.sqlite")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"documents", "doc_names", "lines", "passages", "passages_fts", "embeddings", "meta", "spans",
            "spans_fts"} <= tables
    assert conn.execute("SELECT count(*) FROM passages").fetchone()[0] == first.passages
    assert conn.execute("SELECT count(*), min(vector_row), max(vector_row) FROM spans").fetchone() == (
        first.spans, 0, first.spans - 1)
    hits = conn.execute(
        "SELECT passages.section FROM passages_fts JOIN passages ON passage_id = passages_fts.rowid"
        " WHERE passages_fts MATCH 'registries' ORDER BY bm25(passages_fts)"
    ).fetchall()
    assert hits, "porter stemming: 'registries' finds 'registry'"
    blob = conn.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()[0]
    assert len(blob) == DIM * 4
    # bm25 postings: little-endian int32 rowids and float32 scores, one row per stemmed term
    rowids, impacts = conn.execute("SELECT rowids, impacts FROM passages_bm25 WHERE term = 'registri'").fetchone()
    assert len(rowids) == len(impacts) == 4 * len(hits)
    # every sentence has a passage holding it
    assert conn.execute("SELECT count(DISTINCT span_id) FROM span_passages").fetchone()[0] == first.spans


def test_passages_carry_their_documents_title_embedded_and_indexed(small_index):
    """The title is part of every passage's embedded text (its content hash) and a bm25
    column of its own, so a word that only the title says still finds the document."""
    from gtindex import lexical
    from gtindex.acronyms import gloss, glossed
    from gtindex.passages import content_hash, heading

    _sources, index_dir, _first, _second = small_index
    conn = sqlite3.connect(index_dir / "gen-000001" / "index.sqlite")
    titles = dict(conn.execute("SELECT doc_id, title FROM documents"))
    assert all(titles.values())
    terms = schema.glossaries(conn)
    for doc_id, title, section, text, digest in conn.execute(
            "SELECT doc_id, title, section, text, content_hash FROM passages"):
        assert title == titles[doc_id]
        embedded = f"{heading(title, section)}\n{text}"
        assert digest == content_hash(glossed(embedded, gloss(embedded, terms[doc_id])))
    doc_id, title = next(iter(titles.items()))
    word = next(w for w in lexical.tokenize(title) if w not in lexical.STOPWORDS)
    holding = {d for d, t in titles.items() if word in lexical.tokenize(t)}
    own = {row[0] for row in conn.execute(
        f"SELECT passage_id FROM passages WHERE doc_id IN ({','.join('?' * len(holding))})", sorted(holding))}
    by_title = {row[0] for row in conn.execute("SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?",
                                               (f'title : "{word}"',))}
    assert by_title == own
    found = {pid for pid, _ in lexical.search(conn, lexical.build_query(word), len(own) + 1000)}
    assert own <= found


def test_sentence_vectors_are_read_inside_their_passage(small_index):
    """spans.faiss row i: the mean of the sentence's word pieces' output vectors when the
    passage where it sits nearest the middle goes through the model (late chunking), cached
    under spans.context_hash for the next build. Checked against a fresh pass of the
    bundled model over that passage; the passage around it changes every such vector."""
    import numpy as np

    from gtindex.dense import DenseIndex
    from gtindex.embedding import load_build_encoder
    from gtindex.passages import content_hash, make_passages, make_spans, reading_key, reading_places
    from gtindex.sources.html import parse_html

    _sources, index_dir, _first, _second = small_index
    live = index_dir / "gen-000001"
    conn = sqlite3.connect(live / "index.sqlite")
    cached = {key: np.frombuffer(blob, dtype=np.float32) for key, blob in conn.execute("SELECT * FROM embeddings")}
    vectors = DenseIndex.load(live / "spans.faiss").vectors()
    stored = {(doc, start, end, text): (key, row) for doc, start, end, text, key, row in conn.execute(
        "SELECT doc, seq_start, seq_end, text, context_hash, vector_row FROM spans JOIN documents USING (doc_id)")}
    assert len(stored) == len(vectors)
    documents = [parse_html(page) for page in PAGES]
    passages = [p for document in documents for p in make_passages(document)]
    spans = [s for document in documents for s in make_spans(document)]
    places = reading_places(passages, spans)
    assert len(spans) == len(stored)
    # A sentence that straddles the end of every window holding it is embedded after its
    # heading instead (one on the NGVB page); every other sentence is read in a passage.
    unread = [span for span, place in zip(spans, places) if place is None]
    assert 0 < len(unread) <= 2
    for span in unread:
        assert stored[(span.doc, span.seq_start, span.seq_end, span.text)][0] == content_hash(span.context_text)
    encoder = load_build_encoder()
    for span, place in [(span, place) for span, place in zip(spans, places) if place][::9]:
        passage = passages[place.passage]
        assert " ".join(passage.embed_text[place.start:place.end].split()) == " ".join(span.text.split())
        key, row = stored[(span.doc, span.seq_start, span.seq_end, span.text)]
        assert key == reading_key(passage, place)
        _, read = encoder.read([passage.embed_text], [[(place.start, place.end)]])
        assert np.allclose(vectors[row], read[0][0], atol=1e-5) and np.array_equal(vectors[row], cached[key])
        alone = encoder.encode([span.embed_text])[0]
        assert float(alone @ read[0][0]) < 0.99


def test_layout_maps_sentences_to_their_places_and_passages():
    conn = sqlite3.connect(":memory:")
    conn.executescript(schema.SCHEMA)
    spans = [(7, 10, 12), (7, 13, 13), (8, 0, 1)]  # span ids 1-3: (doc_id, seq_start, seq_end)
    pairs = [(1, 1), (1, 2), (2, 2), (3, 3)]  # (span_id, passage_id)
    Layout.of(spans, pairs, passage_docs=[7, 7, 8]).write(conn)
    layout = Layout.read(conn)
    assert layout.doc[1:].tolist() == [7, 7, 8] and layout.seq_start[1:].tolist() == [10, 13, 0]
    assert layout.seq_end[1:].tolist() == [12, 13, 1]
    assert [layout.holders(span_id).tolist() for span_id in (1, 2, 3)] == [[1, 2], [2], [3]]
    assert sorted(layout.held([2]).tolist()) == [1, 2] and layout.held([3]).tolist() == [3]
    assert layout.held([]).tolist() == []
    assert layout.span_count == 3 and layout.passage_count == 3
    assert layout.in_documents("spans", [8]).tolist() == [False, False, False, True]
    assert layout.in_documents("passages", [7]).tolist() == [False, True, True, False]


def test_second_build_reuses_parsed_lines_and_embeddings(small_index):
    _sources, _index_dir, first, second = small_index
    assert first.reparsed == 3 and first.embedded > 0
    assert second.reparsed == 0 and second.embedded == 0
    assert second.reused == first.embedded + first.reused
    assert second.passages == first.passages


def test_changed_file_is_reparsed_and_only_new_text_embedded(small_index, tmp_path):
    sources, index_dir, _first, second = small_index
    work = tmp_path / "idx"
    shutil.copytree(index_dir, work)
    page = sources / "asgct-strategic-plan.html"
    changed = tmp_path / "src"
    shutil.copytree(sources, changed)
    text = page.read_text(encoding="utf-8").replace("</main>", "<p>A brand new closing paragraph on vector shedding.</p></main>")
    (changed / page.name).write_text(text, encoding="utf-8")
    third = build_index([changed], work)
    assert third.reparsed == 1
    assert 0 < third.embedded < 10
    with Index.open(work) as index:
        hit = index.search("vector shedding closing paragraph", k=1)[0]
        assert hit.doc == page.name and "brand new closing paragraph" in hit.text


def test_same_content_under_two_names_is_indexed_once(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    shutil.copy(HTML_DIR / "asgct-strategic-plan.html", sources / "a-plan.html")
    shutil.copy(HTML_DIR / "asgct-strategic-plan.html", sources / "b-plan-copy.html")
    report = build_index([sources], tmp_path / "idx")
    assert report.documents == 1
    assert report.duplicates == [("b-plan-copy.html", "a-plan.html")]
    with Index.open(tmp_path / "idx") as index:
        assert index.find_document("b-plan-copy.html").doc == "a-plan.html"


def test_bad_file_is_skipped_and_reported_and_all_bad_keeps_the_index(small_index, tmp_path):
    sources, index_dir, _first, _second = small_index
    work = tmp_path / "idx"
    shutil.copytree(index_dir, work)
    mixed = tmp_path / "mixed"
    shutil.copytree(sources, mixed)
    (mixed / "broken.pdf").write_bytes(b"<html><body>404 not found</body></html>")
    report = build_index([mixed], work)
    assert report.documents == 3
    assert [name for name, _ in report.skipped] == ["broken.pdf"]
    live = (work / "CURRENT").read_text()
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "broken.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(GtindexError, match="broken.pdf"):
        build_index([only_bad], work)
    assert (work / "CURRENT").read_text() == live
    assert not list(work.glob("gen-new-*"))


def test_open_rejects_other_model_missing_and_truncated_files(small_index, tmp_path):
    _sources, index_dir, _first, _second = small_index
    work = tmp_path / "idx"
    shutil.copytree(index_dir, work)
    live = work / (work / "CURRENT").read_text().strip()
    manifest_path = live / "manifest.json"
    manifest = json.loads(manifest_path.read_text())

    manifest_path.write_text(json.dumps(dict(manifest, model="other/model", dim=768)))
    with pytest.raises(GtindexError, match="built with .*other/model.*rebuild with `gtindex build --rebuild`"):
        Index.open(work)

    manifest_path.write_text(json.dumps(manifest))
    with open(live / "vectors.faiss", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(GtindexError, match="vectors.faiss is truncated"):
        Index.open(work)

    (live / "vectors.faiss").unlink()
    with pytest.raises(GtindexError, match="vectors.faiss is missing"):
        Index.open(work)

    with pytest.raises(GtindexError, match="no index at"):
        Index.open(tmp_path / "nothing-here")


def test_one_writer_at_a_time(tmp_path):
    with lock.writer_lock(tmp_path / "idx"):
        with pytest.raises(GtindexError, match=r"process \d+ is updating .*idx"):
            with lock.writer_lock(tmp_path / "idx"):
                pass


def test_a_name_spelled_another_way_finds_the_one_document_so_spelled(tmp_path):
    """"page" for page.htm, "upper" for UPPER.PDF, "café" in either Unicode form: each exited
    2 with "did you mean page.htm?" (the README says names work without their extension)."""
    from gtindex.errors import GtindexError
    from gtindex.index.catalogue import resolve

    composed, decomposed = "caf\u00e9-guidance.pdf", "cafe\u0301-guidance.pdf"
    names = {"page.htm": "a" * 64, "UPPER.PDF": "b" * 64, composed: "c" * 64, "plan.html": "d" * 64,
             "plan.pdf": "e" * 64, "Twice.pdf": "f" * 64, "twice.PDF": "0" * 64}
    assert resolve(names, "page", tmp_path) == {"page.htm"}
    assert resolve(names, "upper", tmp_path) == {"UPPER.PDF"}
    assert resolve(names, "upper.pdf", tmp_path) == {"UPPER.PDF"}
    assert resolve(names, decomposed, tmp_path) == {composed}
    assert resolve(names, "plan", tmp_path) == {"plan.pdf"}  # the exact forms first, as before
    with pytest.raises(GtindexError, match="could be Twice.pdf, twice.PDF; give the whole file name"):
        resolve(names, "TWICE", tmp_path)
