"""Query → ranked, narrowed, deduplicated hits, in stages, one module each:

- `retrieve`: candidate sentences and their signals (candidates.Signals) from four rankings
  (MiniLM cosine of every sentence and every passage, FTS5 bm25 of both) and the sentences
  stating a reference the query types;
- `references`: which sentences cite those references (they state them, their section
  heading holds them, or their document's title does), or, for one that nothing states,
  the provision holding it ("21 CFR part 50" for "21 CFR 50.25"; those hits are marked);
- `fuse`: the candidates in order (reference citers first, those in the place a reference
  names before those mentioning it, then a weighted sum of five signals: sentence and
  passage cosine, sentence and passage bm25, references cited);
- `narrow`: the places hits cite: the best sentence, joined by neighbours that answer nearly
  as well, up to four lines; one hit a place (two hits share at most the line where one
  sentence ends and the next begins);
- `superseded`: a superseded draft's sentences that its final restates, left to the final;
- `spelling`: for a search that found nothing, the query's words no document holds and the
  index's words spelled like them (the CLI's hint);
- `index`: `Index.open(dir).search(query, k, filters) -> list[Hit]`, documents and `show`;
- `config`: every weight and count, with the measurement that chose it.

A hit cites a sentence (a `span`: 1-4 lines), not a whole passage. The signals:

- span_dense:      cosine of the query and the sentence's vector (computed at build time:
                   read inside the passage where it sits nearest the middle, the mean of
                   the model's output vectors for its own word pieces, passages.reading_places);
- passage_dense:   cosine of the query and the best passage holding the sentence (the
                   title, section path and surrounding lines say what the sentence is
                   about), divided by the query's best passage cosine;
- span_lexical:    FTS5 bm25 of the sentence, scaled by the query's best sentence score;
- passage_lexical: FTS5 bm25 of the best passage holding it, scaled likewise;
- reference_lexical: share of the query's references ("314.101(d)(5)", "Q3C") it cites.

Both bm25 signals are scaled down when the best bm25 passages hold few of the query's words
(config.TRUST_FLOOR, TRUST_FULL). The query is first expanded with the corpus's acronyms.
Nothing here imports torch: the query path is onnxruntime + faiss + sqlite.
"""
from .config import MAX_CITED_LINES, MODES, STATUSES, WEIGHTS
from .index import DocumentInfo, Index

__all__ = ["DocumentInfo", "Index", "MAX_CITED_LINES", "MODES", "STATUSES", "WEIGHTS"]
