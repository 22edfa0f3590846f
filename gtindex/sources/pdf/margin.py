"""Passes 3 and 5, margin line numbers: find the printed line-number column of a numbered
draft, take its numbers out of the text, and give each row its printed number.
"""
from __future__ import annotations

import statistics
from collections import Counter

from .model import INT_RE, Page, Row, Word


SAME_LINE_TOL = 2.5  # points: two words whose baselines differ by at most this share a visual line...
SAME_LINE_SIZE_SHARE = 0.25  # ...or by at most this share of the larger type size, if that is more
MARGIN_MIN_SIZE_RATIO = 0.7  # a margin number is at least this share of the body size; smaller is a script or a note
MARGIN_MAX_SIZE_RATIO = 1.3  # a margin number is at most this many times the body size; larger is a heading number
MARGIN_MAX_X_SHARE = 0.3  # a margin number ends in this left share of the page width; further right it is text
LINE_WINDOW = 6  # points above and below a word's baseline searched for the other words on its line
TOUCH_TOL = 0.5  # points a neighbour may overlap a number and still count as wholly left or right of it
MARGIN_MIN_GAP = 5  # points of clear space after a margin number; a closer word means the number is part of the text
MARGIN_MIN_CANDIDATES = 15  # fewer line-starting integers in the whole document: not numbered
COLUMN_X_OFFSETS = (-2, -1, 0, 1, 2)  # whole-point x1 bins pooled when looking for the number column
COLUMN_X_TOL = 2.5  # points: an integer whose x1 is this close to the column's is in the column
MARGIN_MIN_STEPS = 15  # fewer +1 steps down the column: not a line-number sequence
MARGIN_MIN_STEP_SHARE = 0.6  # share of consecutive column numbers that must step by +1; fewer: stray integers
VISUAL_LINE_GAP = 3  # points between sorted word baselines that start a new visual line (density count)
MARGIN_MIN_DENSITY = 0.4  # median share of a page's visual lines that carry a number; below it: not line numbers
TEXT_LEFT_QUANTILE = 10  # the text's left edge is the word x0 at 1/this of the way up the sorted x0s
MARGIN_TEXT_CLEARANCE = 3  # points: the column's x1 must be at least this far left of the text's left edge
MARGIN_MAX_JUMP = 80  # a number more than this above the previous one is a stray, not the next line
ROW_MATCH_TOL = 2.5  # points: a margin number matches a row whose baseline is at most this far away...
ROW_MATCH_SIZE_SHARE = 0.3  # ...or at most this share of the row's type size, if that is more


def _same_line(a: Word, b: Word) -> bool:
    return abs(a.bottom - b.bottom) <= max(SAME_LINE_TOL, SAME_LINE_SIZE_SHARE * max(a.size, b.size))


def _margin_candidates(page: Page, body_size: float) -> list[Word]:
    """Integers that start their visual line, with a clear gap before the text after them."""
    words = [w for w in page.words if w.upright]
    if not words:
        return []
    by_line = sorted(words, key=lambda w: w.bottom)
    out = []
    for w in words:
        if not INT_RE.match(w.text) or w.size < MARGIN_MIN_SIZE_RATIO * body_size or w.size > MARGIN_MAX_SIZE_RATIO * body_size:
            continue
        if w.x1 > MARGIN_MAX_X_SHARE * page.width:
            continue
        left_of = False
        right_gap = None
        for o in by_line:
            if o is w or o.bottom < w.bottom - LINE_WINDOW:
                continue
            if o.bottom > w.bottom + LINE_WINDOW:
                break
            if not _same_line(o, w):
                continue
            if o.x1 <= w.x0 + TOUCH_TOL:
                left_of = True
                break
            if o.x0 >= w.x1 - TOUCH_TOL:
                gap = o.x0 - w.x1
                right_gap = gap if right_gap is None else min(right_gap, gap)
        if left_of or (right_gap is not None and right_gap < MARGIN_MIN_GAP):
            continue
        out.append(w)
    return out


def _detect_margin_numbers(pages: list[Page], body_size: float) -> float | None:
    """x1 of the printed line-number column, or None when the document is not numbered."""
    cands: list[tuple[int, float, float, int]] = []  # page, bottom, x1, value
    for page in pages:
        for w in _margin_candidates(page, body_size):
            cands.append((page.number, w.bottom, w.x1, int(w.text)))
    if len(cands) < MARGIN_MIN_CANDIDATES:
        return None
    hist = Counter(round(c[2]) for c in cands)
    best_x, best_n = None, 0
    for x in hist:
        n = sum(hist[x + d] for d in COLUMN_X_OFFSETS)
        if n > best_n:
            best_x, best_n = x, n
    if best_x is None:
        return None
    col = sorted((c for c in cands if abs(c[2] - best_x) <= COLUMN_X_TOL), key=lambda c: (c[0], c[1]))
    values = [c[3] for c in col]
    steps = sum(1 for a, b in zip(values, values[1:]) if b == a + 1)
    if steps < MARGIN_MIN_STEPS or steps < MARGIN_MIN_STEP_SHARE * (len(values) - 1):
        return None
    # dense: on the pages that carry them, most visual lines have a number
    per_page = Counter(c[0] for c in col)
    ratios = []
    for page in pages:
        if page.number in per_page:
            bottoms = sorted(w.bottom for w in page.words if w.upright)
            n_lines = 1 + sum(1 for a, b in zip(bottoms, bottoms[1:]) if b - a > VISUAL_LINE_GAP)
            ratios.append(per_page[page.number] / n_lines)
    if statistics.median(ratios) < MARGIN_MIN_DENSITY:
        return None
    # the column must sit left of the text it numbers
    text_x0 = []
    for page in pages:
        for w in page.words:
            if w.upright and not INT_RE.match(w.text):
                text_x0.append(w.x0)
    if text_x0:
        left_text = sorted(text_x0)[len(text_x0) // TEXT_LEFT_QUANTILE]
        if best_x > left_text - MARGIN_TEXT_CLEARANCE:
            return None
    return float(statistics.median(c[2] for c in col))


def _take_margin_numbers(page: Page, margin_x1: float, body_size: float) -> list[Word]:
    cands = {id(w) for w in _margin_candidates(page, body_size) if abs(w.x1 - margin_x1) <= COLUMN_X_TOL}
    rest = []
    for w in page.words:
        if id(w) in cands:
            page.margin.append((int(w.text), w.bottom, w))
        else:
            rest.append(w)
    return rest


def _filter_margin_sequence(pages: list[Page]) -> None:
    """Keep margin numbers that continue the increasing sequence; drop strays."""
    last = 0
    for page in pages:
        kept = []
        for value, bottom, word in sorted(page.margin, key=lambda m: m[1]):
            if last < value <= last + MARGIN_MAX_JUMP or (value == 1 and not kept and last > 0):
                kept.append((value, bottom, word))
                last = value
            else:
                page.words.append(word)  # not a line number after all: keep it as text
        page.margin = kept


def _assign_margin_numbers(page: Page) -> None:
    rows = [r for r in page.rows if r.upright]
    pairs = []
    for value, bottom, _ in page.margin:
        for row in rows:
            d = abs(row.baseline - bottom)
            if d <= max(ROW_MATCH_TOL, ROW_MATCH_SIZE_SHARE * row.size):
                pairs.append((d, value, id(row), row))
    pairs.sort(key=lambda p: p[0])
    used_rows, used_vals = set(), set()
    for _, value, rid, row in pairs:
        if rid in used_rows or value in used_vals:
            continue
        used_rows.add(rid)
        used_vals.add(value)
        row.line = value


def _enforce_increasing(pages: list[Page]) -> None:
    """Drop printed numbers that break the increasing sequence (stray matches)."""
    last = 0
    for page in pages:
        for row in page.rows:
            if row.line is None:
                continue
            if row.line <= last or row.line > last + MARGIN_MAX_JUMP:
                if last > 0 and row is _first_numbered(page) and _restarts(page, row):
                    last = row.line  # numbering restarts on this page
                    continue
                row.line = None
                continue
            last = row.line


def _restarts(page: Page, row: Row) -> bool:
    """The page's numbering starts again at 1: its first numbered row is 1, or the page's
    margin prints 1 (beside a blank line) and every number from there to this row's."""
    if row.line == 1:
        return True
    printed = {number for number, _baseline, _word in page.margin}
    return all(number in printed for number in range(1, row.line + 1))


def _first_numbered(page: Page) -> Row | None:
    for row in page.rows:
        if row.line is not None:
            return row
    return None


def take_line_numbers(pages: list[Page], body_size: float) -> bool:
    """Pass 3: is the document numbered, and if so take its margin numbers out of the text.

    Reads `Page.words`. Sets `Page.margin` (number, baseline, word) and removes those words from
    `Page.words` (numbers that break the sequence go back as text). Returns True when numbered."""
    margin_x1 = _detect_margin_numbers(pages, body_size)
    if margin_x1 is None:
        return False
    for page in pages:
        page.words = _take_margin_numbers(page, margin_x1, body_size)
    _filter_margin_sequence(pages)
    return True


def number_rows(pages: list[Page]) -> None:
    """Pass 5 (numbered documents only): match margin numbers to rows by baseline.

    Reads `Page.margin`, `Page.rows`. Sets `Row.line`, then clears the numbers that break the
    increasing sequence (a restart at 1 on a page's first numbered row is kept)."""
    for page in pages:
        _assign_margin_numbers(page)
    _enforce_increasing(pages)
