"""Embeddings: the bundled model offline, its ONNX export, and the torch-free query path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from gtindex import embedding
from gtindex.embedding import DIM, MAX_TOKENS, count_tokens, export_onnx, load_query_encoder
from gtindex.errors import GtindexError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def build_encoder():
    return embedding.load_build_encoder()


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory) -> Path:
    """One export per test session: it takes several seconds."""
    return export_onnx(tmp_path_factory.mktemp("onnx-model"))


@pytest.fixture(scope="session")
def query_encoder(onnx_dir):
    return load_query_encoder(onnx_dir)


def varied_texts() -> list[str]:
    """About 50 texts: short queries, passages far beyond 256 tokens, unicode, near-empty."""
    queries = [
        "stopping rules", "criteria to halt a study", "potency assay", "RCR testing",
        "long-term follow-up of gene therapy subjects", "CMC", "AAV vector shedding",
        "What is a replication competent retrovirus?", "21 CFR 312.23(a)(7)", "IND",
    ]
    passages = [
        "The sponsor should describe the manufacturing process, including cell banking, "
        "vector production, purification and formulation, and the in-process controls. " * k
        for k in (1, 3, 8, 20)
    ] + [
        " ".join(f"line {i} of a guidance document on clinical trial design." for i in range(60)),
        "Section IV.B.2. Dose escalation: sentinel dosing and staggered enrolment " * 12,
    ]
    unicode = [
        "Gene therapy — ÄÖÜ äöü ß", "日本語の文章です。遺伝子治療", "émulsion, naïve, café",
        "“curly quotes” and ‘single’ ones…", "α-galactosidase β-thalassemia γ-retroviral",
        "emoji 🧬 🧪 ✓", "ﬁ ligature and ﬂ", "Ωmega ≤ ≥ ± µg/mL", "\u00a0non-breaking\u00a0space",
        "Ελληνικά και русский текст",
    ]
    near_empty = ["", " ", "\n", ".", "a", "-", "\t\t", "  x  "]
    mixed = [f"Question {i}: how should lot release testing address {w}?"
             for i, w in enumerate(["identity", "purity", "potency", "sterility", "endotoxin",
                                    "mycoplasma", "adventitious agents", "vector genome titer",
                                    "empty capsids", "residual host cell DNA",
                                    "replication competent AAV", "stability", "container closure",
                                    "tumorigenicity", "biodistribution", "dose selection"])]
    texts = queries + passages + unicode + near_empty + mixed
    assert len(texts) >= 50
    return texts


def test_bundled_model_loads_offline_and_embeds_meaningfully(build_encoder):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert build_encoder.dim == DIM
    assert build_encoder.name == embedding.MODEL_NAME
    stop, halt, coating = build_encoder.encode(
        ["stopping rules for a clinical trial", "criteria to halt a study", "tablet colour coating"]
    )
    assert stop.dtype == np.float32 and stop.shape == (DIM,)
    assert np.linalg.norm(stop) == pytest.approx(1.0, abs=1e-5)
    assert float(stop @ halt) > float(stop @ coating) + 0.1
    assert float(stop @ halt) > float(halt @ coating) + 0.1


def test_bundled_model_dir_is_the_package_copy():
    path = embedding.bundled_model_dir()
    assert (path / "model.safetensors").is_file()
    assert (path / "tokenizer.json").is_file()


def test_onnx_matches_sentence_transformers(build_encoder, query_encoder, onnx_dir):
    texts = varied_texts()
    assert max(count_tokens(texts)) > MAX_TOKENS  # truncation is exercised
    reference = build_encoder.encode(texts, batch_size=16)
    fast_start = load_query_encoder(onnx_dir, fast_start=True)
    # several padded batches; one batch padded to 256
    for encoder, batch_size in ((query_encoder, 7), (query_encoder, 64), (fast_start, 7)):
        onnx = encoder.encode(texts, batch_size=batch_size)
        assert onnx.shape == (len(texts), DIM) and onnx.dtype == np.float32
        cosines = np.sum(onnx * reference, axis=1)
        assert cosines.min() >= 0.9999, texts[int(cosines.argmin())]
        assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)


def test_text_beyond_max_tokens_is_truncated(query_encoder):
    head = "Potency assays must measure the biological activity of the product. " * 30
    assert count_tokens([head])[0] > MAX_TOKENS
    same_head, other_tail = query_encoder.encode([head, head + " Unrelated tail about tablets."])
    assert float(same_head @ other_tail) == pytest.approx(1.0, abs=1e-6)


def test_encode_order_and_progress_survive_length_sorting(build_encoder, query_encoder):
    texts = ["short", "a much longer text about vector shedding " * 10, "mid length text here"]
    for encoder in (build_encoder, query_encoder):
        steps: list[int] = []
        together = encoder.encode(texts, batch_size=2, progress=steps.append)
        one_by_one = np.vstack([encoder.encode([t]) for t in texts])
        assert np.allclose(together, one_by_one, atol=1e-5)
        assert sum(steps) == len(texts) and len(steps) == 2
        assert encoder.encode([]).shape == (0, DIM)


def test_count_tokens_includes_special_tokens():
    assert count_tokens(["", "hello", "hello world"]) == [2, 3, 4]
    assert count_tokens(["word " * 1000])[0] == 1002  # not truncated


def test_export_writes_model_tokenizer_and_config(onnx_dir):
    config = json.loads((onnx_dir / embedding.CONFIG_FILE).read_text())
    assert config["dim"] == DIM and config["max_tokens"] == MAX_TOKENS
    assert config["pooling"] == "mean" and config["normalize"] is True
    assert config["files"] == list(embedding.MODEL_FILES)
    assert sorted(p.name for p in onnx_dir.iterdir()) == sorted(embedding.MODEL_FILES)
    assert (onnx_dir / "model.onnx.data").stat().st_size > 80_000_000  # fp32 weights, ~90 MB
    graph = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False).graph
    assert {node.domain for node in graph.node} == {""}  # standard operators: any runtime
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert (onnx_dir / "tokenizer.json").read_bytes() == (
        embedding.bundled_model_dir() / "tokenizer.json"
    ).read_bytes()


def test_export_is_deterministic_and_can_overwrite(onnx_dir, tmp_path):
    shutil.copytree(onnx_dir, tmp_path / "model")
    again = export_onnx(tmp_path / "model")  # over an existing export: replaced, not appended to
    for name in embedding.MODEL_FILES:
        assert (again / name).read_bytes() == (onnx_dir / name).read_bytes(), name


def test_query_path_imports_no_torch(onnx_dir, tmp_path):
    code = (
        "import sys, gtindex.embedding as e\n"
        f"v = e.load_query_encoder({str(onnx_dir)!r}).encode(['x'])\n"
        "assert v.shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []  # nothing cached under HOME


def test_missing_or_damaged_query_model_is_a_clear_error(onnx_dir, tmp_path):
    with pytest.raises(GtindexError, match="missing"):
        load_query_encoder(tmp_path / "nowhere")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in embedding.MODEL_FILES:
        (damaged / name).write_bytes((onnx_dir / name).read_bytes())
    for name in ("model.onnx", "model.onnx.data"):
        intact = (onnx_dir / name).read_bytes()
        (damaged / name).write_bytes(intact[: len(intact) // 2])
        with pytest.raises(GtindexError, match="rebuild the index"):
            load_query_encoder(damaged)
        (damaged / name).write_bytes(intact)
    (damaged / "tokenizer.json").write_text("{}")
    with pytest.raises(GtindexError, match="tokenizer"):
        load_query_encoder(damaged)
    (damaged / embedding.CONFIG_FILE).write_text("{not json")
    with pytest.raises(GtindexError, match="damaged"):
        load_query_encoder(damaged)


def test_sentences_using_a_defined_acronym_are_embedded_with_its_long_form(small_index):
    """Real index (Rare Diseases draft + a web page): a sentence that uses an acronym its
    document defines is stored and cited as printed, never embedded bare; the passages it is
    read in are embedded followed by the long form (their vectors are the embeddings of that
    text, not of the text as printed), so the sentence's vector, read in the same pass, has it."""
    from gtindex.acronyms import gloss, glossed
    from gtindex.embedding import MODEL_NAME
    from gtindex.index import generations, schema
    from gtindex.passages import content_hash, heading, under

    generation = generations.open_generation(small_index, MODEL_NAME, DIM)
    conn = schema.connect_readonly(generation.sqlite_path)
    doc_id, = conn.execute("SELECT doc_id FROM documents WHERE doc = 'fda-gt-rare-diseases-draft-2018.pdf'").fetchone()
    terms = schema.glossaries(conn)[doc_id]
    spans = conn.execute("SELECT span_id, text, content_hash FROM spans WHERE doc_id = ?", (doc_id,)).fetchall()
    using = [(span_id, text, stored) for span_id, text, stored in spans if gloss(text, terms)]
    assert len(using) >= 10  # the draft defines GT, LTFU, ... and uses them alone
    encoder = load_query_encoder(generation.model_dir)
    cached = {key for (key,) in conn.execute("SELECT content_hash FROM embeddings")}
    checked = 0
    for span_id, text, stored in sorted(using, key=lambda row: len(row[1]))[:20]:  # long forms weigh most
        assert stored == content_hash(glossed(text, gloss(text, terms))) != content_hash(text)
        assert content_hash(text) not in cached  # the bare sentence was never embedded
        holders = conn.execute(
            "SELECT title, section, passages.text, passages.content_hash, vector FROM span_passages"
            " JOIN passages USING (passage_id) JOIN embeddings USING (content_hash) WHERE span_id = ?",
            (span_id,)).fetchall()
        for title, section, lines, key, blob in holders:
            printed = under(heading(title, section), lines)
            embedded = glossed(printed, gloss(printed, terms))  # none where the passage spells it out
            assert key == content_hash(embedded)
            if embedded != printed:
                vector = np.frombuffer(blob, dtype=np.float32)
                assert float(vector @ encoder.encode([embedded])[0]) > 0.999
                assert float(vector @ encoder.encode([printed])[0]) < 0.999
                checked += 1
    assert checked >= 3
