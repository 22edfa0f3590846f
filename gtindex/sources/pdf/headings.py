"""Heading recognition for the sections pass: numbering styles ("V.", "D.", "1.2.3", "(a)",
"APPENDIX A"), how a row stands out (bold, larger, italic), and whether a row can start a section.
"""
from __future__ import annotations

import re

from ...documents import KIND_FOOTNOTE
from .footnotes import LEADER_RE, is_leader_row
from .model import Page, Row


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


# A table or figure caption ("Table 1: Analytical target profile", "TABLE 2. Class 2
# solvents ...", "Figure 2 Ishikawa diagram"), often set in bold: a label of what follows,
# not a section. As a section it took over the path of the text after it, so a sentence
# of 4.2 after Table 2 was cited "§ TABLE 2. Class 2 solvents ..." until the next heading.
_CAPTION = re.compile(r"^(?:table|figure|fig\.|exhibit|chart|diagram|graph)\s+(?:\d+|[IVXLC]+|[A-Z])(?:[-.:)]|\s|$)",
                      re.IGNORECASE)

BOX_TOL = 1  # points of slack when a vertical rule is tested against a row's middle and ends
BOX_LEFT_REACH = 30  # points: a box's left border lies at most this far left of the row
CAPS_MIN_SHARE = 0.85  # share of letters in capitals for a title to count as set in capitals
BOLD_MIN_SHARE = 0.6  # share of a row's letters in bold for the row to count as bold
LARGE_MIN_EXTRA = 1.5  # points above the body size from which a row counts as larger type
ITALIC_MIN_SHARE = 0.8  # share of a row's letters in italic for the row to count as italic
HEADING_MAX_ROW_CHARS = 220  # a longer row is a paragraph line, never a heading
CAPS_TITLE_MIN_CHARS = 3  # a plain-type roman heading's capitals title is longer than this (not "I. A")
ITALIC_HEADING_MAX_WORDS = 12  # an italic numbered row with more words (and not a question) is a paragraph
PLAIN_BOLD_MIN_SHARE = 0.9  # share of a row's letters in bold for an unnumbered bold heading
PLAIN_MAX_WORDS = 12  # an unnumbered heading has at most this many words...
PLAIN_MAX_ROW_CHARS = 110  # ...and at most this many characters
PLAIN_MAX_GAP = 20  # points: a wider gap between words is a table row, not an unnumbered heading


def in_box(row: Row, page: Page) -> bool:
    """True when vertical borders enclose the row on both sides (a table cell or a box)."""
    if not page.vrules:
        return False
    mid = (row.top + row.bottom) / 2
    left = right = False
    for x, top, bottom in page.vrules:
        if top - BOX_TOL <= mid <= bottom + BOX_TOL:
            if row.x0 - BOX_LEFT_REACH <= x <= row.x0 + BOX_TOL:
                left = True
            elif x >= row.x1 - BOX_TOL:
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
    if m and is_caps(m.group("title")):
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


def roman_value(s: str) -> int:
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


def is_caps(title: str) -> bool:
    letters = [c for c in title if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= CAPS_MIN_SHARE * len(letters)


def styled(row: Row, body_size: float) -> str | None:
    """'bold' | 'large' | 'italic' | None: how the row stands out from body text."""
    if row.frac("bold") >= BOLD_MIN_SHARE:
        return "bold"
    if row.size >= body_size + LARGE_MIN_EXTRA:
        return "large"
    if row.frac("italic") >= ITALIC_MIN_SHARE:
        return "italic"
    return None


def is_caption(text: str) -> bool:
    """A table or figure caption: never a heading, nor a heading's next line."""
    return bool(_CAPTION.match(text))


def heading_candidate(row: Row, body_size: float):
    """Classify a row: ('numbered', style, num, title) / ('plain', title) / None."""
    text = row.text
    if row.kind == KIND_FOOTNOTE or not row.upright or row.toc or len(text) > HEADING_MAX_ROW_CHARS:
        return None
    if is_leader_row(text) or re.search(r"\s\d{1,3}$", text) and LEADER_RE.search(text):
        return None
    if is_caption(text):
        return None
    style = styled(row, body_size)
    m = _heading_match(text)
    if m:
        kind, num, title = m
        if kind == "appendix" and not title:
            if style in ("bold", "large") or is_caps(text):
                return ("numbered", kind, num, title)
            return None
        if not title or not (title[0].isupper() or title[0].isdigit() or title[0] in "“\"'(‘"):
            return None
        if style in ("bold", "large"):
            return ("numbered", kind, num, title)
        if kind == "roman" and is_caps(title) and len(title) > CAPS_TITLE_MIN_CHARS:
            return ("numbered", kind, num, title)
        if style == "italic" and (len(text.split()) <= ITALIC_HEADING_MAX_WORDS or text.endswith("?")) and not text.endswith((".", ",", ";")):
            return ("numbered", kind, num, title)
        if kind == "appendix" and (is_caps(text) or style):
            return ("numbered", kind, num, title)
        return None
    if style in ("bold", "large") and row.frac("bold" if style == "bold" else "upright") >= (PLAIN_BOLD_MIN_SHARE if style == "bold" else 0):
        words = text.split()
        if (
            1 <= len(words) <= PLAIN_MAX_WORDS
            and len(text) <= PLAIN_MAX_ROW_CHARS
            and (text[0].isupper() or text[0].isdigit())
            and not text.endswith((",", ";"))
            and row.max_gap() <= PLAIN_MAX_GAP
            and any(c.isalpha() for c in text)
        ):
            return ("plain", text)
    return None
