"""The typed page model every pass reads and writes: `Word` (one pdfplumber word), `Row` (words
on one baseline: one printed line), `Page` (its words, rules, rows and label).

Each field says which pass sets it (see `pdf/__init__.py` for the order). No pass adds an
attribute at run time.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from ...documents import KIND_BODY


_BOLD_RE = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_ITALIC_RE = re.compile(r"italic|oblique|[-,]it(?:mt)?$|boldit", re.I)

INT_RE = re.compile(r"^\d{1,5}$")  # a bare integer: a printed line or page number, never body type
DEFAULT_BODY_SIZE = 12.0  # body type size of a document with no upright text


@dataclass
class Word:
    """One word as pdfplumber reads it (read pass); geometry in points from the page's top left."""

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
class Row:
    """Words sharing a baseline: one printed line. Made by the rows pass; the comment on each
    later field names the pass that sets it."""

    words: list[Word]
    page: int
    upright: bool = True  # False: text turned by 90 degrees (rows pass)
    lead_marker: str | None = None  # small raised number in front: a footnote's number (rows pass)
    line: int | None = None  # printed margin line number (margin pass)
    kind: str = KIND_BODY  # KIND_FOOTNOTE (footnotes pass) or KIND_HEADING (sections pass)
    footnote: int | None = None  # the footnote's number (footnotes pass)
    drop: bool = False  # a running header or footer, not text (running-lines pass)
    heading: tuple | None = None  # (style, num, title) when the row starts a section (sections pass)
    toc: bool = False  # on a table-of-contents page (sections pass, from Page.toc)
    section: str = ""  # section path, parts joined by SECTION_SEPARATOR (sections pass)
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
class Page:
    """One physical page: read pass sets number to vrules; later passes the fields they name."""

    number: int
    width: float
    height: float
    words: list[Word]
    rules: list[tuple[float, float, float]]  # horizontal rules: (y, x0, x1)
    vrules: list[tuple[float, float, float]] = field(default_factory=list)  # (x, top, bottom)
    rows: list[Row] = field(default_factory=list)  # in reading order (rows pass)
    label: str | None = None  # printed page label, "9", "ii", "A-1" (running-lines pass)
    toc: bool = False  # a table-of-contents page (contents pass)
    margin: list[tuple[int, float, Word]] = field(default_factory=list)  # (number, baseline, word) (margin pass)


def body_size(pages: list[Page]) -> float:
    """Pass 2: the document's body type size, the size most characters are set in (to the
    half point; integers left out). Reads `Page.words`; every later size test is relative to it."""
    weights: Counter = Counter()
    for page in pages:
        for w in page.words:
            if w.upright and not INT_RE.match(w.text):
                weights[round(w.size * 2) / 2] += len(w.text)
    return float(weights.most_common(1)[0][0]) if weights else DEFAULT_BODY_SIZE
