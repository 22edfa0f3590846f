"""The corpus-tuned model layers (gtindex/model/): they load, they are what every encoder
embeds with, a damaged file is a clear error, and the mining that rebuilds them works on
the corpus's own text."""
from __future__ import annotations

import hashlib
import random
import sqlite3

import numpy as np
import pytest
import torch

from gtindex import embedding, model
from gtindex.errors import GtindexError
from gtindex.index import generations, schema
from gtindex.model import finetune


def _bundled_bert():
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(embedding.bundled_model_dir()), local_files_only=True)


def test_the_tuned_file_is_the_one_the_model_name_records():
    # A retrained file must come with a new MODEL_NAME: indexes record the name, and vectors
    # of two models must never meet in one index.
    digest = hashlib.sha256(model.TUNED_PATH.read_bytes()).hexdigest()
    assert digest == model.TUNED_SHA256, "the tuned layers changed: bump MODEL_NAME and TUNED_SHA256"
    assert embedding.MODEL_NAME.endswith(model.TUNED_VERSION)


def test_the_tuned_layers_fit_the_bundled_model_and_differ_from_it():
    bert = _bundled_bert()
    bundled = {name: tensor.clone() for name, tensor in bert.state_dict().items()}
    tuned = model.tuned_state()
    assert set(tuned) == {name for name in bundled if not name.startswith("embeddings.")}
    # trained, not a copy of the bundled layers: most tensors moved by more than fp16 rounding
    # alone moves them (a relative 0.0004 at most; training moved the median tensor 0.002)
    moved = [name for name in tuned if (tuned[name] - bundled[name]).norm() > 1e-3 * bundled[name].norm()]
    assert len(moved) > len(tuned) // 2
    model.apply_tuning(bert)
    after = bert.state_dict()
    assert all(torch.equal(after[name], tuned[name]) for name in tuned)
    assert all(torch.equal(after[name], bundled[name]) for name in bundled if name.startswith("embeddings."))


def test_the_build_encoder_embeds_with_the_tuned_layers():
    from sentence_transformers import SentenceTransformer

    build_encoder = embedding.load_build_encoder()
    text = ["How long should patients be followed after gene therapy?"]
    untuned = SentenceTransformer(str(embedding.bundled_model_dir()), device="cpu", local_files_only=True)
    plain = untuned.encode(text, normalize_embeddings=True)[0]
    tuned = build_encoder.encode(text)[0]
    assert float(plain @ tuned) < 0.999  # the tuning is applied
    assert float(plain @ tuned) > 0.8  # and it adapted the model, it did not replace it


def test_a_damaged_tuned_file_is_a_one_line_error(tmp_path, monkeypatch):
    damaged = tmp_path / model.TUNED_FILE
    damaged.write_bytes(b"\x00not safetensors")
    monkeypatch.setattr(model, "TUNED_PATH", damaged)
    with pytest.raises(GtindexError, match="cannot read the tuned model layers .*reinstall gtindex") as caught:
        model.tuned_state()
    assert "\n" not in str(caught.value)


def test_layers_of_another_shape_are_refused(monkeypatch):
    tuned = model.tuned_state()
    monkeypatch.setattr(model, "tuned_state", lambda: {k: v for k, v in tuned.items() if "layer.5." not in k})
    with pytest.raises(GtindexError, match="do not fit the bundled model"):
        model.apply_tuning(_bundled_bert())


def test_a_printed_question_is_paired_with_the_text_after_it():
    title = {1: "Dietary Supplement Q&A"}
    written = lambda doc, section, text: "\n".join(x for x in (title[doc], section, text) if x)
    answer = "Yes. The responsible person must still submit a report to FDA within 15 business days of receiving it, with a copy of the label."
    question = "28. [Updated September 2013] If the supplement has been discontinued, must a report be submitted?"
    pair = finetune._question(question, (1, "IV. Reports", f"{question} {answer}"), written)
    assert pair.kind == "question"
    assert pair.query == "If the supplement has been discontinued, must a report be submitted?"
    assert pair.passage == f"Dietary Supplement Q&A\nIV. Reports\n{answer}"
    assert finetune._question("A statement, not a question.", (1, "", answer), written) is None
    assert finetune._question("Is it short?", (1, "", f"Is it short? {answer}"), written) is None


def test_a_heading_and_a_question_are_paired_with_the_sentence_that_opens_their_answer():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE spans (doc_id, seq_start, text)")
    conn.execute("CREATE TABLE lines (doc_id, seq, section)")
    sentences = [
        (1, "V.D Stopping Rules", "Stopping rules define when a trial halts for safety concerns in subjects."),
        (1, "V.D Stopping Rules", "They should be described in the protocol before any subject is dosed."),
        (1, "V.D Stopping Rules", "Report each halt to the review division within fifteen calendar days."),
        (1, "VI. Questions", "3. Must the sponsor report every death to the agency?"),
        (1, "VI. Questions", "Yes. Each death is reported within seven calendar days of the sponsor learning of it."),
    ]
    for seq, (doc, section, text) in enumerate(sentences):
        conn.execute("INSERT INTO spans VALUES (?, ?, ?)", (doc, seq, text))
        conn.execute("INSERT INTO lines VALUES (?, ?, ?)", (doc, seq, section))
    pairs = {(p.kind, p.query): (p.passage, p.negative) for p in finetune._sentence_pairs(conn, random.Random(13))}
    assert pairs == {
        # the first sentence, against a later one of the section (not the second: it goes on with the first)
        ("heading-sentence", "Stopping Rules"): (sentences[0][2], sentences[2][2]),
        ("question-sentence", "Must the sponsor report every death to the agency?"): (sentences[4][2], ""),
    }  # and no heading pair for "VI. Questions": one word is too little to be a query


@pytest.mark.slow
def test_mining_the_corpus_gives_every_kind_of_pair_and_never_the_answer_verbatim(corpus_index):
    conn = schema.connect_readonly(generations.current_generation(corpus_index) / generations.SQLITE_FILE)
    pairs = finetune.mine(conn)
    again = finetune.mine(conn)
    conn.close()
    assert pairs == again  # seeded: the same corpus gives the same pairs
    kinds = {kind: [p for p in pairs if p.kind == kind] for kind in finetune.KINDS}
    assert len(kinds["question"]) >= 100 and len(kinds["heading"]) >= 500 and len(kinds["cloze"]) >= 1000
    assert len(kinds["question-sentence"]) >= 50 and len(kinds["heading-sentence"]) >= 500
    assert all(p.query.endswith("?") for p in kinds["question"] + kinds["question-sentence"])
    # the query is cut out of its passage: the model must learn to find it, not to copy it
    assert all(p.query not in p.passage for p in kinds["cloze"] + kinds["question"] + kinds["heading-sentence"])
    # a sentence after a question is taken as split (a run of short questions may be one
    # sentence): it may hold the question, which the shipped mining keeps (1 of 129 today)
    answers = kinds["question-sentence"]
    assert sum(p.query in p.passage for p in answers) <= 0.02 * len(answers)
    passages = kinds["question"] + kinds["heading"] + kinds["cloze"]
    assert np.mean([len(p.passage.split()) for p in passages]) > 40
    # a sentence is written as the index embeds it alone: no title, no section path
    sentences = kinds["question-sentence"] + kinds["heading-sentence"]
    assert all("\n" not in p.passage and len(p.passage.split()) >= 8 for p in sentences)
    negatives = [p for p in kinds["heading-sentence"] if p.negative]
    assert len(negatives) >= 500 and all(p.negative != p.passage for p in negatives)
