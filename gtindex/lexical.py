"""Lexical retrieval: SQLite FTS5 (porter + unicode61) with bm25 ranking.

User text never reaches FTS5 syntax raw. The query is cut into the same alphanumeric
tokens the unicode61 tokenizer produces, and every token is emitted inside double quotes,
so `"`, `*`, `:`, `-`, parentheses, NEAR, AND/OR/NOT are just text. A whitespace-separated
chunk that the tokenizer splits into several tokens ("314.101(d)(5)", "Q9(R1)", "50.53",
"end-of-phase") becomes a phrase, so a section number matches as a sequence rather than
as scattered digits. Everything else is ORed and ranked by bm25.

Ranking reads precomputed postings rather than asking FTS5 (the bm25s idea: a query's
score is a sum of per-term, per-row impacts fixed at build time). FTS5 computes bm25 for
every row matching any query word, ~1.5 µs a row: 10 ms a query on the shared corpus,
0.7 s at 100x. The build stores, per stemmed term, the rows holding it and FTS5's own
bm25 contribution of that term to each row (same stems, k1, b, idf floor, column weights
and lengths as fts5_aux.c), so a query adds a few numpy arrays and the scores equal
`-bm25(...)` (a test compares them). Phrases ("314 101 d 5") are rare and still scored
by FTS5, one phrase at a time: bm25 is a sum over the query's phrases.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .sql import batches

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

# bm25 column weights: a hit in the section path counts for more than one in the body. The
# document's title counts as the body does: it is repeated in every passage of the document,
# so it raises the whole document a little (0.5 and 1.0 measured alike on dev, 1.0 better
# on the held-out sets; not tuned further).
TITLE_WEIGHT = 1.0
SECTION_WEIGHT = 2.0
TEXT_WEIGHT = 1.0

TOKENIZE = "porter unicode61"  # the FTS5 tables' tokenizer (index/schema.py)
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's constants (fts5_aux.c)
BM25_IDF_FLOOR = 1e-6  # FTS5 replaces a non-positive idf (a word in over half the rows) by this


@dataclass(frozen=True)
class RankedTable:
    """An FTS5 table ranked by bm25: its content table, key and column weights."""

    table: str
    key: str
    weights: dict[str, float]

    @property
    def rank(self) -> str:
        return f"bm25({self.table}_fts, {', '.join(str(w) for w in self.weights.values())})"


PASSAGES = RankedTable("passages", "passage_id", {"title": TITLE_WEIGHT, "section": SECTION_WEIGHT, "text": TEXT_WEIGHT})
SPANS = RankedTable("spans", "span_id", {"text": 1.0})


@dataclass(frozen=True)
class LexicalQuery:
    terms: tuple[str, ...]  # single tokens, lower-case, stopwords removed
    phrases: tuple[tuple[str, ...], ...]  # multi-token chunks ("314 101 d 5")
    title_21: bool = False  # it says "CFR" or "§" (guidances write § for sections of Title 21)
    says_section: bool = False  # it says "section" or "Act": "351(k)" is then a section of an Act (provisions)

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
        """What a user types to mean the places stating it: phrases with a digit (section and
        regulation numbers "314 101 d 5", "50 53"; designations "q9 r1") and single words
        mixing letters and digits ("q3c", "e6"), ordinals ("2nd") aside."""
        phrases = tuple(phrase for phrase in self.phrases if any(_has_digit(token) for token in phrase))
        return phrases + tuple((term,) for term in self.terms if _DESIGNATION.fullmatch(term))

    @property
    def words(self) -> set[str]:
        """All query tokens (for highlighting and overlap scoring)."""
        return set(self.terms) | {token for phrase in self.phrases for token in phrase}


# A word of letters and digits both, like a guideline's designation ("q3c", "e6", "aav9"),
# but not an ordinal ("2nd", "21st").
_DESIGNATION = re.compile(r"(?=\w*\d)(?=\w*[a-z])(?!\d+(?:st|nd|rd|th)$)\w+")


def _has_digit(token: str) -> bool:
    return any(char.isdigit() for char in token)


def tokenize(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


# Characters that join the parts of one reference ("314.101(d)(5)", "Q9(R1)", "end-of-phase",
# "CDER/CBER", "sponsor's"); any other non-alphanumeric character separates words.
_SEPARATORS = re.compile(r"[^\w.\-/()'’§]+|_+")


# "Part 11", "parts 50 and 56", "21 CFR 50" (no section after it): a part of Title 21 is one
# reference, typed with a space.
_PART = re.compile(r"\b(parts?|cfr)\s+(\d{1,4})\b(?!\.\d)", re.IGNORECASE)
_PART_WORDS = ("part", "parts", "cfr")


# "21CFR" glued to its title number ("21CFR 20.61", "21CFR Part 812", "21CFR203"): typed
# apart, "cfr" is a word of its own (a Title 21 query) and the number after it a section or
# a part. Glued, unicode61 reads one token "21cfr" that only the corpus's few glued places
# hold: "21CFR 20.61" found the section first for 76 of 111 sections, "21CFR Part 812" for
# 3 of 5 parts, "21CFR203" for none.
_GLUED_CFR = re.compile(r"\b(\d{1,2})\s*(C\.?F\.?R\.?)(?=\s|\d|$)", re.IGNORECASE)
# A subdivision typed after a space ("section 201 (v)", "505 (b)(2)"): the same reference as
# "201(v)", one chunk. Only after a number or a closing parenthesis, and only a label as laws
# number them ("(b)", "(aa)", "(12)", "(iii)", "(R1)"), so "Part 11 (electronic records)" and
# "2 (two)" stay words. Apart, the query was the bare number and a letter: "section 201 (v)"
# found the section first for 22 of 63.
_SPACED_SUBDIVISION = re.compile(r"(?<=[\d)])\s+(?=\((?:[a-z]{1,2}|[a-z]?\d{1,3}|[ivx]{1,5})\))", re.IGNORECASE)


# A section of an Act typed without a subdivision ("section 519", "sections 505", "sec. 519"):
# one reference, "section-519", as "part-11" is. Three digits, as the FD&C and PHS Acts number
# them ("745A" too); "section 3" is a part of a guidance. Apart, "519" was any number and
# the section's one document came first for 3 of the 9 the corpus states so.
_ACT_SECTION = re.compile(r"\b(sections?|sec\.)\s*(\d{3}[a-z]?)(?![\w(]|\.\d)", re.IGNORECASE)
_ACT_NUMBER = re.compile(r"\d{3}[a-z]?")
# A section of the United States Code typed without a subdivision ("21 U.S.C. 331", "USC
# 374"): one reference, "U.S.C.-331", as guidances print it. Apart, "331" was any number:
# of the 6 sections one document states only so, 2 were missed ("21 U.S.C. 1261").
_USC_SECTION = re.compile(r"\bU\.?\s?S\.?\s?C\.?\s*(\d{1,5}[a-z]?)(?![\w(]|\.\d)", re.IGNORECASE)
_SECTION_WORDS = ("section", "sections")
# Words that make a number with a subdivision a section of an Act: "section 351(k)", "PHS Act
# 351(k)", "sec. 351(k)" (provisions ends such a reference at "section 351").
_ACT_WORDS = frozenset({*_SECTION_WORDS, "sec", "act"})


def _joined(text: str) -> str:
    """The query with references typed the ways users type them made one form: "21CFR" and
    "21 C.F.R." as "21 CFR", a spaced subdivision joined, and a part, an Act's section or a
    section of the Code made one chunk ("part-11", "section-519", "U.S.C.-331")."""
    text = _GLUED_CFR.sub(r"\1 CFR ", text)
    text = _SPACED_SUBDIVISION.sub("", text)
    text = _ACT_SECTION.sub(r"section-\2", text)
    text = _USC_SECTION.sub(r"U.S.C.-\1", text)
    return _PART.sub(r"\1-\2", text)


def build_query(text: str) -> LexicalQuery:
    terms: list[str] = []
    phrases: list[tuple[str, ...]] = []
    for chunk in _SEPARATORS.split(_joined(text)):
        tokens = tokenize(chunk)
        if len(tokens) > 1:
            phrases.append(tuple(tokens))
        elif tokens and tokens[0] not in STOPWORDS:
            terms.append(tokens[0])
    words = set(terms) | {token for phrase in phrases for token in phrase}
    title_21 = "§" in text or "cfr" in words
    return LexicalQuery(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(phrases)), title_21,
                        says_section=bool(words & _ACT_WORDS))


# A section of Title 21 printed with its part glued to "CFR" ("21CFR801.109(e)",
# "CFR803.12(a)"): unicode61 reads one token "21cfr801" where a user types "21 CFR 801.109",
# and the reverse. Three such places in the shared corpus; without this the one document
# stating 801.109 was never found by it.
_CFR_PART = re.compile(r"(?:(?:21)?cfr)?(\d{1,4})")  # "801", or glued "cfr801", "21cfr801"


def spellings(phrase: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The phrase and the other ways a document prints the same reference: a CFR section
    ("801 109") also as "cfr801 109" and "21cfr801 109", and a glued one as the spaced; a
    part ("part 11", "cfr 11") as either, "CFR 11" also where "21 CFR 11.10", a section of
    it, stands."""
    if len(phrase) < 2 or not phrase[1].isdigit():
        return (phrase,)
    if phrase[0] in _PART_WORDS and len(phrase) == 2:
        return tuple(dict.fromkeys((phrase, ("part", phrase[1]), ("cfr", phrase[1]))))
    cfr_part = _CFR_PART.fullmatch(phrase[0])
    if cfr_part is None:
        return (phrase,)
    part = cfr_part.group(1)
    forms = [(part, *phrase[1:]), (f"cfr{part}", *phrase[1:]), (f"21cfr{part}", *phrase[1:])]
    return (phrase, *(form for form in forms if form != phrase))


@dataclass(frozen=True)
class Citing:
    """Where one reference phrase stands: sentences stating it, passages headed by it."""

    spans: frozenset[int]
    headed_passages: frozenset[int]
    exact: bool = True  # False: these stand for a provision holding the reference (search.references.stated)


def provisions(phrase: tuple[str, ...], title_21: bool = False, says_section: bool = False) -> Iterator[tuple[str, ...]]:
    """The reference, then the provisions holding it, each with its last part dropped:
    ("107", "240", "a") -> ("107", "240"); ("506", "c", "1") -> ("506", "c"); ("e6", "r3") ->
    ("e6",). A provision keeps a number, and is more than one token unless that token is a
    designation ("e6"): "107" or "cfr part" alone would be any number or any part. In a query
    about Title 21 (LexicalQuery.title_21), a section's last provision is its part:
    ("50", "25") -> ("cfr", "50"). In a query saying "section" (LexicalQuery.says_section), an
    Act's section is the last provision of its subdivisions: ("351", "k") -> ("section", "351")."""
    while phrase:
        yield phrase
        if title_21 and len(phrase) == 2 and phrase[0].isdigit() and phrase[1].isdigit():
            yield ("cfr", phrase[0])
            return
        phrase = phrase[:-1]
        if says_section and len(phrase) == 1 and _ACT_NUMBER.fullmatch(phrase[0]):
            yield ("section", phrase[0])
            return
        bare = len(phrase) == 1 and not _DESIGNATION.fullmatch(phrase[0])
        if bare or not any(_has_digit(token) for token in phrase):
            return


def holds(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    """The tokens (`tokenize`) hold the phrase."""
    return any(tuple(tokens[i:i + len(phrase)]) == phrase for i in range(len(tokens) - len(phrase) + 1))


def citing(conn: sqlite3.Connection, phrase: tuple[str, ...], limit: int, doc_ids: list[int] | None = None) -> Citing:
    """Sentences whose text holds the phrase in any of its spellings (at most `limit`), and
    passages whose section path holds it. No bm25: membership is the signal, and skipping the
    ranking keeps it cheap."""
    quoted = " OR ".join('"' + " ".join(spelling) + '"' for spelling in spellings(phrase))
    printed = _printed(phrase)
    if printed is None:
        spans = [row[0] for row in _fts_rows(conn, "spans", "span_id", quoted, doc_ids, limit)]
        headed = [row[0] for row in _fts_rows(conn, "passages", "passage_id", f"section : ({quoted})", doc_ids, None)]
    else:
        spans = _as_printed(conn, "spans", "span_id", "text", _fts_rows(conn, "spans", "span_id", quoted, doc_ids, None),
                            printed)[:limit]
        headed = _as_printed(conn, "passages", "passage_id", "section",
                             _fts_rows(conn, "passages", "passage_id", f"section : ({quoted})", doc_ids, None), printed)
    return Citing(frozenset(spans), frozenset(headed))


def _printed(phrase: tuple[str, ...]) -> re.Pattern | None:
    """For a reference with two numbers side by side ("3 3", "314 101 d 5"), the text as a
    document prints it: the numbers joined by a mark ("3.3", "314.101"), never by a space
    alone. FTS5 reads "Class 3 3-Methylbutanol" as "3 3" too: "ICH Q3C 3.3" cited a solvent
    table of Q3C first, not its section 3.3. None for a phrase without such numbers."""
    if not any(a.isdigit() and b.isdigit() for a, b in zip(phrase, phrase[1:])):
        return None
    forms = []
    for spelling in spellings(phrase):
        pattern = re.escape(spelling[0])
        for before, token in zip(spelling, spelling[1:]):
            pattern += (r"\s?[^\w\s]\s?" if before.isdigit() and token.isdigit() else r"[\W_]*") + re.escape(token)
        forms.append(pattern)
    # Not the tail of a longer number: "6.1.1" does not state 1.1 (its head may: 1.1.2 is in 1.1).
    return re.compile(rf"(?<![^\W_])(?<!\d\.)(?:{'|'.join(forms)})(?![^\W_])", re.IGNORECASE)


def _as_printed(conn: sqlite3.Connection, table: str, key: str, column: str, rows: list[tuple],
                printed: re.Pattern) -> list[int]:
    """The rows (FTS5 matches, in order) whose `column` holds the reference as printed."""
    ids = [row[0] for row in rows]
    texts: dict[int, str] = {}
    for chunk in batches(ids):
        sql = f"SELECT {key}, {column} FROM {table} WHERE {key} IN ({','.join('?' * len(chunk))})"
        texts.update(conn.execute(sql, chunk).fetchall())
    return [row_id for row_id in ids if printed.search(texts.get(row_id, ""))]



def occurs(conn: sqlite3.Connection, query: LexicalQuery) -> bool:
    """Some word or reference of the query stands somewhere in the index (a passage's text,
    section path or document title), in FTS5's stemmed form: one lookup, stopped at the first."""
    if query.empty:
        return False
    return conn.execute("SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT 1",
                        [query.to_fts()]).fetchone() is not None


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
    conn: sqlite3.Connection, query: LexicalQuery, limit: int, doc_ids: list[int] | None = None,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(passage_id, bm25 score — higher is better) for the best `limit` passages."""
    return ranked(conn, PASSAGES, query, limit, doc_ids, allowed)


def search_spans(
    conn: sqlite3.Connection, query: LexicalQuery, limit: int, doc_ids: list[int] | None = None,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(span_id, bm25 score — higher is better) for the best `limit` sentences."""
    return ranked(conn, SPANS, query, limit, doc_ids, allowed)


def ranked(
    conn: sqlite3.Connection, table: RankedTable, query: LexicalQuery, limit: int, doc_ids: list[int] | None,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(rowid, score) best first, ties by rowid: the terms' stored impacts plus each phrase's
    FTS5 bm25, summed per row. Only rows of `doc_ids` count (all when None); `allowed`, a
    boolean array by rowid saying the same, spares looking the documents' rows up (search
    keeps one per filter)."""
    if query.empty or doc_ids == []:
        return []
    rows, impacts = _term_impacts(conn, table, query.terms)
    for phrase in query.phrases:
        found = fts5_ranked(conn, table, '"' + " ".join(phrase) + '"')
        rows.append(np.fromiter((row for row, _ in found), dtype=np.int64, count=len(found)))
        impacts.append(np.fromiter((score for _, score in found), dtype=np.float64, count=len(found)))
    if not rows:
        return []
    scores = np.bincount(np.concatenate(rows), weights=np.concatenate(impacts))
    matched = np.flatnonzero(scores)
    if allowed is None and doc_ids is not None:
        allowed = _rows_of(conn, table, doc_ids)
    if allowed is not None:
        matched = matched[matched < len(allowed)]
        matched = matched[allowed[matched]]
    return _best(scores, matched, limit)


def fts5_ranked(conn: sqlite3.Connection, table: RankedTable, match: str) -> list[tuple[int, float]]:
    """(rowid, -bm25) of every row matching an FTS5 expression, as FTS5 scores it."""
    return [(row[0], float(row[1])) for row in _fts_rows(conn, table.table, table.key, match, None, None, table.rank)]


def _best(scores: np.ndarray, matched: np.ndarray, limit: int) -> list[tuple[int, float]]:
    if len(matched) > limit:
        cut = -np.partition(-scores[matched], limit - 1)[limit - 1]
        matched = matched[scores[matched] >= cut]  # ties at the cut all stay: the order is stable
    order = np.lexsort((matched, -scores[matched]))[:limit]
    return [(int(row), float(scores[row])) for row in matched[order]]


def _rows_of(conn: sqlite3.Connection, table: RankedTable, doc_ids: list[int]) -> np.ndarray:
    """Boolean array by rowid: the rows of these documents."""
    sql = f"SELECT {table.key} FROM {table.table} WHERE doc_id IN ({','.join('?' * len(doc_ids))})"
    ids = np.fromiter((row[0] for row in conn.execute(sql, doc_ids)), dtype=np.int64)
    allowed = np.zeros(int(ids.max()) + 1 if len(ids) else 0, dtype=bool)
    allowed[ids] = True
    return allowed


def _term_impacts(conn: sqlite3.Connection, table: RankedTable, terms: tuple[str, ...]) -> tuple[list, list]:
    """Rows and impacts of each query term, once per term as FTS5 counts an OR of them
    ("rule OR rules" counts the stem twice)."""
    stored = {}
    terms_stems = stems(terms)
    wanted = sorted({stem for found in terms_stems for stem in found})
    if wanted:
        sql = f"SELECT term, rowids, impacts FROM {table.table}_bm25 WHERE term IN ({','.join('?' * len(wanted))})"
        for term, rows, impacts in conn.execute(sql, wanted):
            stored[term] = (np.frombuffer(rows, dtype="<i4"), np.frombuffer(impacts, dtype="<f4"))
    rows, impacts = [], []
    for found in terms_stems:
        for stem in found:
            if stem in stored:
                rows.append(stored[stem][0].astype(np.int64))
                impacts.append(stored[stem][1].astype(np.float64))
    return rows, impacts


_stemmer = threading.local()


def stems(words: tuple[str, ...] | list[str]) -> list[list[str]]:
    """The terms FTS5 indexes for each word (porter stems), from an in-memory FTS5 table
    with the index's tokenizer: no second stemmer that could disagree with it."""
    conn = getattr(_stemmer, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE words USING fts5(word, tokenize='{TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE word_terms USING fts5vocab(words, instance)")
        _stemmer.conn = conn
    conn.execute("DELETE FROM words")
    conn.executemany("INSERT INTO words(rowid, word) VALUES (?, ?)", enumerate(words))
    found: list[list[str]] = [[] for _ in words]
    for row, term in conn.execute("SELECT doc, term FROM word_terms ORDER BY doc, offset"):
        found[row].append(term)
    return found


# --------------------------------------------------------------------------- build


def write_postings(conn: sqlite3.Connection, table: RankedTable) -> int:
    """Store every term's rows and bm25 impacts in `{table}_bm25` (after the FTS5 table is
    filled). Returns the number of postings. Reads FTS5's own term instances (fts5vocab),
    so terms are stemmed exactly as MATCH stems them; one row per term, its instances
    packed by SQLite as "rowid * columns + column" (no sort: fts5vocab delivers terms in
    order; ~1 s for the shared corpus)."""
    vocab = f"temp.{table.table}_terms"
    columns = list(table.weights)
    column_weight = np.asarray([table.weights[name] for name in columns])
    column_number = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(columns))
    conn.execute(f"DROP TABLE IF EXISTS {vocab}")
    conn.execute(f"CREATE VIRTUAL TABLE {vocab} USING fts5vocab(main, {table.table}_fts, instance)")
    terms, rows, freqs, counts = [], [], [], []
    sql = f"SELECT term, group_concat(doc * {len(columns)} + CASE col {column_number} END) FROM {vocab} GROUP BY term"
    for term, packed in conn.execute(sql):
        instances = np.sort(np.fromstring(packed, dtype=np.int64, sep=","))
        row, weight = instances // len(columns), column_weight[instances % len(columns)]
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])  # one posting per row
        terms.append(term)  # int32/float32 (exact for these counts): 100x holds ~60M postings
        rows.append(row[starts].astype(np.int32))
        freqs.append(np.add.reduceat(weight, starts).astype(np.float32))  # FTS5's: column weight per instance
        counts.append(np.diff(np.r_[starts, len(row)]).astype(np.int32))
    conn.execute(f"DROP TABLE {vocab}")
    if not terms:
        return 0
    row_count = conn.execute(f"SELECT count(*) FROM {table.table}").fetchone()[0]
    lengths = np.bincount(np.concatenate(rows), weights=np.concatenate(counts))  # tokens per row (FTS5's D)
    average_length = lengths.sum() / row_count
    conn.execute(f"DELETE FROM {table.table}_bm25")
    conn.executemany(
        f"INSERT INTO {table.table}_bm25(term, rowids, impacts) VALUES (?, ?, ?)",
        ((term, row.astype("<i4").tobytes(), _impacts(freq, lengths[row], average_length, row_count).tobytes())
         for term, row, freq in zip(terms, rows, freqs)),
    )
    return sum(len(row) for row in rows)


def _impacts(freq: np.ndarray, length: np.ndarray, average_length: float, row_count: int) -> np.ndarray:
    """One term's bm25 score in each row holding it, as fts5_aux.c computes it."""
    freq = freq.astype(np.float64)
    idf = np.log((row_count - len(freq) + 0.5) / (len(freq) + 0.5))
    idf = idf if idf > 0 else BM25_IDF_FLOOR
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / average_length)
    return (idf * freq * (BM25_K1 + 1) / (freq + norm)).astype("<f4")


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
