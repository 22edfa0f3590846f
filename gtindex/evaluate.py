"""Scoring search against a gold set (JSON lines: id, query, style, gold[doc, pdf_page, lines, quote]).

A hit *answers* a gold entry when it is the same document and
- the gold has printed lines: the hit's printed lines overlap them;
- the gold has a PDF page but no printed lines: the hit's pages cover that page and its
  cited lines hold at least half of the quote's words;
- the gold is a web page (no page): the cited lines hold at least half of the quote's words.

Reported: hit@1, hit@5, MRR@10, hit@100 and, over queries whose gold carries printed lines,
"exact lines @1": the top hit answers the query and, where the gold entry it answers has
printed lines, cites lines within those ±1 — the precision a user pasting the citation
relies on. (A query may accept two editions of one text, one with printed numbers and one
without; a top hit from the other edition is judged by that edition's rule.) Everything
also per query style.

hit@100 is a ceiling, not a goal: a query whose answer is not among the first 100 hits
cannot be fixed by reordering what search finds, only by finding more (a better model,
more text per candidate). A miss's rank is reported up to 100 for the same reason: rank
12 is an ordering problem, "not in the top 100" a retrieval one.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .citations import Hit
from .errors import GtindexError
from .lexical import holds, tokenize
from .search import Index

DEPTH = 100  # hits fetched per query: ranks are reported up to here (hit@100)
MRR_DEPTH = 10  # MRR counts answers ranked up to here
LINE_SLACK = 1  # cited lines may reach one line beyond the gold range


@dataclass(frozen=True)
class GoldEntry:
    doc: str
    pdf_page: int | None
    lines: tuple[int, int] | None
    quote: str


@dataclass(frozen=True)
class GoldQuery:
    id: str
    query: str
    style: str
    gold: tuple[GoldEntry, ...]

    @property
    def line_numbered(self) -> bool:
        return any(entry.lines for entry in self.gold)


@dataclass
class QueryResult:
    query: GoldQuery
    rank: int | None  # 1-based rank of the first answering hit within DEPTH
    exact_lines: bool | None  # top hit within gold lines ±1; None for gold without printed lines
    top: list[str]  # citations of the first hits, for the miss listing

    def to_json(self) -> dict:
        return {
            "id": self.query.id, "query": self.query.query, "style": self.query.style,
            "rank": self.rank, "exact_lines": self.exact_lines, "top": self.top,
            "expected": [
                {"doc": g.doc, "pdf_page": g.pdf_page, "lines": list(g.lines) if g.lines else None}
                for g in self.query.gold
            ],
        }


@dataclass
class Scores:
    queries: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr_at_10: float = 0.0
    hit_at_100: float = 0.0  # answered anywhere in the DEPTH hits fetched: what reordering could reach
    line_numbered: int = 0  # queries whose gold carries printed lines
    exact_lines_at_1: float | None = None

    @classmethod
    def of(cls, results: list[QueryResult]) -> "Scores":
        n = len(results)
        if not n:
            return cls()
        numbered = [r for r in results if r.exact_lines is not None]
        return cls(
            queries=n,
            hit_at_1=sum(r.rank == 1 for r in results) / n,
            hit_at_5=sum(r.rank is not None and r.rank <= 5 for r in results) / n,
            mrr_at_10=sum(1.0 / r.rank for r in results if r.rank and r.rank <= MRR_DEPTH) / n,
            hit_at_100=sum(r.rank is not None for r in results) / n,
            line_numbered=len(numbered),
            exact_lines_at_1=(sum(bool(r.exact_lines) for r in numbered) / len(numbered)) if numbered else None,
        )

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class EvalReport:
    mode: str
    overall: Scores
    by_style: dict[str, Scores]
    results: list[QueryResult] = field(default_factory=list)

    @property
    def misses(self) -> list[QueryResult]:
        """Queries not answered in the top 5, or whose top hit cites the wrong lines."""
        return [r for r in self.results if r.rank is None or r.rank > 5 or r.exact_lines is False]

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "overall": self.overall.to_json(),
            "by_style": {style: scores.to_json() for style, scores in self.by_style.items()},
            "misses": [r.to_json() for r in self.misses],
        }


# --------------------------------------------------------------------------- gold


def load_gold(path: Path) -> list[GoldQuery]:
    """The queries of a gold file, each record checked: a bad one is an error naming its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GtindexError(f"cannot read gold file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise GtindexError(f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8") from None
    queries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            queries.append(_gold_query(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise GtindexError(f"{path}:{number}: not a gold record ({exc}); expected id, query, "
                               "gold[{doc, pdf_page, lines: [first, last], quote}]") from None
    if not queries:
        raise GtindexError(f"{path} holds no gold queries; one JSON object a line: id, query, gold[]")
    return queries


def _gold_query(record: dict) -> GoldQuery:
    if not isinstance(record.get("query"), str) or not record["query"].strip():
        raise ValueError("no query text")
    return GoldQuery(str(record["id"]), record["query"], record.get("style", "unknown"),
                     tuple(_gold_entry(entry) for entry in record["gold"]))


def _gold_entry(entry: dict) -> GoldEntry:
    page, lines = entry.get("pdf_page"), entry.get("lines")
    if not isinstance(entry["doc"], str):
        raise TypeError(f"doc {entry['doc']!r} is not a file name")
    if page is not None and (not isinstance(page, int) or isinstance(page, bool)):
        raise TypeError(f"pdf_page {page!r} is not a page number")
    if lines and not (isinstance(lines, list) and len(lines) == 2
                      and all(isinstance(n, int) and not isinstance(n, bool) for n in lines)):
        raise TypeError(f"lines {lines!r} is not [first, last]")
    return GoldEntry(doc=entry["doc"], pdf_page=page, lines=tuple(lines) if lines else None,
                     quote=entry.get("quote", ""))


# --------------------------------------------------------------------------- matching


def quote_words(text: str) -> set[str]:
    """The distinct words of a text, as the quote rule compares them."""
    return set(tokenize(text))


def answers(hit: Hit, entry: GoldEntry, doc_names: dict[str, str]) -> bool:
    """Does this hit answer this gold entry? (`doc_names`: any file name → indexed name)."""
    if doc_names.get(entry.doc, entry.doc) != hit.doc:
        return False
    if entry.lines is not None:
        if hit.line_start is None:
            return False
        return hit.line_start <= entry.lines[1] and entry.lines[0] <= hit.line_end
    if entry.pdf_page is not None and not hit.page_start <= entry.pdf_page <= hit.page_end:
        return False
    quote = quote_words(entry.quote)
    return bool(quote) and len(quote & quote_words(hit.text)) * 2 >= len(quote)


def exact_lines(hit: Hit, entry: GoldEntry) -> bool:
    """The hit's printed lines lie within the gold lines ±LINE_SLACK."""
    if entry.lines is None or hit.line_start is None:
        return False
    return entry.lines[0] - LINE_SLACK <= hit.line_start and hit.line_end <= entry.lines[1] + LINE_SLACK


def score_query(query: GoldQuery, hits: list[Hit], doc_names: dict[str, str]) -> QueryResult:
    rank = next(
        (hit.rank for hit in hits if any(answers(hit, entry, doc_names) for entry in query.gold)), None
    )
    exact = None
    if query.line_numbered:
        top = hits[0] if hits else None
        exact = top is not None and any(
            answers(top, entry, doc_names) and (entry.lines is None or exact_lines(top, entry))
            for entry in query.gold
        )
    return QueryResult(query, rank, exact, [hit.citation for hit in hits[:3]])


# --------------------------------------------------------------------------- run


def evaluate(index: Index, gold_path: Path, mode: str = "hybrid") -> EvalReport:
    queries = load_gold(gold_path)
    doc_names = dict(index.conn.execute(
        "SELECT doc_names.name, documents.doc FROM doc_names JOIN documents USING (doc_id)"
    ).fetchall())
    results = [score_query(q, index.search(q.query, k=DEPTH, mode=mode), doc_names) for q in queries]
    styles = sorted({r.query.style for r in results})
    return EvalReport(
        mode=mode,
        overall=Scores.of(results),
        by_style={style: Scores.of([r for r in results if r.query.style == style]) for style in styles},
        results=results,
    )


def unheld_documents(index: Index, queries: list[GoldQuery]) -> list[str]:
    """Documents a gold set names that the index holds under no name: their queries can only
    miss, so the scores say nothing about them (a gold set for another corpus, a typo)."""
    held = {name for (name,) in index.conn.execute("SELECT name FROM doc_names")}
    named = {entry.doc for query in queries for entry in query.gold}
    return sorted(named - held)


# --------------------------------------------------------------------------- references

# A section of Title 21 as guidances state it: "21 CFR 107.240", "21 C.F.R. § 314.50",
# "§ 312.32(c)", and each section of a list after one ("21 CFR 314.3(b) and 320.25",
# "§§ 314.50, 314.94"). Its number is what a user types after "21 CFR".
_CFR_LEAD = re.compile(r"(?:\b21\s*C\.?\s?F\.?\s?R\.?|§)\s*(?:[Pp]arts?\s*|§+\s*)?")
_SECTION = r"\d{1,4}\.\d{1,4}(?!\d)(?:\([a-z0-9]{1,4}\))*"
_SECTION_LIST = re.compile(rf"{_SECTION}(?:\s*(?:,|;|and|or|,\s*and)\s*(?:§+\s*)?{_SECTION})*")
_SECTION_NUMBER = re.compile(r"\d{1,4}\.\d{1,4}(?!\d)")


def _stated_sections(text: str) -> set[str]:
    found = set()
    for lead in _CFR_LEAD.finditer(text):
        listed = _SECTION_LIST.match(text, lead.end())
        if listed:
            found.update(_SECTION_NUMBER.findall(listed.group(0)))
    return found


# The kinds of reference a user types, each mined from the corpus on its own.
CFR, CFR_PART, ACT_SECTION, ICH = "21 CFR", "21 CFR part", "section", "ICH"
REFERENCE_KINDS = (CFR, CFR_PART, ACT_SECTION, ICH)
ICH_SECTION = "ICH section"  # a guideline's numbered section: guideline_section_queries


@dataclass(frozen=True)
class ReferenceQuery:
    query: str  # "21 CFR 107.240", "section 506(c)", "ICH Q1E", as a user types it
    reference: str  # "107.240", "506(c)", "Q1E"
    doc: str  # the one document stating it
    kind: str = CFR  # one of REFERENCE_KINDS

    def pattern(self) -> re.Pattern:
        """Where a hit states the reference (in its lines, section heading or, for an ICH
        designation, its document's title)."""
        return _REFERENCE_PATTERNS[self.kind](self.reference)


@dataclass
class ReferenceReport:
    queries: int
    right_at_1: float  # the top hit is the document stating the reference, and cites it
    misses: list[tuple[ReferenceQuery, str]]  # the query and the top hit's citation ("" for none)
    by_kind: dict[str, tuple[int, float]] = field(default_factory=dict)  # kind -> (queries, right at 1)

    def to_json(self) -> dict:
        return {"queries": self.queries, "right_at_1": self.right_at_1,
                "by_kind": {kind: {"queries": n, "right_at_1": right} for kind, (n, right) in self.by_kind.items()},
                "misses": [{"query": q.query, "doc": q.doc, "top": top} for q, top in self.misses]}


def _section_pattern(section: str) -> re.Pattern:
    """The section number standing alone: 107.240, not 107.2401 or 1107.240."""
    return re.compile(rf"(?<![\d.]){re.escape(section)}(?!\d)")


def _parenthesised(reference: str) -> str:
    """The reference as a regex, a space allowed before each parenthesis ("506 (c)")."""
    return re.escape(reference).replace(r"\(", r"\s?\(")


def _act_section_pattern(reference: str) -> re.Pattern:
    """506(c) standing alone or with its subdivisions (506(c)(1)); not 1506(c) nor 506(cc).
    A section without a subdivision (519) only after "section": alone it is any number."""
    if "(" not in reference:
        return re.compile(rf"\b[Ss]ections?\s+{re.escape(reference)}(?!\w|\.\d)")
    return re.compile(rf"(?<![\w(.]){_parenthesised(reference)}(?!\w)")


def _designation_pattern(designation: str) -> re.Pattern:
    """Q1E standing alone: not Q1E1, nor Q9 inside Q9(R1) (another guideline)."""
    return re.compile(rf"(?<!\w){_parenthesised(designation)}(?![\w(])")


def _part_pattern(part: str) -> re.Pattern:
    """Part 11 as "part 11", "Parts 11" or a section of it, "CFR 11.10"; not part 110."""
    return re.compile(rf"\b(?:[Pp]arts?|CFR)\s+{re.escape(part)}(?!\d)")


def _heading_pattern(number: str) -> re.Pattern:
    """3.3 standing alone in a section path: not 13.3, 3.31 nor 6.3.3."""
    return re.compile(rf"(?<![\d.]){re.escape(number)}(?!\d)")


_REFERENCE_PATTERNS = {CFR: _section_pattern, CFR_PART: _part_pattern, ACT_SECTION: _act_section_pattern,
                       ICH: _designation_pattern, ICH_SECTION: _heading_pattern}

# Every number standing alone that _section_pattern could match ("107.240" in any form).
_ANY_SECTION = re.compile(r"(?<![\d.])\d{1,4}\.\d{1,4}(?!\d)")
# A section of the FD&C or PHS Act as guidances state it: "section 506(c)", "sections
# 505(b)(2) and ...", "section 519": three digits (a bare "section 3" is a part of the
# guidance itself), with or without subdivisions.
_ACT_SECTION = re.compile(r"\b[Ss]ections?\s+(\d{3}[A-Z]?(?:\s?\([a-zA-Z0-9]{1,4}\))*)(?![\w(]|\.\d)")
# A part of Title 21 as guidances state it: "21 CFR part 11", "21 CFR Parts 50".
_CFR_PART = re.compile(r"\b21\s*CFR\s+[Pp]arts?\s+(\d{1,4})(?![\d.])")
# An ICH guideline as guidances name it: "ICH Q1E", "ICH E6(R2)", "ICH M7".
_ICH_DESIGNATION = re.compile(r"\bICH\s+([QEMS]\d{1,2}[A-F]?(?:\s?\(R\d\))?)(?![\w(])")


def reference_queries(index: Index) -> list[ReferenceQuery]:
    """A query for every reference of each kind that the indexed documents state and that
    appears (in any form) in exactly one of them: a query with one right answer, mined from
    the corpus, not written by hand. "21 CFR <section>" for sections of Title 21, "21 CFR
    Part <number>" for its parts, "section <number>" for sections of the Acts, "ICH
    <designation>" for ICH guidelines."""
    texts: dict[str, str] = {}
    for doc, text in index.conn.execute(
        "SELECT documents.doc, group_concat(lines.text, ' ') FROM lines JOIN documents USING (doc_id)"
        " GROUP BY lines.doc_id ORDER BY documents.doc"
    ):
        texts[doc] = " ".join(text.split())
    titles = dict(index.conn.execute("SELECT doc, title FROM documents"))
    # A guideline's own title names it ("... Q1E"): its document holds the designation too.
    titled = {doc: f"{texts[doc]} {titles.get(doc, '')}" for doc in texts}
    return (_cfr_queries(texts)
            + _stated_once(texts, CFR_PART, _CFR_PART, lambda ref: f"21 CFR Part {ref}")
            + _stated_once(texts, ACT_SECTION, _ACT_SECTION, lambda ref: f"section {ref}")
            + _stated_once(titled, ICH, _ICH_DESIGNATION, lambda ref: f"ICH {ref}"))


def with_unstated_subdivision(index: Index, queries: list[ReferenceQuery]) -> list[ReferenceQuery]:
    """Each "21 CFR" and "section" query typed with a subdivision that no document states
    ("21 CFR 107.240(a)", "section 506(c)(1)"): a lettered paragraph after a section number,
    a numbered one after a closing parenthesis, the first that stands nowhere in the corpus.
    The right answer is still the one document stating the provision that holds it."""
    text = " ".join(" ".join(row[0] for row in index.conn.execute("SELECT text FROM lines")).split())
    typed = []
    for query in queries:
        if query.kind not in (CFR, ACT_SECTION):
            continue
        labels = [f"({n})" for n in range(1, 100)] if query.reference.endswith(")") else \
            [f"({letter})" for letter in "abcdefghijklmnopqrstuvwxyz"]
        label = next((label for label in labels if query.reference + label not in text), None)
        if label is not None:
            typed.append(ReferenceQuery(query.query + label, query.reference, query.doc, query.kind))
    return typed


# The other ways users type a reference, by kind: glued "21CFR", "C.F.R." with its dots, "§"
# alone, a subdivision after a space, "sec." for "section". Each is the same reference, so the same one document must come
# first (lexical._joined makes them one form).
_TYPED_OTHERWISE = {
    CFR: (lambda ref: f"21CFR {ref}", lambda ref: f"21 C.F.R. {ref}", lambda ref: f"§ {ref}"),
    CFR_PART: (lambda ref: f"21CFR Part {ref}", lambda ref: f"21CFR{ref}"),
    ACT_SECTION: (lambda ref: "section " + ref.replace("(", " ("), lambda ref: f"sec. {ref}"),
}


def typed_otherwise(queries: list[ReferenceQuery]) -> list[ReferenceQuery]:
    """Each mined "21 CFR", part and "section" query typed in the other ways users type it
    ("21CFR 20.61", "21 C.F.R. 20.61", "§ 20.61", "21CFR Part 812", "21CFR203", "section 201
    (v)", "sec. 519"); a form equal to the mined one is left out. (ICH designations were found
    in every form.)"""
    typed = []
    for query in queries:
        for form in _TYPED_OTHERWISE.get(query.kind, ()):
            text = form(query.reference)
            if text != query.query:
                typed.append(ReferenceQuery(text, query.reference, query.doc, query.kind))
    return typed


# A guideline's designation closing its title ("... RESIDUAL SOLVENTS Q3C(R8)"), and a
# numbered heading ("3.3 Options for Describing Limits of Class 2 Solvents").
_TITLE_DESIGNATION = re.compile(r"\b([QEMS]\d{1,2}[A-F]?(?:\(R\d\))?)\s*$")
_HEADING_NUMBER = re.compile(r"(\d+\.\d+(?:\.\d+)*)\s+\S")


def guideline_section_queries(index: Index) -> list[ReferenceQuery]:
    """"ICH <designation> <number>" for every numbered heading of a guideline whose title
    ends with its designation, when no other document's title holds that designation (Q11
    has an ICH and an FDA edition: either would be right). The right first hit is in that
    guideline, under that heading (its section path holds the number)."""
    titles = {doc: title.strip() for doc, title in index.conn.execute("SELECT doc, title FROM documents")}
    designations = {doc: found.group(1) for doc, title in titles.items() if (found := _TITLE_DESIGNATION.search(title))}
    title_tokens = {doc: tokenize(title) for doc, title in titles.items()}
    queries: dict[tuple[str, str], ReferenceQuery] = {}
    rows = index.conn.execute("SELECT DISTINCT documents.doc, passages.section FROM passages JOIN documents USING (doc_id)"
                              " ORDER BY passages.passage_id")
    for doc, section in rows:
        designation = designations.get(doc)
        heading = _HEADING_NUMBER.match(section.split(" > ")[-1]) if designation else None
        if heading is None:
            continue
        named = tuple(tokenize(designation))
        if sum(holds(tokens, named) for tokens in title_tokens.values()) == 1:
            number = heading.group(1)
            queries.setdefault((doc, number), ReferenceQuery(f"ICH {designation} {number}", number, doc, ICH_SECTION))
    return list(queries.values())


def _cfr_queries(texts: dict[str, str]) -> list[ReferenceQuery]:
    stated = {(section, doc) for doc, text in texts.items() for section in _stated_sections(text)}
    holders: dict[str, set[str]] = {}  # section number -> documents where it stands in any form
    for doc, text in texts.items():
        for number in set(_ANY_SECTION.findall(text)):
            holders.setdefault(number, set()).add(doc)
    return [ReferenceQuery(f"21 CFR {section}", section, doc, CFR)
            for section, doc in sorted(stated) if holders.get(section) == {doc}]


def _stated_once(texts: dict[str, str], kind: str, stated_as: re.Pattern, typed) -> list[ReferenceQuery]:
    """References `stated_as` finds (spaces taken out: "506 (c)" is 506(c)) that stand, in
    any form the kind's pattern matches, in exactly one document."""
    stated = sorted({re.sub(r"\s", "", match.group(1)) for text in texts.values() for match in stated_as.finditer(text)})
    queries = []
    for reference in stated:
        pattern = _REFERENCE_PATTERNS[kind](reference)
        holders = [doc for doc, text in texts.items() if pattern.search(text)]
        if len(holders) == 1:
            queries.append(ReferenceQuery(typed(reference), reference, holders[0], kind))
    return queries


def evaluate_references(index: Index, queries: list[ReferenceQuery] | None = None) -> ReferenceReport:
    """Share of reference queries whose first hit is the one document stating the reference
    and whose cited lines (or section heading; for an ICH designation, also the document's
    title) state it; overall and by kind."""
    queries = reference_queries(index) if queries is None else queries
    misses = []
    for query in queries:
        hits = index.search(query.query, k=1)
        top = hits[0] if hits else None
        if top is None or top.doc != query.doc or not _states(top, query):
            misses.append((query, top.citation if top else ""))
    by_kind = {}
    for kind in (*REFERENCE_KINDS, ICH_SECTION):
        count = sum(query.kind == kind for query in queries)
        if count:
            by_kind[kind] = (count, 1 - sum(query.kind == kind for query, _ in misses) / count)
    right = len(queries) - len(misses)
    return ReferenceReport(len(queries), right / len(queries) if queries else 0.0, misses, by_kind)


def _states(hit: Hit, query: ReferenceQuery) -> bool:
    pattern = query.pattern()
    if query.kind == ICH_SECTION:  # the section itself, not a line mentioning it ("see 4.1")
        return bool(pattern.search(hit.section))
    places = [" ".join(hit.text.split()), hit.section]
    if query.kind == ICH:
        places.append(hit.title)
    return any(pattern.search(place) for place in places)
