"""Pass 4, rows and columns: words -> `Row`s (one per printed line, superscripts and subscripts
re-attached or dropped), two-column pages read column by column, rotated text after the
upright rows.
"""
from __future__ import annotations

import re

from .model import Page, Row, Word


_MARKER_RE = re.compile(r"^[\d,\-–*†‡§¶]+$")


_ALPHA_SUP_RE = re.compile(r"^(?:st|nd|rd|th|®|™|©|TM|SM|[a-z])$")


def _cluster_rows(words: list[Word], page_no: int) -> list[Row]:
    """Group words that share a baseline into rows (top to bottom)."""
    words = sorted(words, key=lambda w: (w.bottom, w.x0))
    groups: list[list[Word]] = []
    anchor = None
    for w in words:
        if groups and anchor is not None and abs(w.bottom - anchor[0]) <= 0.25 * max(anchor[1], w.size, 4.0):
            groups[-1].append(w)
            anchor = (anchor[0], max(anchor[1], w.size))
        else:
            groups.append([w])
            anchor = (w.bottom, w.size)
    return [Row(words=sorted(g, key=lambda w: w.x0), page=page_no) for g in groups]


def _is_script(w: Word, words: list[Word]) -> bool:
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
            if -0.5 <= gap <= max(0.6, 0.06 * min(p.size, w.size)) and abs(w.bottom - p.bottom) <= 1.0:
                big = p if len(p.text) >= len(w.text) else w
                out[-1] = Word(
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


def _attach_one(w: Word, rows: list[Row]) -> bool:
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


def _attach_to_host(w: Word, host: Row, superscript: bool) -> bool:
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
    words[best] = Word(hw.text + joiner + w.text, hw.x0, max(hw.x1, w.x1), hw.top, hw.bottom, hw.size, hw.font, hw.upright)
    host.reset_text()
    return True


def _rotated_rows(words: list[Word], page_no: int) -> list[Row]:
    if not words:
        return []
    groups: list[list[Word]] = []
    for w in words:  # already in reading order, line by line
        cx = (w.x0 + w.x1) / 2
        if groups and abs(cx - (groups[-1][0].x0 + groups[-1][0].x1) / 2) <= max(2.0, 0.3 * w.size):
            groups[-1].append(w)
        else:
            groups.append([w])
    return [Row(words=g, page=page_no, upright=False) for g in groups]


def _order_columns(rows: list[Row], page: Page) -> list[Row]:
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
