"""Pass 4, rows and columns: words -> `Row`s (one per printed line, superscripts and subscripts
re-attached or dropped), two-column pages read column by column, rotated text after the
upright rows.
"""
from __future__ import annotations

import re

from .model import Page, Row, Word


_MARKER_RE = re.compile(r"^[\d,\-–*†‡§¶]+$")


_ALPHA_SUP_RE = re.compile(r"^(?:st|nd|rd|th|®|™|©|TM|SM|[a-z])$")


ROW_BASELINE_SHARE = 0.25  # words whose baselines differ by at most this share of the larger type size are one row
ROW_MIN_SIZE = 4.0  # points: the type size that tolerance never goes below (tiny type still groups)
SCRIPT_MAX_CHARS = 6  # a longer word is never a superscript or subscript
SCRIPT_MAX_SIZE_RATIO = 0.85  # a script is at most this share of the size of the type it sits on; larger is text
SCRIPT_MIN_OFFSET = 0.08  # share of the larger type size: a smaller baseline offset is the same baseline, not a script
SCRIPT_MAX_OFFSET = 0.8  # share of the larger type size: a larger baseline offset is another line, not a script
SCRIPT_NEAR_X = 40  # points: a script lies within this distance of either end of the larger word
SUP_MIN_RAISE = 0.12  # share of the host row's size: a superscript's baseline is raised at least this much
SUB_MAX_DROP = 0.5  # share of the host row's size: a subscript's baseline is lowered at most this much
FRAGMENT_MIN_GAP = -0.5  # points: the overlap still allowed between two fragments of one printed word
FRAGMENT_MAX_GAP = 0.6  # points: fragments of one word are at most this far apart...
FRAGMENT_GAP_SHARE = 0.06  # ...or this share of the smaller type size, if that is more; a space is wider
FRAGMENT_BASELINE_TOL = 1.0  # points: fragments of one word share their baseline to within this
FRAGMENT_SAME_SIZE = 0.5  # points: fragment sizes closer than this are one size; further apart the larger wins
LEAD_MARKER_OVERLAP = 1.0  # points a leading footnote number may reach into the host's first word
LEAD_MARKER_MAX_GAP = 6.0  # points: a leading footnote number sits at most this far left of the first word
SCRIPT_TOUCH = 2.0  # points: a trailing script this close to the end of a word touches it
SCRIPT_TOUCH_OVERLAP = 1.0  # points a trailing script may start inside the word it touches
MARKER_SPACE = 4.0  # points: a marker at most one space after a word belongs to it
SCRIPT_NEXT_OVERLAP = 0.5  # points a script may overlap the host's next word before it cannot belong
ROTATED_LINE_TOL = 2.0  # points: rotated words whose centres are this close are one line...
ROTATED_LINE_SHARE = 0.3  # ...or this share of the word's type size, if that is more
COLUMN_BODY_TOP = 0.08  # share of page height: rows above it are the header zone, left out of column detection
COLUMN_BODY_BOTTOM = 0.92  # share of page height: rows below it are the footer zone, left out of column detection
COLUMN_MIN_ROWS = 12  # a page with fewer body rows is never read as two columns
GUTTER_MIN_GAP = 12  # points: a gap between words this wide may be a column gutter
GUTTER_FROM = 0.3  # share of page width where the search for a gutter starts...
GUTTER_TO = 0.7  # ...and where it ends: gutters lie in the middle of the page
GUTTER_STEP = 2  # points between the x positions tried as the gutter
GUTTER_MAX_CROSSING = 0.1  # share of body rows that may have a word across the gutter
GUTTER_MIN_GAP_ROWS = 6  # a gutter has a gap in at least this many body rows...
GUTTER_MIN_GAP_SHARE = 0.4  # ...and in at least this share of them
TABLE_RULE_NEAR = 40  # points: a vertical rule this close to the gutter means a table, not columns...
TABLE_RULE_MIN_LENGTH = 40  # ...when it is longer than this (points)
COLUMN_MIN_WORDS_PER_ROW = 3  # each side has at least this many words per gutter row; fewer: sparse table cells


def _cluster_rows(words: list[Word], page_no: int) -> list[Row]:
    """Group words that share a baseline into rows (top to bottom)."""
    words = sorted(words, key=lambda w: (w.bottom, w.x0))
    groups: list[list[Word]] = []
    anchor = None
    for w in words:
        if groups and anchor is not None and abs(w.bottom - anchor[0]) <= ROW_BASELINE_SHARE * max(anchor[1], w.size, ROW_MIN_SIZE):
            groups[-1].append(w)
            anchor = (anchor[0], max(anchor[1], w.size))
        else:
            groups.append([w])
            anchor = (w.bottom, w.size)
    return [Row(words=sorted(g, key=lambda w: w.x0), page=page_no) for g in groups]


def _is_script(w: Word, words: list[Word]) -> bool:
    """A short marker in smaller type than the text around it (a superscript or subscript)."""
    if len(w.text) > SCRIPT_MAX_CHARS or not (_MARKER_RE.match(w.text) or _ALPHA_SUP_RE.match(w.text)):
        return False
    for o in words:
        if o is w or o.size < w.size / SCRIPT_MAX_SIZE_RATIO:
            continue
        # off the larger word's baseline (raised or lowered), and close to it
        if SCRIPT_MIN_OFFSET * o.size <= abs(o.bottom - w.bottom) <= SCRIPT_MAX_OFFSET * o.size and (o.x0 - SCRIPT_NEAR_X < w.x0 < o.x1 + SCRIPT_NEAR_X):
            return True
    return False


def _build_rows(words: list[Word], page_no: int) -> list[Row]:
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


def _merge_fragments(words: list[Word]) -> list[Word]:
    """Join pieces of one printed word split by a font change (italic word + roman period,
    small capitals): same baseline, no gap."""
    out: list[Word] = []
    for w in words:
        if out:
            p = out[-1]
            gap = w.x0 - p.x1
            if FRAGMENT_MIN_GAP <= gap <= max(FRAGMENT_MAX_GAP, FRAGMENT_GAP_SHARE * min(p.size, w.size)) and abs(w.bottom - p.bottom) <= FRAGMENT_BASELINE_TOL:
                big = p if len(p.text) >= len(w.text) else w
                out[-1] = Word(
                    text=p.text + w.text,
                    x0=p.x0,
                    x1=max(p.x1, w.x1),
                    top=min(p.top, w.top),
                    bottom=max(p.bottom, w.bottom) if abs(p.size - w.size) < FRAGMENT_SAME_SIZE else big.bottom,
                    size=max(p.size, w.size) if abs(p.size - w.size) >= FRAGMENT_SAME_SIZE else big.size,
                    font=big.font,
                    upright=p.upright,
                )
                continue
        out.append(w)
    return out


def _attach_one(w: Word, rows: list[Row]) -> bool:
    """Attach a script word to the row it belongs to: superscripts sit above their row's
    baseline (raised by 12-80% of its type size), subscripts slightly below it."""
    sups = []
    subs = []
    for host in rows:
        hs = host.size
        if w.size > SCRIPT_MAX_SIZE_RATIO * hs:
            continue
        delta = host.baseline - w.bottom
        if SUP_MIN_RAISE * hs <= delta <= SCRIPT_MAX_OFFSET * hs:
            sups.append((delta, host))
        elif SCRIPT_MIN_OFFSET * hs <= -delta <= SUB_MAX_DROP * hs:
            subs.append((-delta, host))
    for _, host in sorted(sups, key=lambda t: t[0]):
        if _attach_to_host(w, host, superscript=True):
            return True
    for _, host in sorted(subs, key=lambda t: t[0]):
        if _attach_to_host(w, host, superscript=False):
            return True
    return False


def _attach_to_host(w: Word, host: Row, superscript: bool) -> bool:
    words = host.words
    first = words[0]
    # leading footnote number: just left of the host's first word
    if superscript and w.x1 <= first.x0 + LEAD_MARKER_OVERLAP and first.x0 - w.x1 <= LEAD_MARKER_MAX_GAP and re.fullmatch(r"\d{1,3}", w.text):
        if host.lead_marker is None:
            host.lead_marker = w.text
            return True
        return False
    # trailing script: touches the end of a host word
    best = None
    for k, hw in enumerate(words):
        if abs(w.x0 - hw.x1) <= SCRIPT_TOUCH or (hw.x0 < w.x0 and w.x0 - hw.x1 <= SCRIPT_TOUCH and w.x0 >= hw.x1 - SCRIPT_TOUCH_OVERLAP):
            best = k
    if best is None:
        # marker after a gap (e.g. "2 , 3" after "Validation"): previous word within a space
        cands = [k for k, hw in enumerate(words) if 0 <= w.x0 - hw.x1 <= MARKER_SPACE]
        if not cands or not _MARKER_RE.match(w.text):
            return False
        best = cands[-1]
        if best + 1 < len(words) and words[best + 1].x0 < w.x1:
            return False
    hw = words[best]
    if best + 1 < len(words) and words[best + 1].x0 < w.x1 - SCRIPT_NEXT_OVERLAP:
        return False
    if superscript and _MARKER_RE.match(w.text) and not hw.text[-1:].isdigit():
        # footnote marker: dropped from the text (documented in the module docstring)
        hw.x1 = max(hw.x1, w.x1)
        return True
    joiner = "^" if superscript and _MARKER_RE.match(w.text) else ""
    words[best] = Word(hw.text + joiner + w.text, hw.x0, max(hw.x1, w.x1), hw.top, hw.bottom, hw.size, hw.font, hw.upright)
    host.reset_text()
    return True


def _rotated_rows(words: list[Word], page_no: int) -> list[Row]:
    if not words:
        return []
    groups: list[list[Word]] = []
    for w in words:  # already in reading order, line by line
        cx = (w.x0 + w.x1) / 2
        if groups and abs(cx - (groups[-1][0].x0 + groups[-1][0].x1) / 2) <= max(ROTATED_LINE_TOL, ROTATED_LINE_SHARE * w.size):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [Row(words=g, page=page_no, upright=False) for g in groups]


def _order_columns(rows: list[Row], page: Page) -> list[Row]:
    """Two-column pages: split rows at the gutter and read left column, then right column."""
    body = [r for r in rows if page.height * COLUMN_BODY_TOP < r.top and r.bottom < page.height * COLUMN_BODY_BOTTOM]
    if len(body) < COLUMN_MIN_ROWS:
        return rows
    width = page.width
    n = int(width) + 2
    crossing_at = [0] * n  # rows with a word across x
    gap_at = [0] * n  # rows with a gap of GUTTER_MIN_GAP points or more around x
    for r in body:
        for w in r.words:
            a, b = int(w.x0) + 1, int(w.x1)
            for x in range(max(a, 0), min(b, n - 1) + 1):
                crossing_at[x] += 1
        for a, b in zip(r.words, r.words[1:]):
            if b.x0 - a.x1 >= GUTTER_MIN_GAP:
                for x in range(max(int(a.x1) + 1, 0), min(int(b.x0), n - 1) + 1):
                    gap_at[x] += 1
    best = None
    for gx in range(int(width * GUTTER_FROM), int(width * GUTTER_TO), GUTTER_STEP):
        crossing, both = crossing_at[gx], gap_at[gx]
        if crossing <= GUTTER_MAX_CROSSING * len(body) and both >= max(GUTTER_MIN_GAP_ROWS, GUTTER_MIN_GAP_SHARE * len(body)):
            if best is None or crossing < best[1] or (crossing == best[1] and both > best[2]):
                best = (gx, crossing, both)
    if best is None:
        return rows
    gx = best[0]
    # tables are not columns: a vertical rule near the gutter means a table
    if any(abs(x - gx) < TABLE_RULE_NEAR and b - t > TABLE_RULE_MIN_LENGTH for x, t, b in page.vrules):
        return rows
    left_words = sum(len([w for w in r.words if w.x1 <= gx]) for r in body)
    right_words = sum(len([w for w in r.words if w.x0 >= gx]) for r in body)
    if left_words < COLUMN_MIN_WORDS_PER_ROW * best[2] or right_words < COLUMN_MIN_WORDS_PER_ROW * best[2]:
        return rows  # sparse cells on both sides: a table or a form, keep rows
    out: list[Row] = []
    left: list[Row] = []
    right: list[Row] = []

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
            left.append(Row(words=lw, page=r.page, lead_marker=r.lead_marker))
        if rw:
            right.append(Row(words=rw, page=r.page, lead_marker=None if lw else r.lead_marker))
    flush()
    return out


def make_rows(pages: list[Page], columns: bool) -> None:
    """Pass 4: words -> rows in reading order.

    Reads `Page.words`, `Page.vrules`, `Page.height`, `Page.width`. Sets `Page.rows` (upright rows
    top to bottom, two-column pages column by column when `columns`, then the rotated rows) and
    `Row.lead_marker`, `Row.upright`."""
    for page in pages:
        upright = [w for w in page.words if w.upright]
        rotated = [w for w in page.words if not w.upright]
        rows = _build_rows(upright, page.number)
        if columns:
            rows = _order_columns(rows, page)
        rows += _rotated_rows(rotated, page.number)
        page.rows = rows
