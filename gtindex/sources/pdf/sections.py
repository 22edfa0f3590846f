"""Pass 9, sections: give every row its section path and mark heading rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...documents import KIND_FOOTNOTE, KIND_HEADING, SECTION_SEPARATOR
from .headings import heading_candidate, in_box, is_caption, roman_value, styled
from .model import Page, Row


_TOP_UNNUMBERED_RE = re.compile(
    r"^(?:references?|glossary|definitions|bibliography|acronyms|abbreviations|"
    r"list\s+of\s+(?:acronyms|abbreviations)|appendix|annex|attachment)\b",
    re.I,
)


def assign_sections(pages: list[Page], body_size: float) -> None:
    """Pass 9: give every row its section path; mark heading rows.

    Reads `Row.text`, `Row.kind`, `Row.drop`, type sizes and styles, `Page.toc`, `Page.vrules`.
    Sets `Row.toc` (from `Page.toc`), `Row.section`, and for heading rows `Row.kind`
    (KIND_HEADING) and `Row.heading`. Rows outside any section keep `section=""`."""
    cover_like = _cover_like_pages(pages, body_size)
    for page in pages:
        for row in page.rows:
            row.toc = page.toc
    rows = [r for p in pages for r in p.rows if not r.drop]
    found = _Candidates.find(rows, pages, cover_like, body_size)
    stack: list[list] = []  # open sections, outermost first: [style, number, title, rows]
    seen_numbered = False
    i = 0
    while i < len(rows):
        r = rows[i]
        c = found.cands.get(id(r))
        if c is not None and c[0] == "plain" and found.numbered_scheme and not seen_numbered:
            c = None  # title lines before the first numbered heading
        block = [r]
        if c is not None:
            c, block = _heading_block(rows, i, c, found)
        if c is None:
            r.section = _path(stack)
            i += 1
            continue
        entry = _open_section(stack, c, block, found.numbered_scheme)
        seen_numbered = seen_numbered or c[0] == "numbered"
        section = _path(stack)
        for b in block:
            b.kind = KIND_HEADING
            b.heading = (entry[0], entry[1], entry[2])
            b.section = section
        i += len(block)


# A cover page: a row in display type at least this many times the body size, and fewer than
# COVER_MAX_BODY_ROWS body-size rows longer than COVER_BODY_ROW_CHARS characters.
COVER_DISPLAY_RATIO = 2
COVER_MAX_BODY_ROWS = 8
COVER_BODY_ROW_CHARS = 40
HEADING_MAX_RATIO = 1.8  # a row this many times the body size or larger is display type, never a heading
HEADING_LINE_GAP = 0.8  # a heading's next line starts within this share of its type size below it
PLAIN_HEADING_MAX_CHARS = 160  # an unnumbered "heading" longer than this is a bold paragraph
BOLD_PARAGRAPH_WORDS = 12  # a multi-line bold block ending in "." with more words is a paragraph
HEADING_LINE_MAX_CHARS = 200  # a longer row never continues a heading onto a next line
HEADING_LINE_SIZE_TOL = 0.6  # points: a heading's next line is in type this close to its size
HEADING_LINE_BOLD_SHARE = 0.9  # share of letters in bold for a next line to continue a bold heading


def _cover_like_pages(pages: list[Page], body_size: float) -> set[int]:
    """Page numbers that never make sections: the cover, and a repeated cover page."""
    cover_like = {1}
    for page in pages:
        kept = [r for r in page.rows if not r.drop]
        if any(r.max_size >= COVER_DISPLAY_RATIO * body_size for r in kept):
            if sum(1 for r in kept if abs(r.size - body_size) < 1 and len(r.text) > COVER_BODY_ROW_CHARS) < COVER_MAX_BODY_ROWS:
                cover_like.add(page.number)
    return cover_like


@dataclass
class _Candidates:
    """Rows that could start a section: `cands` by id(row), ('numbered', style, num, title) or
    ('plain', title); `boxed` rows inside a table cell or box, never headings."""

    cands: dict[int, tuple]
    boxed: set[int]
    numbered_scheme: bool  # two or more numbered headings: unnumbered ones are leaves
    body_size: float

    @classmethod
    def find(cls, rows: list[Row], pages: list[Page], cover_like: set[int], body_size: float) -> _Candidates:
        by_number = {p.number: p for p in pages}
        cands: dict[int, tuple] = {}
        boxed: set[int] = set()
        for r in rows:
            if r.page in cover_like:
                continue
            c = heading_candidate(r, body_size) if r.max_size < HEADING_MAX_RATIO * body_size else None
            if c:
                if in_box(r, by_number[r.page]):
                    boxed.add(id(r))
                    continue
                cands[id(r)] = c
        numbered_scheme = sum(1 for c in cands.values() if c[0] == "numbered") >= 2
        return cls(cands, boxed, numbered_scheme, body_size)

    def continues(self, prev: Row, r: Row, open_appendix: bool) -> bool:
        """Is `r` the next line of the heading whose last line is `prev`?"""
        c = self.cands.get(id(r))
        style = styled(r, self.body_size)
        return (
            prev.page == r.page
            and (c is None or c[0] == "plain")
            and id(r) not in self.boxed
            and r.kind != KIND_FOOTNOTE
            and r.upright
            and not r.toc
            and len(r.text) <= HEADING_LINE_MAX_CHARS
            and r.top - prev.bottom <= HEADING_LINE_GAP * max(r.size, prev.size)
            and abs(r.size - prev.size) < HEADING_LINE_SIZE_TOL
            and style is not None
            and style != "italic"
            and style == styled(prev, self.body_size)
            and (style != "bold" or r.frac("bold") >= HEADING_LINE_BOLD_SHARE)
            and (not prev.text.endswith((".", ":", "?")) or open_appendix)
            # "VII. APPENDIX" then "Table 1. Recommendations ...": the caption of what follows
            # ran into the heading, which, grown into a bold paragraph, then opened no section
            and not is_caption(r.text)
        )


def _heading_block(rows: list[Row], i: int, c: tuple, found: _Candidates) -> tuple[tuple | None, list[Row]]:
    """The candidate heading at rows[i] with its continuation lines, or (None, [rows[i]]) when
    it turns out to be a paragraph (italic, bold or too long)."""
    r = rows[i]
    body_size = found.body_size
    block = [r]
    open_appendix = c[0] == "numbered" and c[1] == "appendix" and not c[3]
    j = i + 1
    while j < len(rows) and found.continues(block[-1], rows[j], open_appendix and len(block) == 1):
        block.append(rows[j])
        j += 1
    full = " ".join(b.text for b in block)
    if c[0] == "numbered" and styled(r, body_size) == "italic" and i + 1 < len(rows):
        nxt = rows[i + 1]
        if (
            nxt.page == r.page
            and id(nxt) not in found.cands
            and nxt.kind != KIND_FOOTNOTE
            and nxt.top - r.bottom <= HEADING_LINE_GAP * r.size
            and styled(nxt, body_size) == "italic"
        ):
            return None, [r]  # an italic paragraph that starts with a number
    if len(block) > 1 and full.endswith(".") and len(full.split()) > BOLD_PARAGRAPH_WORDS:
        return None, [r]  # a bold paragraph, not a heading
    if c[0] == "plain" and len(full) > PLAIN_HEADING_MAX_CHARS:
        return None, [r]
    return c, block


def _open_section(stack: list[list], c: tuple, block: list[Row], numbered_scheme: bool) -> list:
    """Close the sections the heading ends, push its own entry and return it."""
    if c[0] == "numbered":
        style, num, title = c[1], c[2], c[3]
        style = _disambiguate(style, num, title, stack)
        entry = [style, num, title, block]
        if style == "appendix":
            stack.clear()
        else:
            _close_for_numbered(stack, style, numbered_scheme)
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
    return entry


def _close_for_numbered(stack: list[list], style: str, numbered_scheme: bool) -> None:
    """Pop the sections a numbered heading of `style` closes: its own level and deeper."""
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


def _path(stack: list[list]) -> str:
    return SECTION_SEPARATOR.join(_section_label(e) for e in stack)


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
    if roman and roman_value(num) == roman_value(roman[1]) + 1:
        return "roman"
    if num in "CDLM":
        return "upper"
    return "roman"  # "I.", "V.", "X." without a letter sequence to continue
