"""Parsed documents: the stage between source files and passages.

Every parser (PDF, HTML) produces a `Document` made of `Line`s. A `Line` carries
exactly what a regulatory citation needs: physical page, printed page label,
printed margin line number (or a computed position), section path, kind, text.
Later stages never go back to the source file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# How a document's line numbers were obtained; one value per document.
LINE_KIND_PRINTED = "printed"  # numbers printed in the PDF's left margin
LINE_KIND_COMPUTED = "computed"  # no printed numbers: page + line on page
LINE_KIND_PARAGRAPH = "paragraph"  # web pages: paragraph / list item number

KIND_BODY = "body"
KIND_HEADING = "heading"
KIND_FOOTNOTE = "footnote"

SECTION_SEPARATOR = " > "


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
    status: str = ""  # "draft" | "final" | "" (unknown)
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


class ParseError(Exception):
    """Bad input: carries the file name and a one-line reason a person can act on."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
