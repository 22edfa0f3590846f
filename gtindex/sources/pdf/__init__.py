"""Guidance PDF -> `Document` (pdfplumber / pdfminer underneath).

One `Line` per printed text line, carrying what a citation needs: physical page, printed page
label, printed margin line number (drafts), section path, kind and the exact words.

How it works (all geometry comes from pdfplumber words, extracted once per page):

1. Words are read with their font size and font name. Rows are words that share a baseline
   (``bottom``), so text order inside a PDF never matters.
2. Superscripts (smaller type on a raised baseline, touching the word before them) are taken
   out of the text: numeric markers ("product¹", "Validation²,³") are DROPPED, so "product1"
   never appears; alphabetic ones ("4th", "®") are re-attached to their word. A small raised
   number in front of a footnote is the footnote's number (`Line.footnote`), not text.
   Subscripts ("Cmax") are re-attached to their word.
3. Printed line numbers: a document is "numbered" when a dense, mostly +1 run of integers sits,
   right-aligned at one x, left of the text block, in body-size type. Numbers are matched to
   rows by baseline, never by text order. Numbered blank lines produce no Line. Footnotes,
   running headers and unnumbered rows keep ``line=None``.
4. Running headers/footers (boilerplate, rows repeated at the page edges, page-number rows) are
   dropped; the page label ("9", "ii", "A-1") is read from them.
5. Footnotes: small type at the page foot, below a short rule or starting with a footnote
   number. Tables keep one Line per printed row (cells joined by a space). Two-column pages (not
   in numbered documents) are read column by column. Text turned by 90 degrees comes after the
   page's upright lines, one Line per rotated text line; diagonal text (watermarks) is dropped.
6. Text: words as printed, single spaces, ligatures expanded (ﬁ -> fi), U+2010/U+2011 hyphens
   written as "-", line-end hyphenation kept ("long-" stays at the end of its line).
7. Sections: numbered headings (FDA "V.", "D.", "1.", "a."; ICH "3.2.1"; "APPENDIX A", "ANNEX I")
   in bold, larger type or (roman level) capitals; the table of contents and the cover never
   make sections. Levels come from the order in which numbering styles appear (a style seen
   before is the same level again; a new style nests deeper; "1.2" always nests under "1.").
   Bold multi-line headings are joined; a bold or italic paragraph is not a heading. In a
   numbered scheme, short bold unnumbered lines ("References", "Glossary" at the top level) are
   leaf sections; boxed/table cells never are. Headings carry the path they start.
8. Metadata from the cover: title (display-size lines, "Guidance for Industry" boilerplate
   removed), status (draft if the cover or running header says so, ICH Step 2), date ("July
   2018"), issuing centres (CDER, CBER, ...; "ICH" for ICH guidelines), sha256, pages.

Bad input raises ParseError(path, reason): encrypted, not a readable PDF (...), zero pages,
no text layer. `parse_pdf_details` also returns every printed margin number per page.
"""
from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ...documents import (
    KIND_BODY,
    KIND_FOOTNOTE,
    KIND_HEADING,
    LINE_KIND_COMPUTED,
    LINE_KIND_PRINTED,
    SECTION_SEPARATOR,
    Document,
    Line,
    ParseError,
    bounded,
)

_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00a0": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u200b": "",
        "\ufeff": "",
    }
)
_BOLD_RE = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_ITALIC_RE = re.compile(r"italic|oblique|[-,]it(?:mt)?$|boldit", re.I)
_INT_RE = re.compile(r"^\d{1,5}$")
# pdfminer writes a glyph it cannot map to a character (a font without a ToUnicode map, e.g.
# Identity-H with no embedded cmap) as "(cid:42)". A document where more than this share of
# the glyphs are such ids has no text worth indexing: nothing in it would match a query.
_CID_RE = re.compile(r"\(cid:\d+\)")
CID_MAX_SHARE = 0.5
NO_UNICODE_MAP = "no usable text layer (fonts without a Unicode map); OCR it first"
_MARKER_RE = re.compile(r"^[\d,\-–*†‡§¶]+$")
_ALPHA_SUP_RE = re.compile(r"^(?:st|nd|rd|th|®|™|©|TM|SM|[a-z])$")
_LEADER_RE = re.compile(r"(?:\.\s?){4,}|…{2,}|(?:_\s?){6,}")
_TOC_TITLE_RE = re.compile(r"^(?:table\s+of\s+contents|contents)$", re.I)
_ROMAN_RE = re.compile(r"^[ivxlcdm]{1,7}$", re.I)
_PAGE_NUM_RES = [
    re.compile(r"^(?:page\s+)?(?P<n>\d{1,4})(?:\s+of\s+\d{1,4})?$", re.I),
    re.compile(r"^[-–—]\s?(?P<n>\d{1,4})\s?[-–—]$"),
    re.compile(r"^(?:page\s+)?(?P<n>[ivxlcdm]{1,7})$", re.I),
    re.compile(r"^(?P<n>[A-Z]{1,2}-\d{1,3})$"),
]
_BOILERPLATE_RES = [
    re.compile(r"^contains\s+non-?\s?binding\s+recommendations$", re.I),
    re.compile(r"^draft\s*[-–—]*\s*not\s+for\s+implementation$", re.I),
]
_DRAFT_HEADER_RE = _BOILERPLATE_RES[1]
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
)
_DATE_ONLY_RE = re.compile(rf"^(?P<m>{_MONTHS})\s*,?\s+(?P<y>(?:19|20)\d\d)$", re.I)
_DATE_ANY_RE = re.compile(rf"\b(?P<m>{_MONTHS})\s+(?:\d{{1,2}},?\s+)?(?P<y>(?:19|20)\d\d)\b", re.I)

# Cover-page lines that are never the title.
_TITLE_BOILERPLATE_RES = [
    re.compile(r"^(?:draft\s+)?guidance(?:\s+for\s+industry)?(?:\s*(?:and|&)\s*(?:fda|food and drug administration)?\s*(?:review\s+)?staff)?[.;:]?$", re.I),
    re.compile(r"^(?:and|&)\s+(?:fda\s+)?(?:review\s+)?staff$", re.I),
    re.compile(r"^(?:and\s+)?(?:food\s+and\s+)?drug\s+administration\s+staff$", re.I),
    re.compile(r"^(?:and\s+)?(?:fda\s+)?(?:review\s+)?staff$", re.I),
    re.compile(r"^guidance\s+(?:for|to)\s+(?:industry|fda|staff)", re.I),
    re.compile(r"^draft(?:\s+guidance)?$", re.I),
    re.compile(r"^(?:international\s+(?:conference|council)\s+(?:on|for)\s+harmonisation|requirements\s+for)", re.I),
    re.compile(r"^ich\s+harmonised", re.I),
    re.compile(r"^(?:technical\s+requirements\s+for|human\s+use$|registration\s+of\s+pharmaceuticals)", re.I),
    re.compile(r"^(?:this\s+guidance\s+document|comments\s+and\s+suggestions)", re.I),
    re.compile(r"^(?:document\s+issued\s+on|this\s+document\s+(?:supersedes|replaces)|the\s+draft\s+of\s+this)", re.I),
    re.compile(r"^(?:u\.s\.\s+department|food\s+and\s+drug\s+administration|center\s+for|office\s+of)", re.I),
    re.compile(r"^(?:contains\s+non|draft\s*[-–—])", re.I),
    re.compile(rf"^(?:{_MONTHS})\s+\d{{4}}$", re.I),
]
_TITLE_STRIP_RE = re.compile(
    r"[;:,]?\s*(?:(?:draft|final)\s+)?guidance\s+for\s+industry(?:\s+and\s+(?:fda\s+)?(?:review\s+)?(?:staff|reviewers))?\s*$",
    re.I,
)

_CENTERS = [
    (re.compile(r"center\s+for\s+drug\s+evaluation\s+and\s+research|\(CDER\)", re.I), "CDER"),
    (re.compile(r"center\s+for\s+biologics\s+evaluation\s+and\s+research|\(CBER\)", re.I), "CBER"),
    (re.compile(r"center\s+for\s+devices\s+and\s+radiological\s+health|\(CDRH\)", re.I), "CDRH"),
    (re.compile(r"center\s+for\s+veterinary\s+medicine|\(CVM\)", re.I), "CVM"),
    (re.compile(r"center\s+for\s+food\s+safety\s+and\s+applied\s+nutrition|\(CFSAN\)", re.I), "CFSAN"),
    (re.compile(r"center\s+for\s+tobacco\s+products|\(CTP\)", re.I), "CTP"),
    (re.compile(r"oncology\s+center\s+of\s+excellence|\(OCE\)", re.I), "OCE"),
    (re.compile(r"office\s+of\s+regulatory\s+affairs|\(ORA\)", re.I), "ORA"),
    (re.compile(r"office\s+of\s+inspections\s+and\s+investigations|\(OII\)", re.I), "OII"),
    (re.compile(r"office\s+of\s+combination\s+products|\(OCP\)", re.I), "OCP"),
    (re.compile(r"office\s+of\s+the\s+commissioner|\(OC\)", re.I), "OC"),
    (re.compile(r"office\s+of\s+clinical\s+policy\s+and\s+programs|\(OCPP\)", re.I), "OCPP"),
    (re.compile(r"office\s+of\s+clinical\s+policy(?!\s+and\s+programs)|\(OCLP\)", re.I), "OCLP"),
    (re.compile(r"human\s+foods\s+program|\(HFP\)", re.I), "HFP"),
]
_ICH_RE = re.compile(r"international\s+(?:conference|council)\s+(?:on|for)\s+harmonisation|\bICH\b", re.I)

# Heading numbering styles.
_H_APPENDIX = re.compile(
    r"^(?P<num>(?i:appendix|annex|attachment|addendum)\s+(?:[A-Z]{1,2}|\d{1,2}|[IVX]{1,5}))\b[.:\s–—-]*(?P<title>.*)$"
)
_H_DOTTED = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,3}){1,5})\.?\s+(?P<title>\S.*)$")
_H_LETTERDOT = re.compile(r"^(?P<num>[A-Z]\.\d{1,2}(?:\.\d{1,2})*)\.?\s+(?P<title>\S.*)$")
_H_ROMANDOT = re.compile(r"^(?P<num>[IVX]{1,5}\.\d{1,2}(?:\.\d{1,2})*)\.?\s+(?P<title>\S.*)$")
_H_ARABIC = re.compile(r"^(?P<num>\d{1,2})[.)]\s+(?P<title>\S.*)$")
_H_ARABIC_NODOT = re.compile(r"^(?P<num>\d{1,2})\s+(?P<title>[A-Z][A-Z(].*)$")
_H_ROMAN = re.compile(r"^(?P<num>[IVXLC]{1,6})\.\s+(?P<title>\S.*)$")
_H_UPPER = re.compile(r"^(?P<num>[A-Z])[.)]\s+(?P<title>\S.*)$")
_H_LOWER = re.compile(r"^(?P<num>[a-z])[.)]\s+(?P<title>\S.*)$")
_H_LROMAN = re.compile(r"^(?P<num>[ivx]{1,5})[.)]\s+(?P<title>\S.*)$")
_H_PAREN_NUM = re.compile(r"^\((?P<num>\d{1,2})\)\s+(?P<title>\S.*)$")
_H_PAREN_LOWER = re.compile(r"^\((?P<num>[a-z])\)\s+(?P<title>\S.*)$")
_TOP_UNNUMBERED_RE = re.compile(
    r"^(?:references?|glossary|definitions|bibliography|acronyms|abbreviations|"
    r"list\s+of\s+(?:acronyms|abbreviations)|appendix|annex|attachment)\b",
    re.I,
)


# --------------------------------------------------------------------------------------------
# small records


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    font: str
    upright: bool = True

    @property
    def bold(self) -> bool:
        return bool(_BOLD_RE.search(self.font))

    @property
    def italic(self) -> bool:
        return bool(_ITALIC_RE.search(self.font))


@dataclass
class _Row:
    words: list[_Word]
    page: int
    upright: bool = True
    lead_marker: str | None = None  # small raised number in front (footnote number)
    line: int | None = None
    kind: str = KIND_BODY
    footnote: int | None = None
    drop: bool = False
    heading: tuple | None = None  # (style, num, title) when the row starts a section
    toc: bool = False
    _text: str | None = None
    _baseline: float | None = None
    _size: float | None = None

    @property
    def baseline(self) -> float:
        if self._baseline is None:
            self._baseline = statistics.median(w.bottom for w in self.words)
        return self._baseline

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def x0(self) -> float:
        return min(w.x0 for w in self.words)

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    @property
    def size(self) -> float:
        """Dominant type size (weighted by characters)."""
        if self._size is None:
            weights: Counter = Counter()
            for w in self.words:
                weights[round(w.size, 1)] += len(w.text)
            self._size = weights.most_common(1)[0][0]
        return self._size

    @property
    def max_size(self) -> float:
        return max(w.size for w in self.words)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = " ".join(w.text for w in self.words if w.text)
            self._text = re.sub(r"\s+", " ", self._text).strip()
        return self._text

    def reset_text(self) -> None:
        """Call after changing `words`."""
        self._text = self._baseline = self._size = None

    def frac(self, attr: str) -> float:
        total = sum(sum(c.isalpha() for c in w.text) for w in self.words)
        if not total:
            return 0.0
        return sum(sum(c.isalpha() for c in w.text) for w in self.words if getattr(w, attr)) / total

    def max_gap(self) -> float:
        ws = self.words
        return max((b.x0 - a.x1 for a, b in zip(ws, ws[1:])), default=0.0)


@dataclass
class _Page:
    number: int
    width: float
    height: float
    words: list[_Word]
    rules: list[tuple[float, float, float]]  # horizontal rules: (y, x0, x1)
    vrules: list[tuple[float, float, float]] = field(default_factory=list)  # (x, top, bottom)
    rows: list[_Row] = field(default_factory=list)
    label: str | None = None
    toc: bool = False
    margin: list[tuple[int, float, _Word]] = field(default_factory=list)  # (number, baseline, word)


# --------------------------------------------------------------------------------------------
# public entry point


def parse_pdf(path: Path) -> Document:
    """Parse one guidance PDF. Raises ParseError (never a traceback) for bad input."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    if b"%PDF" not in data[:1024]:
        raise ParseError(str(path), "not a readable PDF (no PDF header)")

    return parse_pdf_details(path, data)[0]


def parse_pdf_details(path: Path, data: bytes | None = None) -> tuple[Document, dict[int, list[int]]]:
    """`parse_pdf` plus every printed margin number per physical page, blank numbered lines
    included (they produce no Line). For diagnostics and tests."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParseError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    sha = hashlib.sha256(data).hexdigest()
    pages, meta = _read_pages(path)
    if not pages:
        raise ParseError(str(path), "not a readable PDF (it has zero pages)")
    if not any(p.words for p in pages):
        raise ParseError(str(path), "no text layer (scanned?); OCR it first")
    if _unmapped_share(pages) > CID_MAX_SHARE:
        raise ParseError(str(path), NO_UNICODE_MAP)

    try:
        doc = _build_document(path, sha, pages, meta)
    except ParseError:
        raise
    except Exception as exc:  # a layout we did not foresee must not crash ingestion
        raise ParseError(str(path), f"not a readable PDF (layout analysis failed: {type(exc).__name__}: {exc})") from None
    return bounded(doc), {p.number: [m[0] for m in p.margin] for p in pages if p.margin}


def _unmapped_share(pages: list[_Page]) -> float:
    """Share of the document's glyphs that pdfminer could only give as "(cid:N)"."""
    glyphs = unmapped = 0
    for page in pages:
        for word in page.words:
            ids = _CID_RE.findall(word.text)
            unmapped += len(ids)
            glyphs += len(word.text) - sum(map(len, ids)) + len(ids)
    return unmapped / glyphs if glyphs else 0.0


def _read_pages(path: Path) -> tuple[list[_Page], dict]:
    import pdfplumber  # imported lazily: the query path never needs it

    try:
        from pdfminer.pdfdocument import PDFPasswordIncorrect
    except Exception:  # pragma: no cover - very old pdfminer
        PDFPasswordIncorrect = ()  # type: ignore[assignment]
    try:
        from pdfplumber.utils.exceptions import PdfminerException
    except Exception:  # pragma: no cover
        PdfminerException = ()  # type: ignore[assignment]

    pages: list[_Page] = []
    try:
        with pdfplumber.open(path) as pdf:
            meta = dict(pdf.metadata or {})
            for index, page in enumerate(pdf.pages):
                pages.append(_read_page(page, index + 1))
    except Exception as exc:
        cause = exc
        if PdfminerException and isinstance(exc, PdfminerException) and exc.args and isinstance(exc.args[0], Exception):
            cause = exc.args[0]
        if isinstance(cause, MemoryError):  # a stream inflating to gigabytes: the worker's memory limit says so
            raise MemoryError from None
        if (PDFPasswordIncorrect and isinstance(cause, PDFPasswordIncorrect)) or "password" in str(cause).lower() or type(cause).__name__ == "PDFPasswordIncorrect":
            raise ParseError(str(path), "encrypted PDF; ask for an unlocked copy") from None
        if type(cause).__name__ in ("PDFEncryptionError", "PDFEncryptionWarning"):
            raise ParseError(str(path), "encrypted PDF; ask for an unlocked copy") from None
        detail = str(cause).strip().splitlines()[0][:120] if str(cause).strip() else ""
        reason = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
        raise ParseError(str(path), f"not a readable PDF ({reason})") from None
    return pages, meta


def _read_page(page, number: int) -> _Page:
    width, height = float(page.width), float(page.height)
    page = page.filter(_not_diagonal)
    raw = page.extract_words(
        extra_attrs=["size", "fontname"], keep_blank_chars=False, use_text_flow=False
    )
    words: list[_Word] = []
    for w in raw:
        text = _clean_word(w["text"])
        if not text:
            continue
        words.append(
            _Word(
                text=text,
                x0=float(w["x0"]),
                x1=float(w["x1"]),
                top=float(w["top"]),
                bottom=float(w["bottom"]),
                size=round(float(w.get("size") or 0.0), 2),
                font=str(w.get("fontname") or "").split("+")[-1],
                upright=bool(w.get("upright", True)),
            )
        )
    if any(not w.upright for w in words):
        words = [w for w in words if w.upright] + _rotated_words(page)
    rules: list[tuple[float, float, float]] = []
    vrules: list[tuple[float, float, float]] = []
    for obj in list(page.lines) + list(page.rects):
        x0, x1, top, bottom = float(obj["x0"]), float(obj["x1"]), float(obj["top"]), float(obj["bottom"])
        if bottom - top <= 2.0 and x1 - x0 >= 30:
            rules.append(((top + bottom) / 2, x0, x1))
        elif x1 - x0 <= 2.0 and bottom - top >= 2.0:
            vrules.append(((x0 + x1) / 2, top, bottom))
        elif obj.get("object_type") == "rect" and obj.get("stroke") and x1 - x0 > 20 and bottom - top > 10:
            vrules.append((x0, top, bottom))  # a stroked box: its sides are cell/box borders
            vrules.append((x1, top, bottom))
    return _Page(number, width, height, words, rules, vrules)


# Text drawn at an angle that is not a multiple of 90 degrees is a watermark ("DRAFT" across
# the page); pdfplumber calls such characters upright and they would join body lines.
DIAGONAL_MIN_DEGREES = 5.0


def _not_diagonal(obj) -> bool:
    if obj.get("object_type") != "char":
        return True
    a, b = obj["matrix"][:2]  # the text direction; shear (oblique type) is in c, not here
    angle = math.degrees(math.atan2(b, a)) % 90
    return angle < DIAGONAL_MIN_DEGREES or angle > 90 - DIAGONAL_MIN_DEGREES


def _rotated_words(page) -> list[_Word]:
    """Words of text turned by 90 degrees, read in their own direction (pdfplumber's word
    grouping reads vertical text top-down only)."""
    chars = [c for c in page.chars if not c.get("upright", True)]
    lines: list[list[dict]] = []
    for c in sorted(chars, key=lambda c: (c["x0"] + c["x1"]) / 2):
        cx = (c["x0"] + c["x1"]) / 2
        if lines and abs(cx - (lines[-1][0]["x0"] + lines[-1][0]["x1"]) / 2) <= max(1.5, 0.3 * float(c.get("size") or 0)):
            lines[-1].append(c)
        else:
            lines.append([c])
    words: list[_Word] = []
    for line in lines:
        matrix = line[0].get("matrix") or (1, 0, 0, 1, 0, 0)
        upward = matrix[1] > 0  # text runs up the page: read bottom to top
        line.sort(key=lambda c: -c["top"] if upward else c["top"])
        current: list[dict] = []

        def flush():
            text = _clean_word("".join(c["text"] for c in current))
            if text:
                words.append(
                    _Word(
                        text=text,
                        x0=min(c["x0"] for c in current),
                        x1=max(c["x1"] for c in current),
                        top=min(c["top"] for c in current),
                        bottom=max(c["bottom"] for c in current),
                        size=round(float(current[0].get("size") or 0.0), 2),
                        font=str(current[0].get("fontname") or "").split("+")[-1],
                        upright=False,
                    )
                )
            current.clear()

        for c in line:
            if c["text"].isspace():
                flush()
                continue
            if current:
                prev = current[-1]
                gap = (prev["top"] - c["bottom"]) if upward else (c["top"] - prev["bottom"])
                if gap > 0.2 * float(c.get("size") or 10):
                    flush()
            current.append(c)
        flush()
    return words


def _clean_word(text: str) -> str:
    text = text.translate(_LIGATURES)
    if "\u00ad" in text:
        text = text[:-1].replace("\u00ad", "") + ("-" if text.endswith("\u00ad") else text[-1])
    return text.strip()


# --------------------------------------------------------------------------------------------
# document assembly


def _build_document(path: Path, sha: str, pages: list[_Page], meta: dict) -> Document:
    body_size = _body_size(pages)
    margin_x1 = _detect_margin_numbers(pages, body_size)
    numbered = margin_x1 is not None

    for page in pages:
        words = page.words
        if numbered:
            words = _take_margin_numbers(page, margin_x1, body_size)
            page.words = words
    if numbered:
        _filter_margin_sequence(pages)
    for page in pages:
        words = page.words
        upright = [w for w in words if w.upright]
        rotated = [w for w in words if not w.upright]
        rows = _build_rows(upright, page.number)
        if not numbered:
            rows = _order_columns(rows, page)
        rows += _rotated_rows(rotated, page.number)
        page.rows = rows
        if numbered:
            _assign_margin_numbers(page)
    if numbered:
        _enforce_increasing(pages)

    draft_header = _strip_headers_footers(pages)
    for page in pages:
        page.toc = _is_toc_page(page)
        _mark_footnotes(page, body_size)
    _assign_sections(pages, body_size)

    doc = Document(doc=path.name, source_type="pdf", sha256=sha, pages=len(pages))
    doc.line_kind = LINE_KIND_PRINTED if numbered else LINE_KIND_COMPUTED
    _fill_metadata(doc, pages, meta, draft_header, body_size)
    last_footnote: int | None = None
    for page in pages:
        n = 0
        for row in page.rows:
            if row.drop or not row.text:
                continue
            n += 1
            if row.kind == KIND_FOOTNOTE:
                if row.footnote is not None:
                    last_footnote = row.footnote
                else:
                    row.footnote = last_footnote
            doc.lines.append(
                Line(
                    page=page.number,
                    page_label=page.label,
                    line=row.line if row.kind != KIND_FOOTNOTE else None,
                    line_on_page=n,
                    kind=row.kind,
                    section=row._section,  # type: ignore[attr-defined]
                    text=row.text,
                    footnote=row.footnote if row.kind == KIND_FOOTNOTE else None,
                )
            )
    return doc


def _body_size(pages: list[_Page]) -> float:
    weights: Counter = Counter()
    for page in pages:
        for w in page.words:
            if w.upright and not _INT_RE.match(w.text):
                weights[round(w.size * 2) / 2] += len(w.text)
    return float(weights.most_common(1)[0][0]) if weights else 12.0


# --------------------------------------------------------------------------------------------
# printed line numbers


def _same_line(a: _Word, b: _Word) -> bool:
    return abs(a.bottom - b.bottom) <= max(2.5, 0.25 * max(a.size, b.size))


def _margin_candidates(page: _Page, body_size: float) -> list[_Word]:
    """Integers that start their visual line, with a clear gap before the text after them."""
    words = [w for w in page.words if w.upright]
    if not words:
        return []
    by_line = sorted(words, key=lambda w: w.bottom)
    out = []
    for w in words:
        if not _INT_RE.match(w.text) or w.size < 0.7 * body_size or w.size > 1.3 * body_size:
            continue
        if w.x1 > 0.3 * page.width:
            continue
        left_of = False
        right_gap = None
        for o in by_line:
            if o is w or o.bottom < w.bottom - 6:
                continue
            if o.bottom > w.bottom + 6:
                break
            if not _same_line(o, w):
                continue
            if o.x1 <= w.x0 + 0.5:
                left_of = True
                break
            if o.x0 >= w.x1 - 0.5:
                gap = o.x0 - w.x1
                right_gap = gap if right_gap is None else min(right_gap, gap)
        if left_of or (right_gap is not None and right_gap < 5):
            continue
        out.append(w)
    return out


def _detect_margin_numbers(pages: list[_Page], body_size: float) -> float | None:
    """x1 of the printed line-number column, or None when the document is not numbered."""
    cands: list[tuple[int, float, float, int]] = []  # page, bottom, x1, value
    for page in pages:
        for w in _margin_candidates(page, body_size):
            cands.append((page.number, w.bottom, w.x1, int(w.text)))
    if len(cands) < 15:
        return None
    hist = Counter(round(c[2]) for c in cands)
    best_x, best_n = None, 0
    for x in hist:
        n = sum(hist[x + d] for d in (-2, -1, 0, 1, 2))
        if n > best_n:
            best_x, best_n = x, n
    if best_x is None:
        return None
    col = sorted((c for c in cands if abs(c[2] - best_x) <= 2.5), key=lambda c: (c[0], c[1]))
    values = [c[3] for c in col]
    steps = sum(1 for a, b in zip(values, values[1:]) if b == a + 1)
    if steps < 15 or steps < 0.6 * (len(values) - 1):
        return None
    # dense: on the pages that carry them, most visual lines have a number
    per_page = Counter(c[0] for c in col)
    ratios = []
    for page in pages:
        if page.number in per_page:
            bottoms = sorted(w.bottom for w in page.words if w.upright)
            n_lines = 1 + sum(1 for a, b in zip(bottoms, bottoms[1:]) if b - a > 3)
            ratios.append(per_page[page.number] / n_lines)
    if statistics.median(ratios) < 0.4:
        return None
    # the column must sit left of the text it numbers
    text_x0 = []
    for page in pages:
        for w in page.words:
            if w.upright and not _INT_RE.match(w.text):
                text_x0.append(w.x0)
    if text_x0:
        left_text = sorted(text_x0)[len(text_x0) // 10]
        if best_x > left_text - 3:
            return None
    return float(statistics.median(c[2] for c in col))


def _take_margin_numbers(page: _Page, margin_x1: float, body_size: float) -> list[_Word]:
    cands = {id(w) for w in _margin_candidates(page, body_size) if abs(w.x1 - margin_x1) <= 2.5}
    rest = []
    for w in page.words:
        if id(w) in cands:
            page.margin.append((int(w.text), w.bottom, w))
        else:
            rest.append(w)
    return rest


def _filter_margin_sequence(pages: list[_Page]) -> None:
    """Keep margin numbers that continue the increasing sequence; drop strays."""
    last = 0
    for page in pages:
        kept = []
        for value, bottom, word in sorted(page.margin, key=lambda m: m[1]):
            if last < value <= last + 80 or (value == 1 and not kept and last > 0):
                kept.append((value, bottom, word))
                last = value
            else:
                page.words.append(word)  # not a line number after all: keep it as text
        page.margin = kept


def _assign_margin_numbers(page: _Page) -> None:
    rows = [r for r in page.rows if r.upright]
    pairs = []
    for value, bottom, _ in page.margin:
        for row in rows:
            d = abs(row.baseline - bottom)
            if d <= max(2.5, 0.3 * row.size):
                pairs.append((d, value, id(row), row))
    pairs.sort(key=lambda p: p[0])
    used_rows, used_vals = set(), set()
    for _, value, rid, row in pairs:
        if rid in used_rows or value in used_vals:
            continue
        used_rows.add(rid)
        used_vals.add(value)
        row.line = value


def _enforce_increasing(pages: list[_Page]) -> None:
    """Drop printed numbers that break the increasing sequence (stray matches)."""
    last = 0
    for page in pages:
        for row in page.rows:
            if row.line is None:
                continue
            if row.line <= last or row.line > last + 80:
                if row.line == 1 and last > 0 and row is _first_numbered(page):
                    last = row.line  # numbering restarts on this page
                    continue
                row.line = None
                continue
            last = row.line


def _first_numbered(page: _Page) -> _Row | None:
    for row in page.rows:
        if row.line is not None:
            return row
    return None


# --------------------------------------------------------------------------------------------
# rows


def _cluster_rows(words: list[_Word], page_no: int) -> list[_Row]:
    """Group words that share a baseline into rows (top to bottom)."""
    words = sorted(words, key=lambda w: (w.bottom, w.x0))
    groups: list[list[_Word]] = []
    anchor = None
    for w in words:
        if groups and anchor is not None and abs(w.bottom - anchor[0]) <= 0.25 * max(anchor[1], w.size, 4.0):
            groups[-1].append(w)
            anchor = (anchor[0], max(anchor[1], w.size))
        else:
            groups.append([w])
            anchor = (w.bottom, w.size)
    return [_Row(words=sorted(g, key=lambda w: w.x0), page=page_no) for g in groups]


def _is_script(w: _Word, words: list[_Word]) -> bool:
    """A short marker in smaller type than the text around it (a superscript or subscript)."""
    if len(w.text) > 6 or not (_MARKER_RE.match(w.text) or _ALPHA_SUP_RE.match(w.text)):
        return False
    for o in words:
        if o is w or o.size < w.size / 0.85:
            continue
        # off the larger word's baseline (raised or lowered), and close to it
        if 0.08 * o.size <= abs(o.bottom - w.bottom) <= 0.8 * o.size and (o.x0 - 40 < w.x0 < o.x1 + 40):
            return True
    return False


def _build_rows(words: list[_Word], page_no: int) -> list[_Row]:
    if not words:
        return []
    scripts = [w for w in words if _is_script(w, words)]
    script_ids = {id(w) for w in scripts}
    rows = _cluster_rows([w for w in words if id(w) not in script_ids], page_no)
    rows.sort(key=lambda r: r.baseline)
    leftover = [w for w in sorted(scripts, key=lambda w: w.x0) if not _attach_one(w, rows)]
    if leftover:
        rows = sorted(rows + _cluster_rows(leftover, page_no), key=lambda r: r.baseline)
    for row in rows:
        row.words = _merge_fragments(row.words)
        row.reset_text()
    return [r for r in rows if r.words]


def _merge_fragments(words: list[_Word]) -> list[_Word]:
    """Join pieces of one printed word split by a font change (italic word + roman period,
    small capitals): same baseline, no gap."""
    out: list[_Word] = []
    for w in words:
        if out:
            p = out[-1]
            gap = w.x0 - p.x1
            if -0.5 <= gap <= max(0.6, 0.06 * min(p.size, w.size)) and abs(w.bottom - p.bottom) <= 1.0:
                big = p if len(p.text) >= len(w.text) else w
                out[-1] = _Word(
                    text=p.text + w.text,
                    x0=p.x0,
                    x1=max(p.x1, w.x1),
                    top=min(p.top, w.top),
                    bottom=max(p.bottom, w.bottom) if abs(p.size - w.size) < 0.5 else big.bottom,
                    size=max(p.size, w.size) if abs(p.size - w.size) >= 0.5 else big.size,
                    font=big.font,
                    upright=p.upright,
                )
                continue
        out.append(w)
    return out


def _attach_one(w: _Word, rows: list[_Row]) -> bool:
    """Attach a script word to the row it belongs to: superscripts sit above their row's
    baseline (raised by 12-80% of its type size), subscripts slightly below it."""
    sups = []
    subs = []
    for host in rows:
        hs = host.size
        if w.size > 0.85 * hs:
            continue
        delta = host.baseline - w.bottom
        if 0.12 * hs <= delta <= 0.8 * hs:
            sups.append((delta, host))
        elif 0.08 * hs <= -delta <= 0.5 * hs:
            subs.append((-delta, host))
    for _, host in sorted(sups, key=lambda t: t[0]):
        if _attach_to_host(w, host, superscript=True):
            return True
    for _, host in sorted(subs, key=lambda t: t[0]):
        if _attach_to_host(w, host, superscript=False):
            return True
    return False


def _attach_to_host(w: _Word, host: _Row, superscript: bool) -> bool:
    words = host.words
    first = words[0]
    # leading footnote number: just left of the host's first word
    if superscript and w.x1 <= first.x0 + 1.0 and first.x0 - w.x1 <= 6.0 and re.fullmatch(r"\d{1,3}", w.text):
        if host.lead_marker is None:
            host.lead_marker = w.text
            return True
        return False
    # trailing script: touches the end of a host word
    best = None
    for k, hw in enumerate(words):
        if abs(w.x0 - hw.x1) <= 2.0 or (hw.x0 < w.x0 and w.x0 - hw.x1 <= 2.0 and w.x0 >= hw.x1 - 1.0):
            best = k
    if best is None:
        # marker after a gap (e.g. "2 , 3" after "Validation"): previous word within a space
        cands = [k for k, hw in enumerate(words) if 0 <= w.x0 - hw.x1 <= 4.0]
        if not cands or not _MARKER_RE.match(w.text):
            return False
        best = cands[-1]
        if best + 1 < len(words) and words[best + 1].x0 < w.x1:
            return False
    hw = words[best]
    if best + 1 < len(words) and words[best + 1].x0 < w.x1 - 0.5:
        return False
    if superscript and _MARKER_RE.match(w.text) and not hw.text[-1:].isdigit():
        # footnote marker: dropped from the text (documented in the module docstring)
        hw.x1 = max(hw.x1, w.x1)
        return True
    joiner = "^" if superscript and _MARKER_RE.match(w.text) else ""
    words[best] = _Word(hw.text + joiner + w.text, hw.x0, max(hw.x1, w.x1), hw.top, hw.bottom, hw.size, hw.font, hw.upright)
    host.reset_text()
    return True


def _rotated_rows(words: list[_Word], page_no: int) -> list[_Row]:
    if not words:
        return []
    groups: list[list[_Word]] = []
    for w in words:  # already in reading order, line by line
        cx = (w.x0 + w.x1) / 2
        if groups and abs(cx - (groups[-1][0].x0 + groups[-1][0].x1) / 2) <= max(2.0, 0.3 * w.size):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [_Row(words=g, page=page_no, upright=False) for g in groups]


def _order_columns(rows: list[_Row], page: _Page) -> list[_Row]:
    """Two-column pages: split rows at the gutter and read left column, then right column."""
    body = [r for r in rows if page.height * 0.08 < r.top and r.bottom < page.height * 0.92]
    if len(body) < 12:
        return rows
    width = page.width
    n = int(width) + 2
    crossing_at = [0] * n  # rows with a word across x
    gap_at = [0] * n  # rows with a gap of 12pt or more around x
    for r in body:
        for w in r.words:
            a, b = int(w.x0) + 1, int(w.x1)
            for x in range(max(a, 0), min(b, n - 1) + 1):
                crossing_at[x] += 1
        for a, b in zip(r.words, r.words[1:]):
            if b.x0 - a.x1 >= 12:
                for x in range(max(int(a.x1) + 1, 0), min(int(b.x0), n - 1) + 1):
                    gap_at[x] += 1
    best = None
    for gx in range(int(width * 0.3), int(width * 0.7), 2):
        crossing, both = crossing_at[gx], gap_at[gx]
        if crossing <= 0.1 * len(body) and both >= max(6, 0.4 * len(body)):
            if best is None or crossing < best[1] or (crossing == best[1] and both > best[2]):
                best = (gx, crossing, both)
    if best is None:
        return rows
    gx = best[0]
    # tables are not columns: a vertical rule near the gutter means a table
    if any(abs(x - gx) < 40 and b - t > 40 for x, t, b in page.vrules):
        return rows
    left_words = sum(len([w for w in r.words if w.x1 <= gx]) for r in body)
    right_words = sum(len([w for w in r.words if w.x0 >= gx]) for r in body)
    if left_words < 3 * best[2] or right_words < 3 * best[2]:
        return rows  # sparse cells on both sides: a table or a form, keep rows
    out: list[_Row] = []
    left: list[_Row] = []
    right: list[_Row] = []

    def flush():
        out.extend(left)
        out.extend(right)
        left.clear()
        right.clear()

    for r in rows:
        is_body = r in body
        crosses = any(w.x0 < gx < w.x1 for w in r.words)
        if not is_body or crosses:
            flush()
            out.append(r)
            continue
        lw = [w for w in r.words if w.x1 <= gx]
        rw = [w for w in r.words if w.x0 >= gx]
        if lw:
            left.append(_Row(words=lw, page=r.page, lead_marker=r.lead_marker))
        if rw:
            right.append(_Row(words=rw, page=r.page, lead_marker=None if lw else r.lead_marker))
    flush()
    return out


# --------------------------------------------------------------------------------------------
# headers, footers, page labels


def _norm_key(text: str) -> str:
    text = re.sub(r"\d+", "#", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def _page_number(text: str) -> str | None:
    t = text.strip()
    for rx in _PAGE_NUM_RES:
        m = rx.match(t)
        if m:
            n = m.group("n")
            if _ROMAN_RE.match(n) and not re.fullmatch(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})", n.lower()):
                return None
            return n
    return None


def _edge_rows(page: _Page) -> list[_Row]:
    rows = [r for r in page.rows if r.upright]
    if not rows:
        return []
    ordered = sorted(rows, key=lambda r: r.top)
    head = [r for r in ordered[:3] if r.top < 0.12 * page.height]
    tail = [r for r in ordered[-3:] if r.bottom > 0.86 * page.height]
    return head + [r for r in tail if r not in head]


def _strip_headers_footers(pages: list[_Page]) -> bool:
    """Drop running headers/footers and read page labels. Returns True if a draft header was seen."""
    counts: Counter = Counter()
    variants: dict[str, set] = defaultdict(set)
    for page in pages:
        for row in _edge_rows(page):
            variants[_norm_key(row.text)].add(row.text)
        for key in {_norm_key(r.text) for r in _edge_rows(page)}:
            counts[key] += 1
    min_repeat = max(3, int(0.3 * len(pages) + 0.999))
    draft_seen = False
    for page in pages:
        for row in _edge_rows(page):
            text = row.text
            if row.line is not None:
                continue  # a numbered line is body text by definition
            if any(rx.match(text) for rx in _BOILERPLATE_RES):
                draft_seen = draft_seen or bool(_DRAFT_HEADER_RE.match(text))
                row.drop = True
                continue
            label = _page_number(text)
            if label is not None and _plausible_label_position(row, page):
                row.drop = True
                if page.label is None or row.bottom > 0.5 * page.height:
                    page.label = label
                continue
            if counts[_norm_key(text)] >= min_repeat and len(pages) >= 3:
                row.drop = True
                last = text.split()[-1] if text.split() else ""
                first = text.split()[0] if text.split() else ""
                for tok in (last, first):
                    lab = _page_number(tok)
                    if lab is not None and page.label is None and len(variants[_norm_key(text)]) > 1:
                        # "Bioanalytical Method Validation 12": a footer with a page number
                        if re.search(r"\d", tok) or _ROMAN_RE.match(tok):
                            page.label = lab
                        break
    return draft_seen


def _plausible_label_position(row: _Row, page: _Page) -> bool:
    if len(row.words) > 4:
        return False
    centre = (row.x0 + row.x1) / 2
    return abs(centre - page.width / 2) < 0.15 * page.width or row.x0 > 0.6 * page.width or row.x1 < 0.4 * page.width


# --------------------------------------------------------------------------------------------
# table of contents, footnotes


def _is_toc_page(page: _Page) -> bool:
    rows = [r for r in page.rows if not r.drop and r.upright]
    if not rows:
        return False
    leaders = sum(1 for r in rows if _is_leader_row(r.text))
    titled = any(_TOC_TITLE_RE.match(r.text) for r in rows[:4])
    if titled and leaders >= 1:
        return True
    return leaders >= 3 and leaders >= 0.3 * len(rows)


def _is_leader_row(text: str) -> bool:
    return bool(_LEADER_RE.search(text)) and bool(re.search(r"(?:\d+|[ivx]+)\s*$", text))


def _mark_footnotes(page: _Page, body_size: float) -> None:
    rows = [r for r in page.rows if not r.drop and r.upright]
    if not rows:
        return
    # a short rule in the lower part of the page, starting near the text's left edge
    left = min(r.x0 for r in rows)
    rule_y = None
    for y, x0, x1 in page.rules:
        if y > 0.35 * page.height and x1 - x0 <= 0.75 * page.width and x0 <= left + 40:
            underline = any(
                y - 3.5 <= w.bottom <= y + 1.0 and w.x0 < x1 and w.x1 > x0 for r in rows for w in r.words
            )
            if underline:
                continue  # a hyperlink underline, not the footnote separator
            below = [r for r in rows if r.top >= y - 1]
            if below and all(r.size < body_size - 0.2 and r.line is None for r in below):
                if rule_y is None or y < rule_y:
                    rule_y = y
    start = None
    if rule_y is not None:
        below = [r for r in rows if r.top >= rule_y - 1]
        if below:
            start = rows.index(min(below, key=lambda r: r.top))
    else:
        # no rule: a block of small rows at the foot that starts with a footnote number
        k = len(rows)
        while k > 0 and rows[k - 1].size < body_size - 0.2 and rows[k - 1].line is None and rows[k - 1].bottom > 0.4 * page.height:
            k -= 1
        for i in range(k, len(rows)):
            if rows[i].lead_marker is not None or re.match(r"^\d{1,3}\s+\S", rows[i].text) and rows[i].size < body_size - 0.2:
                if rows[i].lead_marker is not None:
                    start = i
                break
    if start is None:
        return
    current = None
    for row in rows[start:]:
        if row.line is not None and row.size >= body_size - 0.2:
            continue  # a numbered body line is never a footnote
        row.kind = KIND_FOOTNOTE
        if row.lead_marker is not None:
            current = int(row.lead_marker)
        elif rule_y is not None and row.words and re.fullmatch(r"\d{1,3}", row.words[0].text) and len(row.words) > 1 and row.words[1].x0 - row.words[0].x1 < 8 and row.x0 <= left + 12:
            current = int(row.words[0].text)
            row.words = row.words[1:]
            row.reset_text()
        row.footnote = current


# --------------------------------------------------------------------------------------------
# sections


def _in_box(row: _Row, page: _Page) -> bool:
    """True when vertical borders enclose the row on both sides (a table cell or a box)."""
    if not page.vrules:
        return False
    mid = (row.top + row.bottom) / 2
    left = right = False
    for x, top, bottom in page.vrules:
        if top - 1 <= mid <= bottom + 1:
            if row.x0 - 30 <= x <= row.x0 + 1:
                left = True
            elif x >= row.x1 - 1:
                right = True
            if left and right:
                return True
    return False


def _heading_match(text: str) -> tuple[str, str, str] | None:
    """(style, number, title) when the text starts with a heading number."""
    m = _H_APPENDIX.match(text)
    if m:
        return ("appendix", m.group("num"), m.group("title"))
    m = _H_LETTERDOT.match(text)
    if m:
        return (f"letterdot{m.group('num').count('.')}", m.group("num"), m.group("title"))
    m = _H_ROMANDOT.match(text)
    if m:
        return (f"romandot{m.group('num').count('.')}", m.group("num"), m.group("title"))
    m = _H_DOTTED.match(text)
    if m:
        return (f"dotted{m.group('num').count('.') + 1}", m.group("num"), m.group("title"))
    m = _H_ARABIC.match(text)
    if m:
        return ("dotted1", m.group("num"), m.group("title"))
    m = _H_ARABIC_NODOT.match(text)
    if m and _is_caps(m.group("title")):
        return ("dotted1", m.group("num"), m.group("title"))
    m = _H_ROMAN.match(text)
    if m and re.fullmatch(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})", m.group("num")):
        return ("roman", m.group("num"), m.group("title"))
    m = _H_UPPER.match(text)
    if m:
        return ("upper", m.group("num"), m.group("title"))
    m = _H_LROMAN.match(text)
    if m and re.fullmatch(r"(x{0,3})(ix|iv|v?i{0,3})", m.group("num")):
        return ("lroman", m.group("num"), m.group("title"))
    m = _H_LOWER.match(text)
    if m:
        return ("lower", m.group("num"), m.group("title"))
    m = _H_PAREN_NUM.match(text)
    if m:
        return ("paren-num", m.group("num"), m.group("title"))
    m = _H_PAREN_LOWER.match(text)
    if m:
        return ("paren-lower", m.group("num"), m.group("title"))
    return None


def _roman_value(s: str) -> int:
    vals = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    s = s.lower()
    total = 0
    for i, ch in enumerate(s):
        v = vals[ch]
        if i + 1 < len(s) and vals[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total


def _is_caps(title: str) -> bool:
    letters = [c for c in title if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.85 * len(letters)


def _styled(row: _Row, body_size: float) -> str | None:
    """'bold' | 'large' | 'italic' | None: how the row stands out from body text."""
    if row.frac("bold") >= 0.6:
        return "bold"
    if row.size >= body_size + 1.5:
        return "large"
    if row.frac("italic") >= 0.8:
        return "italic"
    return None


def _heading_candidate(row: _Row, body_size: float):
    """Classify a row: ('numbered', style, num, title) / ('plain', title) / None."""
    text = row.text
    if row.kind == KIND_FOOTNOTE or not row.upright or row.toc or len(text) > 220:
        return None
    if _is_leader_row(text) or re.search(r"\s\d{1,3}$", text) and _LEADER_RE.search(text):
        return None
    style = _styled(row, body_size)
    m = _heading_match(text)
    if m:
        kind, num, title = m
        if kind == "appendix" and not title:
            if style in ("bold", "large") or _is_caps(text):
                return ("numbered", kind, num, title)
            return None
        if not title or not (title[0].isupper() or title[0].isdigit() or title[0] in "“\"'(‘"):
            return None
        if style in ("bold", "large"):
            return ("numbered", kind, num, title)
        if kind == "roman" and _is_caps(title) and len(title) > 3:
            return ("numbered", kind, num, title)
        if style == "italic" and (len(text.split()) <= 12 or text.endswith("?")) and not text.endswith((".", ",", ";")):
            return ("numbered", kind, num, title)
        if kind == "appendix" and (_is_caps(text) or style):
            return ("numbered", kind, num, title)
        return None
    if style in ("bold", "large") and row.frac("bold" if style == "bold" else "upright") >= (0.9 if style == "bold" else 0):
        words = text.split()
        if (
            1 <= len(words) <= 12
            and len(text) <= 110
            and (text[0].isupper() or text[0].isdigit())
            and not text.endswith((",", ";"))
            and row.max_gap() <= 20
            and any(c.isalpha() for c in text)
        ):
            return ("plain", text)
    return None


def _assign_sections(pages: list[_Page], body_size: float) -> None:
    """Give every row its section path; mark heading rows."""
    cover_like = {1}  # the cover never makes sections; nor does a repeated cover page
    for page in pages:
        kept = [r for r in page.rows if not r.drop]
        if any(r.max_size >= 2 * body_size for r in kept):
            if sum(1 for r in kept if abs(r.size - body_size) < 1 and len(r.text) > 40) < 8:
                cover_like.add(page.number)
    for page in pages:
        for row in page.rows:
            row.toc = page.toc

    rows = [r for p in pages for r in p.rows if not r.drop]
    by_number = {p.number: p for p in pages}
    cands = {}
    boxed = set()
    for r in rows:
        if r.page in cover_like:
            continue
        c = _heading_candidate(r, body_size) if r.max_size < 1.8 * body_size else None
        if c:
            if _in_box(r, by_number[r.page]):
                boxed.add(id(r))
                continue
            cands[id(r)] = c
    numbered_scheme = sum(1 for c in cands.values() if c[0] == "numbered") >= 2

    def continues(prev: _Row, r: _Row, open_appendix: bool) -> bool:
        """Is `r` the next line of the heading whose last line is `prev`?"""
        c = cands.get(id(r))
        style = _styled(r, body_size)
        return (
            prev.page == r.page
            and (c is None or c[0] == "plain")
            and id(r) not in boxed
            and r.kind != KIND_FOOTNOTE
            and r.upright
            and not r.toc
            and len(r.text) <= 200
            and r.top - prev.bottom <= 0.8 * max(r.size, prev.size)
            and abs(r.size - prev.size) < 0.6
            and style is not None
            and style != "italic"
            and style == _styled(prev, body_size)
            and (style != "bold" or r.frac("bold") >= 0.9)
            and (not prev.text.endswith((".", ":", "?")) or open_appendix)
        )

    # stack entries: [style, number, title, rows]
    stack: list[list] = []
    seen_numbered = False

    def path() -> str:
        return SECTION_SEPARATOR.join(_section_label(e) for e in stack)

    i = 0
    while i < len(rows):
        r = rows[i]
        c = cands.get(id(r))
        if c is not None and c[0] == "plain" and numbered_scheme and not seen_numbered:
            c = None  # title lines before the first numbered heading
        block = [r]
        if c is not None:
            open_appendix = c[0] == "numbered" and c[1] == "appendix" and not c[3]
            j = i + 1
            while j < len(rows) and continues(block[-1], rows[j], open_appendix and len(block) == 1):
                block.append(rows[j])
                j += 1
            full = " ".join(b.text for b in block)
            if c[0] == "numbered" and _styled(r, body_size) == "italic" and i + 1 < len(rows):
                nxt = rows[i + 1]
                if (
                    nxt.page == r.page
                    and id(nxt) not in cands
                    and nxt.kind != KIND_FOOTNOTE
                    and nxt.top - r.bottom <= 0.8 * r.size
                    and _styled(nxt, body_size) == "italic"
                ):
                    c = None  # an italic paragraph that starts with a number
            if c is None:
                block = [r]
            elif len(block) > 1 and full.endswith(".") and len(full.split()) > 12:
                c, block = None, [r]  # a bold paragraph, not a heading
            elif c[0] == "plain" and len(full) > 160:
                c, block = None, [r]
        if c is None:
            r._section = path()  # type: ignore[attr-defined]
            i += 1
            continue
        if c[0] == "numbered":
            style, num, title = c[1], c[2], c[3]
            style = _disambiguate(style, num, title, stack)
            entry = [style, num, title, block]
            if style == "appendix":
                stack.clear()
            else:
                pos = next((k for k, e in enumerate(stack) if e[0] == style), None)
                family, depth = _style_rank(style)
                if depth is not None:
                    # "2." closes "1.2"; "1.2.1" nests under "1.2"
                    deeper = [k for k, e in enumerate(stack) if _style_rank(e[0])[0] == family and _style_rank(e[0])[1] >= depth]
                    if deeper:
                        pos = deeper[0]
                    else:
                        parents = [k for k, e in enumerate(stack) if _style_rank(e[0])[0] == family]
                        if parents:
                            del stack[parents[-1] + 1 :]
                if pos is not None:
                    del stack[pos:]
                else:
                    # an unnumbered leaf never has numbered children
                    while stack and stack[-1][0] in ("plain", "plain-top") and numbered_scheme:
                        stack.pop()
            seen_numbered = True
        else:
            title = " ".join(b.text for b in block)
            if numbered_scheme and not _TOP_UNNUMBERED_RE.match(title):
                while stack and stack[-1][0] == "plain":
                    stack.pop()
                entry = ["plain", "", title, block]
            else:
                stack.clear()
                entry = ["plain-top", "", title, block]
        stack.append(entry)
        section = path()
        for b in block:
            b.kind = KIND_HEADING
            b.heading = (entry[0], entry[1], entry[2])
            b._section = section  # type: ignore[attr-defined]
        i += len(block)
    for p in pages:
        for r in p.rows:
            if not hasattr(r, "_section"):
                r._section = ""  # type: ignore[attr-defined]


def _style_rank(style: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(dotted|romandot|letterdot)(\d+)", style)
    return (m.group(1), int(m.group(2))) if m else (style, None)


def _section_label(entry: list) -> str:
    """A section's name: the heading as printed (all its lines), e.g. "D. Safety Considerations"."""
    if entry[0] in ("plain", "plain-top"):
        return entry[2]
    return re.sub(r"\s+", " ", " ".join(r.text for r in entry[3])).strip()


def _disambiguate(style: str, num: str, title: str, stack: list[list]) -> str:
    """'I.', 'V.', 'X.', 'C.', 'D.' can be roman numerals or letters."""
    if style not in ("roman", "upper") or len(num) != 1 or num not in "IVXLCDM":
        if style == "lroman" and len(num) == 1:
            lower = next((e for e in stack if e[0] == "lower"), None)
            if lower and ord(num) == ord(lower[1]) + 1:
                return "lower"
            if not any(e[0] == "lroman" for e in stack) and num not in "i":
                return "lower"
        return style
    upper = next((e for e in stack if e[0] == "upper"), None)
    roman = next((e for e in stack if e[0] == "roman"), None)
    if upper and len(upper[1]) == 1 and ord(num) == ord(upper[1]) + 1:
        return "upper"
    if roman and _roman_value(num) == _roman_value(roman[1]) + 1:
        return "roman"
    if num in "CDLM":
        return "upper"
    return "roman"  # "I.", "V.", "X." without a letter sequence to continue


# --------------------------------------------------------------------------------------------
# metadata


def _fill_metadata(doc: Document, pages: list[_Page], meta: dict, draft_header: bool, body_size: float) -> None:
    first = pages[0]
    cover_rows = [r for r in first.rows if r.upright and r.text]
    cover_text = "\n".join(r.text for r in cover_rows)
    front_text = "\n".join(r.text for p in pages[:2] for r in p.rows if r.upright and r.text)

    doc.title = _title(cover_rows, meta, body_size)

    low = re.sub(r"(?:supersedes|replaces|revises)\s+(?:the\s+)?draft", "", cover_text.lower())
    draft = draft_header
    final_cover = re.search(r"\bfinal\s+guidance\b|\bfinal\s+version\b|\bstep\s*4\b", low)
    if not final_cover and re.search(
        r"\bdraft\s+guidance\b|^draft$|\bdraft\s+version\b|\bstep\s*2\b|distributed\s+for\s+comment\s+purposes", low, re.M
    ):
        draft = True
    if re.search(r"\bdraft\s*[-–—]\s*not\s+for\s+implementation\b", low):
        draft = True
    doc.status = "draft" if draft else "final"

    doc.date = _date(pages)
    centers: list[str] = []
    positions = []
    for rx, abbr in _CENTERS:
        m = rx.search(front_text)
        if m:
            positions.append((m.start(), abbr))
    for _, abbr in sorted(positions):
        if abbr not in centers:
            centers.append(abbr)
    if not centers and _ICH_RE.search(front_text):
        centers = ["ICH"]
    doc.center = ", ".join(centers)


def _title(cover_rows: list[_Row], meta: dict, body_size: float) -> str:
    """The guidance title as printed on the cover: the display-size lines, boilerplate removed."""
    ordered = sorted(cover_rows, key=lambda r: r.top)
    rows = [
        r
        for r in ordered
        if not any(rx.match(r.text) for rx in _TITLE_BOILERPLATE_RES) and any(c.isalpha() or c.isdigit() for c in r.text)
    ]
    chosen: list[_Row] = []
    for r in ordered:
        boiler = r not in rows
        if boiler:
            if sum(c.isalpha() for c in " ".join(x.text for x in chosen)) >= 10:
                break  # "... Title / Guidance for Industry": the title has ended
            continue
        if r.max_size >= 1.15 * body_size:
            chosen.append(r)
        elif chosen:
            break
    if not chosen and rows:
        big = max(r.max_size for r in rows)
        chosen = [r for r in rows if r.max_size >= 0.95 * big][:3]
    title = ""
    for r in chosen:
        if title.endswith("-") and not title.endswith(" -"):
            title += r.text
        else:
            title = f"{title} {r.text}".strip()
    if len(title) < 4:
        title = str(meta.get("Title") or "").strip()
    title = _TITLE_STRIP_RE.sub("", re.sub(r"\s+", " ", title)).strip(" ;:,")
    return title


def _date(pages: list[_Page]) -> str:
    for page in pages[:2]:
        for r in page.rows:
            m = _DATE_ONLY_RE.match(r.text)
            if m:
                return f"{m.group('m').capitalize()} {m.group('y')}"
    for page in pages[:2]:
        for r in page.rows:
            m = _DATE_ANY_RE.search(r.text)
            if m:
                return f"{m.group('m').capitalize()} {m.group('y')}"
    return ""
