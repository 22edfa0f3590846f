"""The cross-encoder experiment of issue 13, kept so that its figures can be checked and
the model rebuilt (nothing in gtindex uses it: it reordered passages worse than the fusion).

    python -m bench.cross_encoder mine  --index DIR --out pairs.json
    python -m bench.cross_encoder train --pairs pairs.json --out ce.pt [--examples 1280] [--max-len 128]
    python -m bench.cross_encoder score --index DIR --model ce.pt [--top 20]

Training pairs are mined from the corpus, never from gold answers: inverse cloze (a
sentence → the passage holding it, the sentence cut out), the questions Q&A guidances print
(→ the text after them), and section headings (→ a passage of their section), each with
three hard negatives from bm25 and MiniLM's first 15 passages. The model is the bundled
MiniLM with a linear head on its mean-pooled output, trained listwise (softmax over the
positive and its negatives). `score` reorders the first passages of the MiniLM + bm25
reciprocal rank fusion and prints passage recall@k on dev.jsonl and own.jsonl.

Measured 2026-12-06 (2 CPU cores, 1,280 examples, 160 steps, 18 min): passage hit@5 dev
0.45, own 0.40 reordered by the model, 0.64 / 0.62 fused with the RRF order, against the
RRF order's 0.76 / 0.65; ~15 ms a query-passage pair on the CPU with PyTorch.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

from gtindex import acronyms, lexical
from gtindex.evaluate import load_gold
from gtindex.search import Index

from .naive import rrf
from .quality import holds, passage_places

NEGATIVES = 3  # hard negatives per training example
POOL = 15  # first passages of bm25 and of MiniLM the negatives are drawn from
SEED = 13


def mine(index: Index, cloze: int = 2500, headings: int = 1500) -> list[dict]:
    rng = random.Random(SEED)
    conn = index.conn
    passages = {pid: (sec, txt) for pid, sec, txt in conn.execute("SELECT passage_id, section, text FROM passages")}
    spans = conn.execute("SELECT span_id, text FROM spans").fetchall()
    holders: dict[int, list[int]] = {}
    for sid, pid in conn.execute("SELECT span_id, passage_id FROM span_passages"):
        holders.setdefault(sid, []).append(pid)

    def negatives(query: str, exclude: set[int]) -> list[list[str]]:
        bm25 = [pid for pid, _ in lexical.search(conn, lexical.build_query(query), 2 * POOL)][:POOL]
        dense = index.retriever.dense_top("passages", index.retriever.query_vector(query), None, POOL)
        pool = [pid for pid in dict.fromkeys(bm25 + dense) if pid not in exclude]
        rng.shuffle(pool)
        return [list(passages[pid]) for pid in pool[:NEGATIVES]]

    examples = []
    candidates = [s for s in spans if 10 <= len(s[1].split()) <= 45 and s[0] in holders]
    rng.shuffle(candidates)
    for sid, text in candidates[:cloze]:  # inverse cloze
        section, body = passages[rng.choice(holders[sid])]
        rest = " ".join(body.replace(text, " ").split())
        if len(rest.split()) >= 30:
            examples.append({"q": text, "pos": [section, rest], "neg": negatives(text, set(holders[sid]))})
    for sid, text in spans:  # printed questions → the text after them
        if text.strip().endswith("?") and 5 <= len(text.split()) <= 40 and sid in holders:
            section, body = passages[max(holders[sid])]
            at = body.find(text[-40:])
            after = " ".join((body[at + 40:] if at >= 0 else body).split())
            question = re.sub(r"^(Q\d*[.:)]?|Question\s*\d*[.:]?)\s*", "", text.strip())
            if len(after.split()) >= 20:
                examples.append({"q": question, "pos": [section, after], "neg": negatives(question, set(holders[sid]))})
    by_section: dict[tuple, list[int]] = {}
    for pid, doc_id, section in conn.execute("SELECT passage_id, doc_id, section FROM passages WHERE section != ''"):
        by_section.setdefault((doc_id, section), []).append(pid)
    sections = list(by_section.items())
    rng.shuffle(sections)
    for (_, section), pids in sections[:headings]:  # heading → a passage of its section, heading left out
        heading = re.sub(r"^[\dIVXA-Z]+(\.[\dA-Za-z]+)*\.?\s+", "", section.split(" > ")[-1]).strip()
        if len(heading.split()) >= 2:
            examples.append({"q": heading, "pos": ["", passages[rng.choice(pids)][1]], "neg": negatives(heading, set(pids))})
    rng.shuffle(examples)
    return [e for e in examples if len(e["neg"]) == NEGATIVES]


def _model(path: str):
    from torch import nn
    from transformers import AutoModel

    class CrossEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = AutoModel.from_pretrained(path)
            self.head = nn.Linear(self.enc.config.hidden_size, 1)

        def forward(self, **batch):
            hidden = self.enc(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return CrossEncoder()


def _text(passage: list[str]) -> str:
    return f"{passage[0]}\n{passage[1]}" if passage[0] else passage[1]


def train(examples: list[dict], out: Path, max_len: int, batch: int = 8) -> None:
    import torch
    from transformers import AutoTokenizer

    from gtindex.embedding import bundled_model_dir

    torch.manual_seed(0)
    path = str(bundled_model_dir())
    tokenizer, model = AutoTokenizer.from_pretrained(path), _model(path)
    optimiser = torch.optim.AdamW([{"params": model.enc.parameters(), "lr": 3e-5},
                                   {"params": model.head.parameters(), "lr": 1e-3}])
    steps = len(examples) // batch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    model.train()
    for step in range(steps):
        group = examples[step * batch:(step + 1) * batch]
        queries = [e["q"] for e in group for _ in range(1 + NEGATIVES)]
        texts = [_text(p) for e in group for p in [e["pos"]] + e["neg"]]
        encoded = tokenizer(queries, texts, truncation="longest_first", max_length=max_len, padding=True,
                            return_tensors="pt")
        scores = model(**encoded).view(len(group), 1 + NEGATIVES)
        loss = torch.nn.functional.cross_entropy(scores, torch.zeros(len(group), dtype=torch.long))
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 20 == 19:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f}", flush=True)
    torch.save(model.state_dict(), out)


def score(index: Index, model_path: Path, golds: list[Path], top: int, max_len: int) -> None:
    import torch
    from transformers import AutoTokenizer

    from gtindex.embedding import bundled_model_dir

    path = str(bundled_model_dir())
    tokenizer, model = AutoTokenizer.from_pretrained(path), _model(path)
    model.load_state_dict(torch.load(model_path))
    model.eval()
    places = passage_places(index)
    passages = {pid: [sec, txt] for pid, sec, txt in index.conn.execute("SELECT passage_id, section, text FROM passages")}
    for gold in golds:
        ranks: dict[str, list] = {"rrf": [], "model": [], "rrf+model": []}
        for query in load_gold(gold):
            text = acronyms.expand(query.query, index.acronyms)
            dense = index.retriever.dense_top("passages", index.retriever.query_vector(text), None, 100)
            bm25 = [pid for pid, _ in lexical.search(index.conn, lexical.build_query(text), 100)]
            first = _rrf(dense, bm25)[:top]
            with torch.no_grad():
                encoded = tokenizer([query.query] * len(first), [_text(passages[p]) for p in first],
                                    truncation="longest_first", max_length=max_len, padding=True, return_tensors="pt")
                scores = model(**encoded).tolist()
            reordered = [pid for _, pid in sorted(zip(scores, first), key=lambda item: -item[0])]
            for name, ranking in (("rrf", first), ("model", reordered), ("rrf+model", _rrf(first, reordered))):
                ranks[name].append(next((r for r, pid in enumerate(ranking, 1)
                                         if any(holds(places[pid], entry) for entry in query.gold)), None))
        for name, found in ranks.items():
            print(gold.name, name, " ".join(f"r@{k} {sum(1 for r in found if r and r <= k) / len(found):.2f}"
                                           for k in (1, 5, top)))


def _rrf(*rankings: list[int]) -> list[int]:
    return [pid for pid, _ in rrf(*rankings)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cross_encoder", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["mine", "train", "score"])
    parser.add_argument("--index", type=Path, default=Path("indexes/default"))
    parser.add_argument("--pairs", type=Path, default=Path(".bench/ce-pairs.json"))
    parser.add_argument("--model", type=Path, default=Path(".bench/ce.pt"))
    parser.add_argument("--examples", type=int, default=1280)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    args.pairs.parent.mkdir(parents=True, exist_ok=True)
    if args.step == "train":
        train(json.loads(args.pairs.read_text())[:args.examples], args.model, args.max_len)
        return 0
    with Index.open(args.index) as index:
        if args.step == "mine":
            args.pairs.write_text(json.dumps(mine(index)))
        else:
            score(index, args.model, [Path("eval/dev.jsonl"), Path("eval/own.jsonl")], args.top, args.max_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
