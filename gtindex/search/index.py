"""The search entry point: an open index generation, its documents, and query → hits."""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from .. import acronyms, lexical
from ..citations import Hit, cited_line_from_row
from ..documents import KIND_FOOTNOTE, LINE_KIND_COMPUTED, LINE_KIND_PARAGRAPH
from ..errors import GtindexError
from ..index import catalogue, generations, schema
from . import fuse, narrow, spelling
from .candidates import Signals, Span
from .config import ACRONYM_MAX_SHARE, EXTEND_MARGIN, MODES, STATUSES, WEIGHTS
from .retrieve import Retriever
from .superseded import Restatements, superseded_by


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: int
    doc: str
    title: str
    status: str
    date: str
    year: int | None
    center: str
    line_kind: str
    source_type: str
    pages: int
    designation: str = ""


def misspelled(path: Path | str, query: str) -> dict[str, list[str]]:
    """The words of a query that found nothing which stand nowhere in the live generation of
    this index, each with the index's words spelled like it (spelling.suggestions): the hint
    the CLI prints. Only the database is opened, not a whole Index (its documents,
    designations and acronyms), since this runs in a process that already searched."""
    from ..embedding import DIM, MODEL_NAME

    generation = generations.open_generation(Path(path), MODEL_NAME, DIM)
    conn = schema.connect_readonly(generation.sqlite_path)
    try:
        return spelling.suggestions(conn, query)
    finally:
        conn.close()


def _numbering(info: DocumentInfo, page: int | None) -> tuple[str, str]:
    """How `show`'s messages name a document's numbers: "line" or "paragraph", and where."""
    what = "paragraph" if info.line_kind == LINE_KIND_PARAGRAPH else "line"
    return what, f" on PDF page {page}" if page is not None else ""


class Index:
    """A read-only view of the live generation of an index directory."""

    def __init__(self, path: Path, generation: generations.Generation, conn: sqlite3.Connection,
                 fast_start: bool = False):
        self.path = path
        self.generation = generation
        self.conn = conn
        self.retriever = Retriever(generation, conn, fast_start)
        self._fast_start = fast_start
        self._superseded_by = superseded_by(conn)  # doc_id → (doc_id, name) of the version that replaced it
        self.restated = Restatements(conn, self._superseded_by)
        designations = _designations(conn)
        self._documents = {
            row["doc_id"]: DocumentInfo(
                doc_id=row["doc_id"], doc=row["doc"], title=row["title"], status=row["status"],
                date=row["date"], year=row["year"], center=row["center"], line_kind=row["line_kind"],
                source_type=row["source_type"], pages=row["pages"],
                designation=designations.get(row["doc_id"], ""),
            )
            for row in conn.execute("SELECT * FROM documents")
        }
        self.acronyms = _acronyms(conn, len_documents=len(self._documents))
        # For typed references a title states ("Q3C(R8)"): tokenized once, not per query.
        self._title_tokens = {doc_id: lexical.tokenize(info.title) for doc_id, info in self._documents.items()}

    @classmethod
    def open(cls, path: Path | str, fast_start: bool = False) -> "Index":
        """The live generation. fast_start: this process answers one query and exits
        (`gtindex search`), so load the query model the cheapest way (see OnnxEncoder)."""
        from ..embedding import DIM, MODEL_NAME

        path = Path(path)
        generation = generations.open_generation(path, MODEL_NAME, DIM)
        conn = schema.connect_readonly(generation.sqlite_path)
        return cls(path, generation, conn, fast_start=fast_start)

    def encoder(self):
        return self.retriever.encoder()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ documents

    @property
    def documents(self) -> list[DocumentInfo]:
        return sorted(self._documents.values(), key=lambda d: d.doc)

    def find_document(self, name: str) -> DocumentInfo:
        """A document by file name (any of its names) or file name without extension."""
        _require_utf8(name, "document name")
        return self._documents[catalogue.find(self.conn, name, self.path).doc_id]

    def lines(
        self, name: str, numbers: tuple[int, int] | None = None, page: int | None = None
    ) -> tuple[DocumentInfo, list[sqlite3.Row]]:
        """Lines of a document for `gtindex show`, addressed as its citations address them.

        `numbers` are printed line numbers (PDFs with a margin numbering), paragraph numbers
        (web pages) or, with `page`, positions on that physical page (PDFs without). A
        range or page that does not exist is an error that says which ones do.
        """
        info = self.find_document(name)
        where, params = ["doc_id = ?"], [info.doc_id]
        if page is not None:
            if not 1 <= page <= info.pages:
                raise GtindexError(f"{info.doc} has no PDF page {page}; its pages run 1–{info.pages}")
            where.append("page = ?")
            params.append(page)
        column = self._column(info, numbers, page)
        if numbers is not None:
            if column == "line_on_page" and page is None:
                raise GtindexError(
                    f"{info.doc} has no printed line numbers; give --page P (with --lines A-B for lines on that page)"
                )
            where.append(f"{column} BETWEEN ? AND ?")
            params += list(numbers)
        elif page is None:
            raise GtindexError("say which lines to show: --lines A-B, --page P, or both")
        rows = self.conn.execute(f"SELECT * FROM lines WHERE {' AND '.join(where)} ORDER BY seq", params).fetchall()
        if not rows and numbers is None:
            raise GtindexError(f"{info.doc} has no text on PDF page {page}")
        if not rows:
            raise GtindexError(self._no_lines(info, column, numbers, page))
        return info, rows

    def _column(self, info: DocumentInfo, numbers: tuple[int, int] | None, page: int | None) -> str:
        """What `show`'s numbers are: printed line (or paragraph) numbers, or places on a page."""
        column = "line_on_page" if info.line_kind == LINE_KIND_COMPUTED else "line"
        # Lines a numbered PDF leaves unnumbered are cited by their place on the page ("p. 13
        # (PDF p. 16), lines 6–8 on the page (computed)"): read the range so when the page
        # prints none of those numbers and some line at those places is unnumbered.
        if numbers is not None and page is not None and column == "line" and self._positions_only(info, page, numbers):
            column = "line_on_page"
        return column

    def beyond(self, info: DocumentInfo, numbers: tuple[int, int], page: int | None = None) -> str | None:
        """What part of a range `show` found lines in (`lines` gave `info`) runs past the
        document's (or page's) first or last line, said as a warning; None when all of it lies
        within. A citation of "lines 418–500" is wrong even though lines 418–420 exist."""
        span = self._range(info, self._column(info, numbers, page), page)
        if span is None or span[0] <= numbers[0] and numbers[1] <= span[1]:
            return None
        what, place = _numbering(info, page)
        return (f"{info.doc}: only part of {what}s {numbers[0]}–{numbers[1]}{place} exists; "
                f"{what}s{place} run {span[0]}–{span[1]}")

    def _no_lines(self, info: DocumentInfo, column: str, numbers: tuple[int, int], page: int | None) -> str:
        """Why `show` has nothing at these numbers: they lie outside the document's (or page's)
        numbers, or inside them on lines without text (a margin number beside a blank line)."""
        what, place = _numbering(info, page)
        asked = f"{what} {numbers[0]}" if numbers[0] == numbers[1] else f"{what}s {numbers[0]}–{numbers[1]}"
        span = self._range(info, column, page)
        if span is None:
            return f"{info.doc} has no {asked}{place}; it has no numbered {what}s{place}"
        if span[0] < numbers[0] and numbers[1] < span[1]:
            before, after = self._nearest(info, column, numbers, page)
            return (f"{info.doc} has no text on {asked}{place} (blank, or not printed); "
                    f"the nearest {what}s with text are {before} and {after}")
        return f"{info.doc} has no {asked}{place}; {what}s{place} run {span[0]}–{span[1]}"

    def footnote(self, name: str, number: int, page: int | None = None) -> tuple[DocumentInfo, list[sqlite3.Row]]:
        """The lines of footnote `number` (`gtindex show DOC --footnote N`), as a citation
        names it ("p. 1, footnote 1"): every line of it, wherever it runs on, or those on
        PDF page `page` (for a document that numbers its footnotes afresh by chapter)."""
        info = self.find_document(name)
        sql, params = "SELECT * FROM lines WHERE doc_id = ? AND kind = ? AND footnote = ?", [info.doc_id, KIND_FOOTNOTE, number]
        if page is not None:
            sql, params = sql + " AND page = ?", params + [page]
        rows = self.conn.execute(sql + " ORDER BY seq", params).fetchall()
        if not rows and page is not None:
            raise GtindexError(f"{info.doc} has no footnote {number} on PDF page {page}")
        if not rows:
            low, high = self.conn.execute("SELECT min(footnote), max(footnote) FROM lines WHERE doc_id = ? AND kind = ?",
                                          (info.doc_id, KIND_FOOTNOTE)).fetchone()
            exists = f"its footnotes run {low}–{high}" if low is not None else "it has no footnotes"
            raise GtindexError(f"{info.doc} has no footnote {number}; {exists}")
        return info, rows

    def _positions_only(self, info: DocumentInfo, page: int, numbers: tuple[int, int]) -> bool:
        """The page prints no line number in this range, and a line at these places on it has
        none: only a computed citation names them."""
        where = "doc_id = ? AND page = ? AND {} BETWEEN ? AND ?"
        prints = f"SELECT 1 FROM lines WHERE {where.format('line')} LIMIT 1"
        unnumbered = f"SELECT 1 FROM lines WHERE {where.format('line_on_page')} AND line IS NULL LIMIT 1"
        params = (info.doc_id, page, *numbers)
        return (self.conn.execute(prints, params).fetchone() is None
                and self.conn.execute(unnumbered, params).fetchone() is not None)

    def _nearest(self, info: DocumentInfo, column: str, numbers: tuple[int, int], page: int | None) -> tuple[int, int]:
        """The numbers with text just before and just after a range inside the document's."""
        on_page, extra = (" AND page = ?", [page]) if page is not None else ("", [])
        where = f"FROM lines WHERE doc_id = ?{on_page} AND {column}"
        before = self.conn.execute(f"SELECT max({column}) {where} < ?", [info.doc_id, *extra, numbers[0]]).fetchone()[0]
        after = self.conn.execute(f"SELECT min({column}) {where} > ?", [info.doc_id, *extra, numbers[1]]).fetchone()[0]
        return before, after

    def _range(self, info: DocumentInfo, column: str, page: int | None) -> tuple[int, int] | None:
        sql = f"SELECT min({column}), max({column}) FROM lines WHERE doc_id = ?"
        params: list = [info.doc_id]
        if page is not None:
            sql += " AND page = ?"
            params.append(page)
        low, high = self.conn.execute(sql, params).fetchone()
        return (low, high) if low is not None else None

    def _filtered_doc_ids(self, doc: str | None, status: str | None, since: int | None) -> list[int] | None:
        """Document ids allowed by the filters, or None when nothing is filtered."""
        if doc is None and status is None and since is None:
            return None
        if status is not None and status not in STATUSES:
            raise GtindexError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
        wanted = [self.find_document(doc)] if doc is not None else list(self._documents.values())
        return [
            info.doc_id
            for info in wanted
            if (status is None or info.status == status)
            and (since is None or (info.year is not None and info.year >= since))
        ]

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        k: int = 5,
        doc: str | None = None,
        status: str | None = None,
        since: int | None = None,
        mode: str = "hybrid",
        include_superseded: bool = False,
    ) -> list[Hit]:
        """Hits for the query, best first. Vectors and the query model are read on first use,
        so a build may publish two newer generations and delete this one in between: the
        search then starts over on the live generation (old or new index, never a failure)."""
        arguments = (query, k, doc, status, since, mode, include_superseded)
        try:
            return self._search(*arguments)
        except GtindexError:
            if not self._replaced():
                raise
            self._switch_to_live()
            return self._search(*arguments)

    def _replaced(self) -> bool:
        try:
            live = generations.current_generation(self.path)
        except GtindexError:
            return False
        return live is not None and live.resolve() != self.generation.path.resolve()

    def _switch_to_live(self) -> None:
        fresh = Index.open(self.path, fast_start=self._fast_start)
        self.close()
        self.__dict__.update(fresh.__dict__)  # every cache belonged to the replaced generation

    def _search(self, query: str, k: int, doc: str | None, status: str | None, since: int | None,
                mode: str, include_superseded: bool) -> list[Hit]:
        if mode not in MODES:
            raise GtindexError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        # Control characters alone (NUL, ESC) are no query either; lone surrogates (bytes that
        # were not UTF-8) are left for the check below, which names that problem.
        if not "".join(c for c in query if c.isprintable() or "\ud800" <= c <= "\udfff").strip():
            raise GtindexError("empty query; type the words or question to search for")
        _require_utf8(query, "query")
        if k < 1:
            raise GtindexError(f"-k must be at least 1, not {k}")
        doc_ids = self._filtered_doc_ids(doc, status, since)
        if doc_ids == []:
            return []
        weights = mode_weights(mode)
        signals = self.signals(query, doc_ids, weights)
        if mode == "hybrid" and not (signals.span_lexical or signals.titled or signals.reference_lexical
                                     or self._occurs(signals)):
            return []
        # A superseded draft is searched too, but a sentence of it that its final restates
        # is the final's to cite; one the final lacks is a hit marked [superseded by ...].
        drafts = doc is None and not include_superseded
        return self.hits(fuse.ranked(signals, weights), k, signals.span_lexical, drafts,
                         by_provision=signals.by_provision)

    def _occurs(self, signals: Signals) -> bool:
        """Some word of the query stands somewhere in the index, whatever the filters. When none
        does ("zzqqxx", "immunogenicty", "AAV" in a corpus that never writes it), the nearest
        vectors are no answer: the query's tokens mean nothing the model was shown here (the
        first hits were a West Nile virus paragraph for "AAV" and "immunogenicty", a table of
        date formats for "zzqqxx"). Hybrid search then finds
        nothing (exit 1), as lexical search does; `--mode dense` still ranks by meaning alone,
        and a filtered search whose documents lack the words still gets its hits by meaning."""
        return lexical.occurs(self.conn, signals.query)

    def signals(self, query: str, doc_ids: list[int] | None, weights: dict[str, float]) -> Signals:
        """The candidate sentences of the query (expanded with the corpus's acronyms) and their signals."""
        return self.retriever.signals(acronyms.expand(query, self.acronyms), doc_ids, weights, self._title_tokens)

    def hits(self, ranked: list[tuple[Span, float]], k: int, span_lexical: dict[int, float],
             leave_restated: bool = True, margin: float = EXTEND_MARGIN,
             by_provision: Container[int] = ()) -> list[Hit]:
        """The first k places of the ranking as hits (leave_restated: a superseded draft's
        sentence that its final restates is left to the final; margin: narrowing's join
        margin, config.EXTEND_MARGIN; by_provision: sentences citing a typed reference only
        through a provision holding it, Signals.by_provision)."""
        places = narrow.places(ranked, k, span_lexical, self._superseded_by,
                               self.restated if leave_restated else None, margin)
        return [self._hit(rank, span, first, last, score, span.span_id in by_provision)
                for rank, (span, first, last, score) in enumerate(places, 1)]

    def _hit(self, rank: int, span: Span, first: int, last: int, score: float, by_provision: bool = False) -> Hit:
        info = self._documents[span.doc_id]
        context = (self.conn.execute("SELECT text FROM passages WHERE passage_id = ?", span.passages[:1]).fetchone()
                   if span.passages else None)
        rows = self.conn.execute(
            "SELECT * FROM lines WHERE doc_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (span.doc_id, first, last),
        ).fetchall()
        # A sentence running onto the next page has that page's footnotes between its lines
        # (and a footnote, body text): cite only lines of the kind the sentence starts with.
        in_footnote = rows[0]["kind"] == KIND_FOOTNOTE
        rows = [row for row in rows if (row["kind"] == KIND_FOOTNOTE) == in_footnote]
        final = self._superseded_by.get(span.doc_id)
        return Hit(
            rank=rank, doc=info.doc, title=info.title, status=info.status, date=info.date,
            center=info.center, section=rows[0]["section"], line_kind=info.line_kind,
            lines=[cited_line_from_row(row) for row in rows], context=context[0] if context else "",
            score=score, designation=info.designation, superseded_by=final[1] if final else "",
            by_provision=by_provision,
        )


def mode_weights(mode: str) -> dict[str, float]:
    """The signals a mode uses: all (hybrid), or those whose names end in dense or lexical."""
    if mode == "hybrid":
        return WEIGHTS
    return {name: weight for name, weight in WEIGHTS.items() if name.endswith(mode)}


# "Draft Guidance for Industry", "Guidance for Industry and FDA Staff": the kind of document,
# printed on the cover page under the title; citations name it after the title.
_DESIGNATION = re.compile(r"^(?:Draft\s+|Final\s+)?Guidance\s+for\s+[A-Z][\w ,]{2,60}$")
# A designation broken over two lines: "… Industry and Food and" + "Drug Administration Staff",
# "… Industry, User" + "Facilities and FDA Staff", "… Industry and FDA" + "Staff".
_UNFINISHED = re.compile(r"(?:\b(?:and|for|of|the)|,\s*\w*)$")
_STAFF_LINE = re.compile(r"^(?:[A-Z][\w-]*\s+(?:and\s+)?){0,4}Staff$")


def _designations(conn: sqlite3.Connection) -> dict[int, str]:
    """doc_id → the cover's designation line, joined with its continuation line."""
    cover: dict[int, list[str]] = {}
    for row in conn.execute("SELECT doc_id, text FROM lines WHERE page = 1 ORDER BY doc_id, seq"):
        cover.setdefault(row["doc_id"], []).append(" ".join(row["text"].split()))
    found: dict[int, str] = {}
    for doc_id, texts in cover.items():
        for i, text in enumerate(texts):
            if _DESIGNATION.match(text):
                rest = texts[i + 1] if i + 1 < len(texts) else ""
                if rest and (_UNFINISHED.search(text) or _STAFF_LINE.match(rest)):
                    text = f"{text} {rest}"
                found[doc_id] = text
                break
    return found


def _acronyms(conn: sqlite3.Connection, len_documents: int) -> list[acronyms.Acronym]:
    """The corpus's acronyms worth expanding: one that most documents use (FDA, CFR) is
    common knowledge, and its long form would only dilute the query."""
    rows = conn.execute("SELECT short, long, documents FROM acronyms").fetchall()
    return [
        acronyms.Acronym(short, long, documents)
        for short, long, documents in rows
        if documents <= ACRONYM_MAX_SHARE * len_documents
    ]


def _require_utf8(text: str, what: str) -> None:
    """Bytes that are not UTF-8 (a terminal set to another encoding) reach Python as lone
    surrogates, which neither the tokenizer nor SQLite accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise GtindexError(f"the {what} is not valid UTF-8 text; check the terminal's character encoding") from None
