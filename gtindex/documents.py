"""Parsed documents: the stage between source files and passages.

Every parser (PDF, HTML) produces a `Document` made of `Line`s. A `Line` carries
exactly what a regulatory citation needs: physical page, printed page label,
printed margin line number (or a computed position), section path, kind, text.
Later stages never go back to the source file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

# How a document's line numbers were obtained; one value per document.
LINE_KIND_PRINTED = "printed"  # numbers printed in the PDF's left margin
LINE_KIND_COMPUTED = "computed"  # no printed numbers: page + line on page
STATUS_DRAFT = "draft"  # Document.status of a draft guidance: its citation says "Draft"
LINE_KIND_PARAGRAPH = "paragraph"  # web pages: paragraph / list item number

KIND_BODY = "body"
KIND_HEADING = "heading"
KIND_FOOTNOTE = "footnote"

SECTION_SEPARATOR = " > "

# Bounds on what one source file can make gtindex store, embed and print. Every line is stored,
# tokenised, embedded (inside its passages) and printed with a hit, and the title is printed in
# every hit, so a hostile file (a web page that is one 50 MB word, a 100,000-character PDF
# /Title) would otherwise cost minutes of embedding, gigabytes of memory and screens of output.
# Longer text is cut and ends in CLIPPED.
MAX_LINE_CHARS = 5_000  # a PDF text line is ~100 characters, the longest web paragraph in the corpus 1,152
MAX_TITLE_CHARS = 500  # the longest FDA guidance titles are ~250 characters
MAX_SECTION_CHARS = 1_000  # a section path (headings joined), stored with every line, embedded with every passage
MAX_LINK_CHARS = 2_000  # link text and URL of a web page's links (browsers cap URLs near 2,000 too)
CLIPPED = "…"


@dataclass(frozen=True)
class Line:
    page: int  # physical page, 1-based (web pages: 1)
    page_label: str | None  # label printed on the page ("9", "ii"); None if none printed
    line: int | None  # printed margin number; paragraph number on web pages; None otherwise
    line_on_page: int  # 1-based position among the kept lines of this page
    kind: str  # KIND_BODY | KIND_HEADING | KIND_FOOTNOTE
    section: str  # section path, parts joined by SECTION_SEPARATOR ("" before the first heading)
    text: str
    footnote: int | None = None  # footnote number, for footnote lines

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Link:
    text: str
    url: str
    section: str = ""


@dataclass
class Document:
    doc: str  # source file name, the document's identity in citations
    source_type: str  # "pdf" | "html"
    sha256: str
    title: str = ""
    status: str = ""  # STATUS_DRAFT | "final" | "" (unknown)
    date: str = ""  # as printed on the cover, e.g. "July 2018"
    center: str = ""  # issuing center(s): "CBER", "CDER", "CDER, CBER", "ICH", ...
    pages: int = 0
    line_kind: str = LINE_KIND_COMPUTED
    lines: list[Line] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def year(self) -> int | None:
        digits = [tok for tok in self.date.replace(",", " ").split() if tok.isdigit() and len(tok) == 4]
        return int(digits[-1]) if digits else None

    def to_json(self) -> dict:
        """The `gtindex parse --json` contract; keep these names stable."""
        return {
            "doc": self.doc,
            "source_type": self.source_type,
            "title": self.title,
            "status": self.status,
            "date": self.date,
            "center": self.center,
            "sha256": self.sha256,
            "pages": self.pages,
            "line_kind": self.line_kind,
            "lines": [line.to_json() for line in self.lines],
            "links": [asdict(link) for link in self.links],
        }


def clip(text: str, limit: int) -> str:
    """`text`, or its first `limit` - 1 characters and CLIPPED."""
    return text if len(text) <= limit else text[: limit - len(CLIPPED)] + CLIPPED


def bounded(document: Document) -> Document:
    """The document with every line, section path, title and link cut to the MAX_* bounds
    (what each parser returns; nothing a real guidance holds is that long)."""
    document.title = clip(document.title, MAX_TITLE_CHARS)
    document.date = clip(document.date, MAX_TITLE_CHARS)
    document.center = clip(document.center, MAX_TITLE_CHARS)
    document.lines = [
        line if len(line.text) <= MAX_LINE_CHARS and len(line.section) <= MAX_SECTION_CHARS
        else replace(line, text=clip(line.text, MAX_LINE_CHARS), section=clip(line.section, MAX_SECTION_CHARS))
        for line in document.lines
    ]
    document.links = [
        Link(clip(link.text, MAX_LINK_CHARS), clip(link.url, MAX_LINK_CHARS), clip(link.section, MAX_SECTION_CHARS))
        for link in document.links
    ]
    return document


class ParseError(Exception):
    """Bad input: carries the file name and a one-line reason a person can act on."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
