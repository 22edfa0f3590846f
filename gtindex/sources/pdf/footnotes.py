"""Passes 7 and 8, table of contents and footnotes: mark contents pages; mark the small rows at
a page's foot (below a short rule, or starting with a footnote number) as footnotes.
"""
from __future__ import annotations

import re

from ...documents import KIND_FOOTNOTE
from .model import Page


LEADER_RE = re.compile(r"(?:\.\s?){4,}|…{2,}|(?:_\s?){6,}")


_TOC_TITLE_RE = re.compile(r"^(?:table\s+of\s+contents|contents)$", re.I)


TOC_TITLE_ROWS = 4  # a "Contents" title is among a page's first this many rows
TOC_MIN_LEADERS = 3  # an untitled page with fewer dot-leader rows is not a contents page...
TOC_MIN_LEADER_SHARE = 0.3  # ...nor one where leader rows are less than this share of its rows
RULE_MIN_Y = 0.35  # share of page height: a footnote rule lies below it; higher rules are borders or tables
RULE_MAX_WIDTH = 0.75  # share of page width: a footnote rule is at most this long; wider is a border...
# ...except Word's continuation separator, the full text width (0.77 of Letter), above the
# rest of a footnote carried over from the page before: taken only on a page after one with
# footnotes, and only when the first row under it is no new footnote.
CONTINUATION_RULE_MAX_WIDTH = 0.8
RULE_LEFT_TOL = 40  # points: a footnote rule starts at most this far right of the text's left edge
UNDERLINE_ABOVE = 3.5  # points: a word whose bottom is at most this far above a rule is underlined by it...
UNDERLINE_BELOW = 1.0  # ...or at most this far below it (a hyperlink, not the footnote separator)
BELOW_RULE_TOL = 1  # points: a row whose top is at most this far above the rule counts as below it
FOOTNOTE_SIZE_DROP = 0.2  # points: footnote type is more than this smaller than the body size
FOOTNOTE_ZONE = 0.4  # share of page height: an unruled footnote block lies wholly below it
FOOTNOTE_NUMBER_GAP = 8  # points: a footnote's number is followed by its text within this
FOOTNOTE_NUMBER_INDENT = 12  # points: a footnote's number starts at most this far right of the text's left edge


def _is_toc_page(page: Page) -> bool:
    rows = [r for r in page.rows if not r.drop and r.upright]
    if not rows:
        return False
    leaders = sum(1 for r in rows if is_leader_row(r.text))
    titled = any(_TOC_TITLE_RE.match(r.text) for r in rows[:TOC_TITLE_ROWS])
    if titled and leaders >= 1:
        return True
    return leaders >= TOC_MIN_LEADERS and leaders >= TOC_MIN_LEADER_SHARE * len(rows)


def is_leader_row(text: str) -> bool:
    return bool(LEADER_RE.search(text)) and bool(re.search(r"(?:\d+|[ivx]+)\s*$", text))


def _mark_footnotes(page: Page, body_size: float, after_footnotes: bool = False) -> None:
    rows = [r for r in page.rows if not r.drop and r.upright]
    if not rows:
        return
    # a short rule in the lower part of the page, starting near the text's left edge
    left = min(r.x0 for r in rows)
    widest = CONTINUATION_RULE_MAX_WIDTH if after_footnotes else RULE_MAX_WIDTH
    rule_y = None
    for y, x0, x1 in page.rules:
        if y > RULE_MIN_Y * page.height and x1 - x0 <= widest * page.width and x0 <= left + RULE_LEFT_TOL:
            underline = any(
                y - UNDERLINE_ABOVE <= w.bottom <= y + UNDERLINE_BELOW and w.x0 < x1 and w.x1 > x0 for r in rows for w in r.words
            )
            if underline:
                continue  # a hyperlink underline, not the footnote separator
            below = [r for r in rows if r.top >= y - BELOW_RULE_TOL]
            if below and x1 - x0 > RULE_MAX_WIDTH * page.width and min(below, key=lambda r: r.top).lead_marker is not None:
                continue  # a wide rule above a new footnote: a border, not a continuation separator
            if below and all(r.size < body_size - FOOTNOTE_SIZE_DROP and r.line is None for r in below):
                if rule_y is None or y < rule_y:
                    rule_y = y
    start = None
    if rule_y is not None:
        below = [r for r in rows if r.top >= rule_y - BELOW_RULE_TOL]
        if below:
            start = rows.index(min(below, key=lambda r: r.top))
    else:
        # no rule: a block of small rows at the foot that starts with a footnote number
        k = len(rows)
        while k > 0 and rows[k - 1].size < body_size - FOOTNOTE_SIZE_DROP and rows[k - 1].line is None and rows[k - 1].bottom > FOOTNOTE_ZONE * page.height:
            k -= 1
        for i in range(k, len(rows)):
            if rows[i].lead_marker is not None or re.match(r"^\d{1,3}\s+\S", rows[i].text) and rows[i].size < body_size - FOOTNOTE_SIZE_DROP:
                if rows[i].lead_marker is not None:
                    start = i
                break
    if start is None:
        return
    current = None
    for row in rows[start:]:
        if row.line is not None and row.size >= body_size - FOOTNOTE_SIZE_DROP:
            continue  # a numbered body line is never a footnote
        row.kind = KIND_FOOTNOTE
        if row.lead_marker is not None:
            current = int(row.lead_marker)
        elif rule_y is not None and row.words and re.fullmatch(r"\d{1,3}", row.words[0].text) and len(row.words) > 1 and row.words[1].x0 - row.words[0].x1 < FOOTNOTE_NUMBER_GAP and row.x0 <= left + FOOTNOTE_NUMBER_INDENT:
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
    after_footnotes = False
    for page in pages:
        _mark_footnotes(page, body_size, after_footnotes)
        after_footnotes = any(row.kind == KIND_FOOTNOTE for row in page.rows if not row.drop)
