"""Pass 10, cover metadata: title (display-size cover lines, boilerplate removed), status
(draft / final), date ("July 2018") and issuing centres (CDER, CBER, ...; "ICH").
"""
from __future__ import annotations

import re

from ...documents import Document
from .model import Page, Row


_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
)


_DATE_ONLY_RE = re.compile(rf"^(?P<m>{_MONTHS})\s*,?\s+(?P<y>(?:19|20)\d\d)$", re.I)


_DATE_ANY_RE = re.compile(rf"\b(?P<m>{_MONTHS})\s+(?:\d{{1,2}},?\s+)?(?P<y>(?:19|20)\d\d)\b", re.I)


# Cover-page lines that are never the title.
_TITLE_BOILERPLATE_RES = [
    re.compile(r"^(?:draft\s+)?guidance(?:\s+for\s+industry)?(?:\s*(?:and|&)\s*(?:fda|food and drug administration)?\s*(?:review\s+)?staff)?[.;:]?$", re.I),
    re.compile(r"^(?:and|&)\s+(?:fda\s+)?(?:review\s+)?staff$", re.I),
    re.compile(r"^(?:and\s+)?(?:food\s+and\s+)?drug\s+administration\s+staff$", re.I),
    re.compile(r"^(?:and\s+)?(?:fda\s+)?(?:review\s+)?staff$", re.I),
    re.compile(r"^guidance\s+(?:for|to)\s+(?:industry|fda|staff)", re.I),
    re.compile(r"^draft(?:\s+guidance)?$", re.I),
    re.compile(r"^(?:international\s+(?:conference|council)\s+(?:on|for)\s+harmonisation|requirements\s+for)", re.I),
    re.compile(r"^ich\s+harmonised", re.I),
    re.compile(r"^(?:technical\s+requirements\s+for|human\s+use$|registration\s+of\s+pharmaceuticals)", re.I),
    re.compile(r"^(?:this\s+guidance\s+document|comments\s+and\s+suggestions)", re.I),
    re.compile(r"^(?:document\s+issued\s+on|this\s+document\s+(?:supersedes|replaces)|the\s+draft\s+of\s+this)", re.I),
    re.compile(r"^(?:u\.s\.\s+department|food\s+and\s+drug\s+administration|center\s+for|office\s+of)", re.I),
    re.compile(r"^(?:contains\s+non|draft\s*[-–—])", re.I),
    re.compile(rf"^(?:{_MONTHS})\s+\d{{4}}$", re.I),
]


_TITLE_STRIP_RE = re.compile(
    r"[;:,]?\s*(?:(?:draft|final)\s+)?guidance\s+for\s+industry(?:\s+and\s+(?:fda\s+)?(?:review\s+)?(?:staff|reviewers))?\s*$",
    re.I,
)


_CENTERS = [
    (re.compile(r"center\s+for\s+drug\s+evaluation\s+and\s+research|\(CDER\)", re.I), "CDER"),
    (re.compile(r"center\s+for\s+biologics\s+evaluation\s+and\s+research|\(CBER\)", re.I), "CBER"),
    (re.compile(r"center\s+for\s+devices\s+and\s+radiological\s+health|\(CDRH\)", re.I), "CDRH"),
    (re.compile(r"center\s+for\s+veterinary\s+medicine|\(CVM\)", re.I), "CVM"),
    (re.compile(r"center\s+for\s+food\s+safety\s+and\s+applied\s+nutrition|\(CFSAN\)", re.I), "CFSAN"),
    (re.compile(r"center\s+for\s+tobacco\s+products|\(CTP\)", re.I), "CTP"),
    (re.compile(r"oncology\s+center\s+of\s+excellence|\(OCE\)", re.I), "OCE"),
    (re.compile(r"office\s+of\s+regulatory\s+affairs|\(ORA\)", re.I), "ORA"),
    (re.compile(r"office\s+of\s+inspections\s+and\s+investigations|\(OII\)", re.I), "OII"),
    (re.compile(r"office\s+of\s+combination\s+products|\(OCP\)", re.I), "OCP"),
    (re.compile(r"office\s+of\s+the\s+commissioner|\(OC\)", re.I), "OC"),
    (re.compile(r"office\s+of\s+clinical\s+policy\s+and\s+programs|\(OCPP\)", re.I), "OCPP"),
    (re.compile(r"office\s+of\s+clinical\s+policy(?!\s+and\s+programs)|\(OCLP\)", re.I), "OCLP"),
    (re.compile(r"human\s+foods\s+program|\(HFP\)", re.I), "HFP"),
]


_ICH_RE = re.compile(r"international\s+(?:conference|council)\s+(?:on|for)\s+harmonisation|\bICH\b", re.I)


FRONT_PAGES = 2  # pages read for the date and the issuing centres (the cover and the one after it)
TITLE_MIN_RATIO = 1.15  # cover rows in type at least this many times the body size are title lines
TITLE_MIN_LETTERS = 10  # once the title has this many letters, a boilerplate row ends it
TITLE_FALLBACK_SHARE = 0.95  # no display type: rows at least this share of the largest cover size are the title...
TITLE_FALLBACK_ROWS = 3  # ...at most this many of them
TITLE_MIN_CHARS = 4  # a shorter cover title is no title: the PDF's /Title is used instead


def fill_metadata(doc: Document, pages: list[Page], meta: dict, draft_header: bool, body_size: float) -> None:
    """Pass 10: the document's title, status, date and centres. Reads the rows of the first two
    pages (dropped ones included), the PDF's /Title and the running-lines pass's draft header.
    Sets `Document.title`, `.status`, `.date`, `.center`."""
    first = pages[0]
    cover_rows = [r for r in first.rows if r.upright and r.text]
    cover_text = "\n".join(r.text for r in cover_rows)
    front_text = "\n".join(r.text for p in pages[:FRONT_PAGES] for r in p.rows if r.upright and r.text)

    doc.title = _title(cover_rows, meta, body_size)

    low = re.sub(r"(?:supersedes|replaces|revises)\s+(?:the\s+)?draft", "", cover_text.lower())
    draft = draft_header
    final_cover = re.search(r"\bfinal\s+guidance\b|\bfinal\s+version\b|\bstep\s*4\b", low)
    if not final_cover and re.search(
        r"\bdraft\s+guidance\b|^draft$|\bdraft\s+version\b|\bstep\s*2\b|distributed\s+for\s+comment\s+purposes", low, re.M
    ):
        draft = True
    if re.search(r"\bdraft\s*[-–—]\s*not\s+for\s+implementation\b", low):
        draft = True
    doc.status = "draft" if draft else "final"

    doc.date = _date(pages)
    centers: list[str] = []
    positions = []
    for rx, abbr in _CENTERS:
        m = rx.search(front_text)
        if m:
            positions.append((m.start(), abbr))
    for _, abbr in sorted(positions):
        if abbr not in centers:
            centers.append(abbr)
    if not centers and _ICH_RE.search(front_text):
        centers = ["ICH"]
    doc.center = ", ".join(centers)


def _title(cover_rows: list[Row], meta: dict, body_size: float) -> str:
    """The guidance title as printed on the cover: the display-size lines, boilerplate removed."""
    ordered = sorted(cover_rows, key=lambda r: r.top)
    rows = [
        r
        for r in ordered
        if not any(rx.match(r.text) for rx in _TITLE_BOILERPLATE_RES) and any(c.isalpha() or c.isdigit() for c in r.text)
    ]
    chosen: list[Row] = []
    for r in ordered:
        boiler = r not in rows
        if boiler:
            if sum(c.isalpha() for c in " ".join(x.text for x in chosen)) >= TITLE_MIN_LETTERS:
                break  # "... Title / Guidance for Industry": the title has ended
            continue
        if r.max_size >= TITLE_MIN_RATIO * body_size:
            chosen.append(r)
        elif chosen:
            break
    if not chosen and rows:
        chosen = _leading_rows_of_the_largest_type(ordered, rows)
    title = ""
    for r in chosen:
        if title.endswith("-") and not title.endswith(" -"):
            title += r.text
        else:
            title = f"{title} {r.text}".strip()
    if len(title) < TITLE_MIN_CHARS:
        title = str(meta.get("Title") or "").strip()
    title = _TITLE_STRIP_RE.sub("", re.sub(r"\s+", " ", title)).strip(" ;:,")
    return title


def _leading_rows_of_the_largest_type(ordered: list[Row], rows: list[Row]) -> list[Row]:
    """No display type on the cover (a CPG set all in 11 pt, its title in bold): the first run
    of rows in the largest type, at most TITLE_FALLBACK_ROWS, ended by a boilerplate row. The
    run used to skip the boilerplate, taking the disclaimer's next line into the title
    ("... Pre-Market Approval topic. It does not create or confer any rights ...")."""
    big = max(r.max_size for r in rows)
    chosen: list[Row] = []
    for r in ordered:
        large = r in rows and r.max_size >= TITLE_FALLBACK_SHARE * big
        if large:
            chosen.append(r)
        elif chosen:
            break
        if len(chosen) == TITLE_FALLBACK_ROWS:
            break
    return chosen


def _date(pages: list[Page]) -> str:
    for page in pages[:FRONT_PAGES]:
        for r in page.rows:
            m = _DATE_ONLY_RE.match(r.text)
            if m:
                return f"{m.group('m').capitalize()} {m.group('y')}"
    for page in pages[:FRONT_PAGES]:
        for r in page.rows:
            m = _DATE_ANY_RE.search(r.text)
            if m:
                return f"{m.group('m').capitalize()} {m.group('y')}"
    return ""
