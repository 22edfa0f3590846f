"""Lexical retrieval: SQLite FTS5 (porter + unicode61) with bm25 ranking.

User text never reaches FTS5 syntax raw. The query is cut into the same alphanumeric
tokens the unicode61 tokenizer produces, and every token is emitted inside double quotes,
so `"`, `*`, `:`, `-`, parentheses, NEAR, AND/OR/NOT are just text. A whitespace-separated
chunk that the tokenizer splits into several tokens ("314.101(d)(5)", "Q9(R1)", "50.53",
"end-of-phase") becomes a phrase, so a section number matches as a sequence rather than
as scattered digits. Everything else is ORed and ranked by bm25.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

# unicode61 splits on everything that is not a letter, digit or mark.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

# Function words carry no evidence in an OR query and make every passage match.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves may must shall might also""".split()
)

# bm25 column weights: a hit in the section path counts for more than one in the body.
SECTION_WEIGHT = 2.0
TEXT_WEIGHT = 1.0


@dataclass(frozen=True)
class LexicalQuery:
    terms: tuple[str, ...]  # single tokens, lower-case, stopwords removed
    phrases: tuple[tuple[str, ...], ...]  # multi-token chunks ("314 101 d 5")

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases

    def to_fts(self) -> str:
        """The FTS5 MATCH expression; every token quoted, so nothing is syntax."""
        parts = [f'"{term}"' for term in self.terms]
        parts += ['"' + " ".join(phrase) + '"' for phrase in self.phrases]
        return " OR ".join(parts)

    @property
    def references(self) -> tuple[tuple[str, ...], ...]:
        """Phrases with a number: section and regulation numbers ("314 101 d 5", "50 53"),
        which a user types to mean one place. A designation ("q9 r1") has no bare number."""
        return tuple(phrase for phrase in self.phrases if any(token.isdigit() for token in phrase))

    @property
    def words(self) -> set[str]:
        """All query tokens (for highlighting and overlap scoring)."""
        return set(self.terms) | {token for phrase in self.phrases for token in phrase}


def tokenize(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


# Characters that join the parts of one reference ("314.101(d)(5)", "Q9(R1)", "end-of-phase",
# "CDER/CBER", "sponsor's"); any other non-alphanumeric character separates words.
_SEPARATORS = re.compile(r"[^\w.\-/()'’§]+|_+")


def build_query(text: str) -> LexicalQuery:
    terms: list[str] = []
    phrases: list[tuple[str, ...]] = []
    for chunk in _SEPARATORS.split(text):
        tokens = tokenize(chunk)
        if len(tokens) > 1:
            phrases.append(tuple(tokens))
        elif tokens and tokens[0] not in STOPWORDS:
            terms.append(tokens[0])
    return LexicalQuery(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(phrases)))


@dataclass(frozen=True)
class Citing:
    """Where one reference phrase stands: sentences stating it, passages headed by it."""

    spans: frozenset[int]
    headed_passages: frozenset[int]


def citing(conn: sqlite3.Connection, phrase: tuple[str, ...], limit: int, doc_ids: list[int] | None = None) -> Citing:
    """Sentences whose text holds the phrase (at most `limit`), and passages whose section
    path holds it. No bm25: membership is the signal, and skipping the ranking keeps it cheap."""
    quoted = '"' + " ".join(phrase) + '"'
    spans = _fts_rows(conn, "spans", "span_id", quoted, doc_ids, limit)
    headed = _fts_rows(conn, "passages", "passage_id", f"section : {quoted}", doc_ids, None)
    return Citing(frozenset(row[0] for row in spans), frozenset(row[0] for row in headed))


def coverage(conn: sqlite3.Connection, query: LexicalQuery, passage_ids: list[int]) -> float:
    """The largest share of the query's words that one of these passages holds (stemmed as
    FTS5 stems them); 1.0 for a query without single words. bm25 ranks a passage that
    shares one incidental word with a paraphrased question as readily as an answer; a low
    coverage says that is what happened."""
    if not query.terms or not passage_ids:
        return 1.0
    held = {pid: 0 for pid in passage_ids}
    marks = ",".join("?" * len(passage_ids))
    for term in query.terms:
        sql = f"SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? AND rowid IN ({marks})"
        for (pid,) in conn.execute(sql, [f'"{term}"', *passage_ids]):
            held[pid] += 1
    return max(held.values()) / len(query.terms)


def search(
    conn: sqlite3.Connection, query: LexicalQuery, limit: int, doc_ids: list[int] | None = None
) -> list[tuple[int, float]]:
    """(passage_id, bm25 score — higher is better) for the best `limit` passages."""
    return _search(conn, "passages", "passage_id", f"bm25(passages_fts, {SECTION_WEIGHT}, {TEXT_WEIGHT})",
                   query, limit, doc_ids)


def search_spans(
    conn: sqlite3.Connection, query: LexicalQuery, limit: int, doc_ids: list[int] | None = None
) -> list[tuple[int, float]]:
    """(span_id, bm25 score — higher is better) for the best `limit` sentences."""
    return _search(conn, "spans", "span_id", "bm25(spans_fts)", query, limit, doc_ids)


def _search(
    conn: sqlite3.Connection, table: str, key: str, rank: str, query: LexicalQuery, limit: int,
    doc_ids: list[int] | None,
) -> list[tuple[int, float]]:
    if query.empty:
        return []
    return [(row[0], float(row[1])) for row in _fts_rows(conn, table, key, query.to_fts(), doc_ids, limit, rank)]


def _fts_rows(
    conn: sqlite3.Connection, table: str, key: str, match: str, doc_ids: list[int] | None, limit: int | None,
    rank: str | None = None,
) -> list[tuple]:
    """(rowid,) of the rows of `table` whose FTS5 entry matches, inside these documents (all
    when None); with `rank`, (rowid, score) best first."""
    if doc_ids == []:
        return []
    score = f", -{rank} AS score" if rank else ""
    sql = (
        f"SELECT {table}_fts.rowid{score} FROM {table}_fts"
        f" JOIN {table} ON {table}.{key} = {table}_fts.rowid WHERE {table}_fts MATCH ?"
    )
    params: list = [match]
    if doc_ids is not None:
        sql += f" AND {table}.doc_id IN ({','.join('?' * len(doc_ids))})"
        params += doc_ids
    if rank:
        sql += " ORDER BY score DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return conn.execute(sql, params).fetchall()
