"""The sentence-level cross-encoder experiment of issue 13 (seventh session), kept so that its
figures can be checked and the model rebuilt. Nothing in gtindex uses it: it reordered the
first hits worse than the fusion on every set.

    python -m bench.sentence_reranker mine  --index DIR --out groups.jsonl [--seed 13]
    python -m bench.sentence_reranker train --groups groups.jsonl --out ce.pt [--seed 13]
    python -m bench.sentence_reranker score --index DIR --model ce.pt

Unlike `bench/cross_encoder.py` (passages, the untuned MiniLM, 1,280 examples), it reads a
query and one cited sentence together, starts from the shipped corpus-tuned layers, and
reorders gtindex's own first hits. Training groups are mined from the corpus, never from
gold answers: the sentence-level pairs of `gtindex.model.finetune` (a printed question → the
sentence after it, a section heading → the section's first sentence with a later sentence
of the section as a hard negative) and 1,500 cropped runs of a sentence's own words → the
sentence (against a later sentence of its section). Each query's other negatives are the
shipped search's first 10 hits that neither hold the positive nor lie in its section (a hit
of the same section may answer too). The model: the tuned MiniLM with a linear head on the
mean-pooled pair, trained listwise (softmax over the positive and its negatives), one pass,
4 groups a step, learning rate 2e-5, its word embeddings frozen: settings set before scoring.

Measured 2026-12-06 on an index of format 6, before texts carried their acronyms' long forms
(2 CPU cores; 3,215 groups: 1,631 headings, 1,500 crops, 84 questions; 6.5 negatives each;
803 steps, 13 min).
hit@1 / hit@5 / MRR@10 / exact lines@1, `gtindex eval`'s scorer:

    set     shipped                    model, first 5            fused with the hit order (RRF), first 3 / first 5
    dev     0.55 / 0.82 / 0.644 / 0.67  0.33 / 0.82 / 0.502 / 0.28  0.51 / 0.82 / 0.623 / 0.56, 0.55 / 0.82 / 0.643 / 0.61
    own     0.50 / 0.70 / 0.584 / 0.40  0.28 / 0.70 / 0.450 / 0.33  0.47 / 0.70 / 0.575 / 0.47, 0.38 / 0.70 / 0.523 / 0.47
    unseen  0.55 / 0.72 / 0.614 / 0.50  0.38 / 0.72 / 0.485 / 0.36  0.53 / 0.72 / 0.593 / 0.50, 0.47 / 0.72 / 0.565 / 0.43

Paraphrases, the style it was meant for, fell too (first 5, MRR@10: dev 0.258 → 0.253, own
0.343 → 0.288, unseen 0.312 → 0.217). Cost, had it won: the same network as an int8 ONNX
model takes 10 ms for 3 pairs of 80 word pieces on 2 cores (fp32: 18 ms), against a
median query of ~8 ms and a goal of 20.

It does learn the mined task: on 300 cropped queries it was not trained on (seed 14's crops,
mined the same way) it puts the cropped sentence first in its group 0.92 of the time, the
tuned bi-encoder 0.71. What fails is the step from mined queries to users' questions, so
the next lead is training queries that read like questions, not a bigger reranker.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import time
from pathlib import Path

from gtindex.evaluate import DEPTH, Scores, load_gold, score_query
from gtindex.model import finetune
from gtindex.search import Index

from .naive import rrf

SEED = 13
CROPS = 1500  # cropped sentences, as many as the inverse-cloze passages of the tuning
HITS = 10  # the shipped search's first hits the negatives are drawn from
NEGATIVES = 7  # a group: the positive and up to 7 negatives
GROUPS_PER_STEP = 4  # 32 pairs a step, as the tuning's batch
LEARNING_RATE = 2e-5
WARMUP_STEPS = 20
MAX_TOKENS = 128  # a query and one sentence
SETS = ("dev", "own", "unseen")


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _crops(conn, seed: int) -> list[finetune.Pair]:
    """A contiguous run of 30-60% of a sentence's words → the sentence, against a later
    sentence of its section (not the next one)."""
    rng = random.Random(seed + 1000)
    sentences, by_section = finetune.sentences_by_section(conn)
    candidates = [(d, sec, t) for d, sec, t in sentences
                  if sec and 12 <= len(t.split()) <= 45 and not finetune._is_question(t)]
    rng.shuffle(candidates)
    pairs = []
    for doc, section, text in candidates[:CROPS]:
        words = text.split()
        size = max(4, int(len(words) * rng.uniform(0.3, 0.6)))
        start = rng.randrange(0, len(words) - size + 1)
        same = by_section[(doc, section)]
        at = same.index(text)
        others = [o for j, o in enumerate(same) if abs(j - at) >= 2 and len(o.split()) >= 8]
        pairs.append(finetune.Pair("crop", " ".join(words[start:start + size]), text,
                                   rng.choice(others) if others else ""))
    return pairs


def mine(index: Index, seed: int) -> list[dict]:
    conn = index.conn
    pairs = finetune.mine(conn, seed) + _crops(conn, seed)
    random.Random(seed).shuffle(pairs)
    pairs = [p for p in pairs if p.kind in ("question-sentence", "heading-sentence", "crop")]
    section_of = {(d, s): sec for d, s, sec in conn.execute("SELECT doc_id, seq, section FROM lines")}
    sections: dict[str, str] = {}
    for doc, seq, text in conn.execute("SELECT doc_id, seq_start, text FROM spans"):
        sections.setdefault(_words(text), section_of.get((doc, seq), ""))
    groups = []
    for pair in pairs:
        positive = _words(pair.passage)
        section = sections.get(positive)
        negatives = [pair.negative] if pair.negative else []
        for hit in index.search(pair.query, k=HITS):
            text = _words(hit.text)
            if positive not in text and text not in positive and hit.section != section:
                negatives.append(hit.text)
        if negatives:
            groups.append({"kind": pair.kind, "query": pair.query, "positive": pair.passage,
                           "negatives": negatives[:NEGATIVES]})
    return groups


def _network():
    import torch
    from sentence_transformers import SentenceTransformer

    from gtindex.embedding import _force_offline, bundled_model_dir
    from gtindex.model import apply_tuning

    _force_offline()
    model = SentenceTransformer(str(bundled_model_dir()), device="cpu", local_files_only=True)
    bert = model[0].auto_model
    apply_tuning(bert)
    return bert, model[0].tokenizer, torch.nn.Linear(bert.config.hidden_size, 1)


def _scores(bert, tokenizer, head, queries: list[str], texts: list[str]):
    encoded = tokenizer(queries, texts, padding=True, truncation="only_second", max_length=MAX_TOKENS,
                        return_tensors="pt")
    hidden = bert(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    return head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)


def train(groups: list[dict], out: Path, seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    bert, tokenizer, head = _network()
    for parameter in bert.embeddings.parameters():
        parameter.requires_grad = False
    random.Random(seed).shuffle(groups)
    steps = len(groups) // GROUPS_PER_STEP
    optimizer = torch.optim.AdamW([p for p in bert.parameters() if p.requires_grad] + list(head.parameters()),
                                  lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS) * max(0.0, 1 - step / steps))
    bert.train()
    started = time.monotonic()
    for step in range(steps):
        batch = groups[step * GROUPS_PER_STEP:(step + 1) * GROUPS_PER_STEP]
        queries, texts, sizes = [], [], []
        for group in batch:
            candidates = [group["positive"]] + group["negatives"]
            queries += [group["query"]] * len(candidates)
            texts += candidates
            sizes.append(len(candidates))
        scores = _scores(bert, tokenizer, head, queries, texts)
        # listwise: the positive is the first of each group
        loss = sum(torch.nn.functional.cross_entropy(part.unsqueeze(0), torch.zeros(1, dtype=torch.long))
                   for part in scores.split(sizes)) / len(sizes)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} ({time.monotonic() - started:.0f} s)", flush=True)
    torch.save({"bert": bert.state_dict(), "head": head.state_dict()}, out)


def score(index: Index, model_path: Path, eval_dir: Path) -> None:
    import torch

    bert, tokenizer, head = _network()
    state = torch.load(model_path)
    bert.load_state_dict(state["bert"])
    head.load_state_dict(state["head"])
    bert.eval()
    doc_names = dict(index.conn.execute(
        "SELECT doc_names.name, documents.doc FROM doc_names JOIN documents USING (doc_id)").fetchall())
    for name in SETS:
        results: dict[str, list] = {}
        for query in load_gold(eval_dir / f"{name}.jsonl"):
            hits = index.search(query.query, k=DEPTH)
            with torch.no_grad():
                model = _scores(bert, tokenizer, head, [query.query] * min(HITS, len(hits)),
                                [hit.text for hit in hits[:HITS]]).tolist()
            results.setdefault("shipped", []).append(score_query(query, hits, doc_names))
            for first in (3, 5, 10):
                top = range(min(first, len(hits)))
                by_model = sorted(top, key=lambda i: -model[i])
                fused = [i for i, _ in rrf(list(top), by_model)]
                for label, order in ((f"model, first {first}", by_model), (f"fused, first {first}", fused)):
                    ranked = [hits[i] for i in order] + hits[len(order):]
                    ranked = [dataclasses.replace(hit, rank=r) for r, hit in enumerate(ranked, 1)]
                    results.setdefault(label, []).append(score_query(query, ranked, doc_names))
        for label, scored in results.items():
            s = Scores.of(scored)
            print(f"{name:7s} {label:16s} {s.hit_at_1:.2f} / {s.hit_at_5:.2f} / {s.mrr_at_10:.3f} / "
                  f"{s.exact_lines_at_1 or 0:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sentence_reranker", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["mine", "train", "score"])
    parser.add_argument("--index", type=Path, default=Path("indexes/default"))
    parser.add_argument("--groups", type=Path, default=Path(".bench/sentence-groups.jsonl"))
    parser.add_argument("--model", type=Path, default=Path(".bench/sentence-ce.pt"))
    parser.add_argument("--eval", type=Path, default=Path("eval"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.groups.parent.mkdir(parents=True, exist_ok=True)
    if args.step == "train":
        groups = [json.loads(line) for line in args.groups.read_text().splitlines() if line]
        train(groups, args.model, args.seed)
        return 0
    with Index.open(args.index) as index:
        if args.step == "mine":
            args.groups.write_text("\n".join(json.dumps(group) for group in mine(index, args.seed)) + "\n")
        else:
            score(index, args.model, args.eval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
