"""Pass 6, running headers and footers: drop boilerplate, repeated edge rows and page-number
rows; read the printed page label ("9", "ii", "A-1") from them.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict

from .model import Page, Row


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


EDGE_ROWS = 3  # rows at each end of a page that may be running headers or footers
HEADER_ZONE = 0.12  # share of page height: a running header's top is above it
FOOTER_ZONE = 0.86  # share of page height: a running footer's bottom is below it
REPEAT_MIN_PAGES = 3  # an edge row repeated on fewer pages (or a shorter document) is not a running line...
REPEAT_MIN_SHARE = 0.3  # ...nor one on fewer than this share of the pages
LABEL_MAX_WORDS = 4  # an edge row with more words is not a page-number row
LABEL_CENTRE_TOL = 0.15  # share of page width: a page number centred to within this is placed like one...
LABEL_RIGHT_ZONE = 0.6  # ...as is one starting right of this share of the width...
LABEL_LEFT_ZONE = 0.4  # ...or ending left of this share; elsewhere it is text


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


def _edge_rows(page: Page) -> list[Row]:
    rows = [r for r in page.rows if r.upright]
    if not rows:
        return []
    ordered = sorted(rows, key=lambda r: r.top)
    head = [r for r in ordered[:EDGE_ROWS] if r.top < HEADER_ZONE * page.height]
    tail = [r for r in ordered[-EDGE_ROWS:] if r.bottom > FOOTER_ZONE * page.height]
    return head + [r for r in tail if r not in head]


def strip_headers_footers(pages: list[Page]) -> bool:
    """Pass 6: drop running headers/footers and read page labels.

    Reads `Page.rows` (edge rows: text, position, `Row.line`). Sets `Row.drop`, `Page.label`.
    Returns True if a "Draft - not for implementation" header was seen."""
    counts: Counter = Counter()
    variants: dict[str, set] = defaultdict(set)
    for page in pages:
        for row in _edge_rows(page):
            variants[_norm_key(row.text)].add(row.text)
        for key in {_norm_key(r.text) for r in _edge_rows(page)}:
            counts[key] += 1
    min_repeat = max(REPEAT_MIN_PAGES, int(REPEAT_MIN_SHARE * len(pages) + 0.999))
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
            if counts[_norm_key(text)] >= min_repeat and len(pages) >= REPEAT_MIN_PAGES:
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


def _plausible_label_position(row: Row, page: Page) -> bool:
    if len(row.words) > LABEL_MAX_WORDS:
        return False
    centre = (row.x0 + row.x1) / 2
    return abs(centre - page.width / 2) < LABEL_CENTRE_TOL * page.width or row.x0 > LABEL_RIGHT_ZONE * page.width or row.x1 < LABEL_LEFT_ZONE * page.width
