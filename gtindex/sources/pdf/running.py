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
    head = [r for r in ordered[:3] if r.top < 0.12 * page.height]
    tail = [r for r in ordered[-3:] if r.bottom > 0.86 * page.height]
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


def _plausible_label_position(row: Row, page: Page) -> bool:
    if len(row.words) > 4:
        return False
    centre = (row.x0 + row.x1) / 2
    return abs(centre - page.width / 2) < 0.15 * page.width or row.x0 > 0.6 * page.width or row.x1 < 0.4 * page.width
