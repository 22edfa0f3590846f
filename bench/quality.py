"""Quality figures `make bench` prints: each stage on its own, gtindex beside the naive
baseline, on the dev set and on the developers' own queries, scored apart.

- retrieval: the share of queries whose answer lies in one of the first k passages, for
  MiniLM alone, bm25 alone and their reciprocal rank fusion (the stage the hits come from);
- hits: gtindex eval's scores (hit@1, hit@5, MRR@10, exact lines@1, hit@100) per mode and
  per query style, and the naive baseline's (bench/naive.py) on the same queries;
- narrowing: of the queries whose answer is among the first five hits, the share whose
  answering hit cites lines within the gold lines ±1 (documents with printed numbers);
- references: "21 CFR <section>", "section <number>" (the Acts) and "ICH <designation>" for
  every reference stated in one document, right at rank 1; and the first two typed with a
  subdivision that no document states ("21 CFR 107.240(a)");
- cross-validation: the fusion weights (search.WEIGHTS) and narrowing's join margin
  (EXTEND_MARGIN) were chosen on dev.jsonl, so a small grid around them is chosen again on
  4/5 of dev and scored on the other 1/5.
"""
from __future__ import annotations

import itertools
import random
import statistics
from pathlib import Path

from gtindex import acronyms, lexical
from gtindex.evaluate import (LINE_SLACK, GoldQuery, Scores, evaluate, evaluate_references, guideline_section_queries,
                              load_gold, quote_words, reference_queries, score_query, typed_otherwise,
                              with_unstated_subdivision)
from gtindex.search import WEIGHTS, Index, fuse
from gtindex.search.config import EXTEND_MARGIN

from .naive import NaiveIndex, chunk_corpus, evaluate_naive, rrf

RECALL_KS = (1, 5, 20, 100)
CV_FOLDS, CV_SEED = 5, 0
# The grid re-chosen in cross-validation: the passage and bm25 weights at about half, the
# same and about twice the shipped value (the sentence cosine's weight fixes the scale).
CV_GRID = {"passage_dense": (0.3, 0.6, 1.0), "span_lexical": (0.1, 0.3, 0.6), "passage_lexical": (0.1, 0.2, 0.4)}
# Narrowing's join margin is on the scale of the weighted sum, so it is re-chosen with the
# weights: weights that score MRR@10 higher can cite exact lines less often at the shipped
# margin (the twelfth session's note). Chosen by MRR@10 + exact lines@1 on the training
# folds, so that neither the ranking nor the cited lines is traded away unseen.
CV_MARGINS = (0.1, 0.15, 0.25, 0.35)


def passage_recall(index: Index, queries: list[GoldQuery]) -> dict[str, dict[int, float]]:
    """recall@k of passages (a passage holds the answer when it covers the gold's printed
    lines, or its page and half the quote's words) for dense, bm25 and their RRF."""
    places = passage_places(index)
    found: dict[str, list[int | None]] = {"dense": [], "bm25": [], "rrf": []}
    depth = max(RECALL_KS)
    for query in queries:
        text = acronyms.expand(query.query, index.acronyms)
        dense = index.retriever.dense_top("passages", index.retriever.query_vector(text), None, depth)
        bm25 = [pid for pid, _ in lexical.search(index.conn, lexical.build_query(text), depth)]
        fused = [pid for pid, _ in rrf(dense, bm25)]
        for name, ranking in (("dense", dense), ("bm25", bm25), ("rrf", fused)):
            found[name].append(next((rank for rank, pid in enumerate(ranking, 1)
                                     if any(holds(places[pid], entry) for entry in query.gold)), None))
    return {name: {k: sum(1 for r in ranks if r and r <= k) / len(ranks) for k in RECALL_KS}
            for name, ranks in found.items()}


def passage_places(index: Index) -> dict[int, tuple]:
    pages = {(doc_id, seq): (page, line) for doc_id, seq, page, line in
             index.conn.execute("SELECT doc_id, seq, page, line FROM lines")}
    places = {}
    for pid, doc, doc_id, first, last, text in index.conn.execute(
            "SELECT passage_id, doc, doc_id, seq_start, seq_end, text FROM passages JOIN documents USING (doc_id)"):
        held = [pages[(doc_id, seq)] for seq in range(first, last + 1) if (doc_id, seq) in pages]
        numbers = [line for _, line in held if line is not None]
        places[pid] = (doc, min(p for p, _ in held), max(p for p, _ in held),
                       (min(numbers), max(numbers)) if numbers else None, quote_words(text))
    return places


def holds(place: tuple, entry) -> bool:
    doc, first_page, last_page, numbers, words = place
    if doc != entry.doc:
        return False
    if entry.lines and numbers:
        return numbers[0] <= entry.lines[1] and entry.lines[0] <= numbers[1]
    if entry.pdf_page and not first_page <= entry.pdf_page <= last_page:
        return False
    quote = quote_words(entry.quote)
    return bool(quote) and len(quote & words) * 2 >= len(quote)


def narrowing(index: Index, gold: Path) -> dict:
    """Of the line-numbered queries answered in the first five hits, the share whose
    answering hit cites lines within the gold lines ±LINE_SLACK."""
    queries = [q for q in load_gold(gold) if q.line_numbered]
    answered = precise = 0
    for query in queries:
        for hit in index.search(query.query, k=5):
            entry = next((g for g in query.gold if g.doc == hit.doc and g.lines and hit.line_start is not None
                          and hit.line_start <= g.lines[1] and g.lines[0] <= hit.line_end), None)
            if entry:
                answered += 1
                precise += entry.lines[0] - LINE_SLACK <= hit.line_start and hit.line_end <= entry.lines[1] + LINE_SLACK
                break
    return {"line_numbered": len(queries), "answered_in_5": answered,
            "within_gold_lines": precise / answered if answered else None}


def cross_validated_weights(index: Index, gold: Path) -> dict:
    """5-fold cross-validation of choosing the fusion weights and the join margin on dev
    scores (MRR@10 + exact lines@1)."""
    queries = load_gold(gold)
    names = dict(index.conn.execute(
        "SELECT doc_names.name, documents.doc FROM doc_names JOIN documents USING (doc_id)").fetchall())
    signals = [index.signals(q.query, None, WEIGHTS) for q in queries]
    grid = [(dict(WEIGHTS, **dict(zip(CV_GRID, values))), margin)
            for values in itertools.product(*CV_GRID.values()) for margin in CV_MARGINS]
    results = [[score_query(q, index.hits(fuse.ranked(s, w), 100, s.span_lexical, margin=margin), names)
                for q, s in zip(queries, signals)] for w, margin in grid]
    order = list(range(len(queries)))
    random.Random(CV_SEED).shuffle(order)
    folds = [order[i::CV_FOLDS] for i in range(CV_FOLDS)]
    held, fold_mrr, chosen = [], [], []
    for fold in folds:
        train = [i for i in order if i not in fold]
        best = max(range(len(grid)), key=lambda g: (_objective(Scores.of([results[g][i] for i in train])), -g))
        chosen.append(dict({name: grid[best][0][name] for name in CV_GRID}, margin=grid[best][1]))
        held += [results[best][i] for i in fold]
        fold_mrr.append(Scores.of([results[best][i] for i in fold]).mrr_at_10)
    shipped = grid.index((dict(WEIGHTS), EXTEND_MARGIN))
    return {"held_out": Scores.of(held).to_json(), "in_sample": Scores.of(results[shipped]).to_json(),
            "fold_mrr": fold_mrr, "fold_mrr_sd": statistics.pstdev(fold_mrr), "chosen": chosen}


def _objective(scores: Scores) -> float:
    return scores.mrr_at_10 + (scores.exact_lines_at_1 or 0.0)


def by_style(results) -> dict[str, dict]:
    styles: dict[str, list] = {}
    for result in results:
        styles.setdefault(result.query.style, []).append(result)
    return {style: Scores.of(group).to_json() for style, group in sorted(styles.items())}


def measure_quality(index_dir: Path, corpus: Path, golds: dict[str, Path], naive: bool = True) -> dict:
    figures: dict = {"sets": {}}
    with Index.open(index_dir) as index:
        for name, gold in golds.items():
            queries = load_gold(gold)
            entry = figures["sets"][name] = {"queries": len(queries)}
            entry["passage_recall"] = passage_recall(index, queries)
            for mode in ("hybrid", "dense", "lexical"):
                report = evaluate(index, gold, mode)
                entry[mode] = {"overall": report.overall.to_json(), "by_style": by_style(report.results)}
            entry["narrowing"] = narrowing(index, gold)
        mined = reference_queries(index)
        figures["references"] = _references(evaluate_references(index, mined))
        figures["subdivisions"] = _references(evaluate_references(index, with_unstated_subdivision(index, mined)))
        figures["typed_otherwise"] = _references(evaluate_references(index, typed_otherwise(mined)))
        figures["guideline_sections"] = _references(evaluate_references(index, guideline_section_queries(index)))
        if "dev" in golds:
            figures["cv"] = cross_validated_weights(index, golds["dev"])
    if naive:
        figures["naive"] = measure_naive(corpus, golds)
    return figures


def _references(report) -> dict:
    return {"queries": report.queries, "right_at_1": report.right_at_1, "by_kind": report.to_json()["by_kind"],
            "misses": [q.query for q, _ in report.misses]}


def measure_naive(corpus: Path, golds: dict[str, Path]) -> dict:
    from gtindex.embedding import load_build_encoder

    index = NaiveIndex(chunk_corpus(corpus), load_build_encoder(tuned=False))  # MiniLM as it ships
    figures = {"chunks": len(index.chunks)}
    for name, gold in golds.items():
        results = evaluate_naive(index, load_gold(gold))
        figures[name] = {"overall": Scores.of(results).to_json(), "by_style": by_style(results)}
    return figures


def print_quality(figures: dict, say) -> None:
    for name, entry in figures["sets"].items():
        say(f"\nQuality, {name} ({entry['queries']} queries)")
        say("  passage recall@k      " + "  ".join(f"@{k:<4d}" for k in RECALL_KS))
        for retriever, recall in entry["passage_recall"].items():
            say(f"    {retriever:19s} " + "  ".join(f"{recall[k]:.2f} " for k in RECALL_KS))
        say("  hits                  hit@1  hit@5  MRR@10  exact@1  hit@100   hit@5 by style")
        rows = [(f"gtindex {mode}", entry[mode]) for mode in ("hybrid", "dense", "lexical")]
        if "naive" in figures and name in figures["naive"]:
            rows.append(("naive baseline", figures["naive"][name]))
        for label, scores in rows:
            s = scores["overall"]
            exact = f"{s['exact_lines_at_1']:.2f}" if s.get("exact_lines_at_1") is not None else "  - "
            styles = " ".join(f"{style} {v['hit_at_5']:.2f}" for style, v in scores["by_style"].items())
            say(f"    {label:19s} {s['hit_at_1']:5.2f}  {s['hit_at_5']:5.2f}  {s['mrr_at_10']:6.3f}  {exact:>6s}  "
                f"{s['hit_at_100']:6.2f}   {styles}")
        n = entry["narrowing"]
        if n["within_gold_lines"] is not None:
            say(f"  narrowing: {n['within_gold_lines']:.2f} of {n['answered_in_5']} answered line-numbered queries "
                f"(of {n['line_numbered']}) cite lines within the gold ±1")
    if "naive" in figures:
        say(f"  naive baseline: {figures['naive']['chunks']} chunks of 1,000 characters (200 overlap), MiniLM + bm25,"
            " RRF; judged by the quote rule (no printed lines), so exact@1 does not apply")
    for key, heading in (("references", "\nReferences stated in one document, typed as a user would"),
                         ("subdivisions", "The same typed with a subdivision no document states (107.240(a))"),
                         ("typed_otherwise",
                          "The same typed otherwise (21CFR 20.61, 21 C.F.R., § 20.61, 21CFR203, 201 (v), sec. 519)"),
                         ("guideline_sections", "A guideline's numbered section (ICH Q3C 3.3), its heading first")):
        r = figures[key]
        kinds = "; ".join(f"'{kind} ...' {k['right_at_1']:.3f} of {k['queries']}" for kind, k in r["by_kind"].items())
        say(f"{heading}, right at rank 1: {kinds}" + (f" (missed: {', '.join(r['misses'][:5])})" if r["misses"] else ""))
    if "cv" in figures:
        cv = figures["cv"]
        held, inside = cv["held_out"], cv["in_sample"]
        say(f"Fusion weights and join margin, 5-fold cross-validation on dev (chosen by MRR@10 + exact lines@1): "
            f"held-out hit@5 {held['hit_at_5']:.2f}, MRR@10 {held['mrr_at_10']:.3f}, exact@1 "
            f"{_share(held['exact_lines_at_1'])} (shipped in-sample {inside['hit_at_5']:.2f} / "
            f"{inside['mrr_at_10']:.3f} / {_share(inside['exact_lines_at_1'])}); fold MRR sd {cv['fold_mrr_sd']:.3f}")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
