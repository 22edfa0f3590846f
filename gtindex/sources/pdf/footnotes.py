"""Passes 7 and 8, table of contents and footnotes: mark contents pages; mark the small rows at
a page's foot (below a short rule, or starting with a footnote number) as footnotes.
"""
from __future__ import annotations

import re

from ...documents import KIND_FOOTNOTE
from .model import Page


LEADER_RE = re.compile(r"(?:\.\s?){4,}|…{2,}|(?:_\s?){6,}")


_TOC_TITLE_RE = re.compile(r"^(?:table\s+of\s+contents|contents)$", re.I)


def _is_toc_page(page: Page) -> bool:
    rows = [r for r in page.rows if not r.drop and r.upright]
    if not rows:
        return False
    leaders = sum(1 for r in rows if is_leader_row(r.text))
    titled = any(_TOC_TITLE_RE.match(r.text) for r in rows[:4])
    if titled and leaders >= 1:
        return True
    return leaders >= 3 and leaders >= 0.3 * len(rows)


def is_leader_row(text: str) -> bool:
    return bool(LEADER_RE.search(text)) and bool(re.search(r"(?:\d+|[ivx]+)\s*$", text))


def _mark_footnotes(page: Page, body_size: float) -> None:
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



def mark_contents_pages(pages: list[Page]) -> None:
    """Pass 7: table-of-contents pages. Reads `Row.drop`, `Row.text`. Sets `Page.toc`."""
    for page in pages:
        page.toc = _is_toc_page(page)


def mark_footnotes(pages: list[Page], body_size: float) -> None:
    """Pass 8: footnotes. Reads `Page.rules`, `Row.drop`, `Row.size`, `Row.line`,
    `Row.lead_marker`. Sets `Row.kind` (KIND_FOOTNOTE), `Row.footnote`, and takes a leading
    footnote number out of `Row.words`."""
    for page in pages:
        _mark_footnotes(page, body_size)
