"""Guidance PDF -> `Document` (pdfplumber / pdfminer underneath).

One `Line` per printed text line, carrying what a citation needs: physical page, printed page
label, printed margin line number (drafts), section path, kind and the exact words.

How it works (all geometry comes from pdfplumber words, extracted once per page):

1. Words are read with their font size and font name. Rows are words that share a baseline
   (``bottom``), so text order inside a PDF never matters.
2. Superscripts (smaller type on a raised baseline, touching the word before them) are taken
   out of the text: numeric markers ("product¹", "Validation²,³") are DROPPED, so "product1"
   never appears; alphabetic ones ("4th", "®") are re-attached to their word. A small raised
   number in front of a footnote is the footnote's number (`Line.footnote`), not text.
   Subscripts ("Cmax") are re-attached to their word.
3. Printed line numbers: a document is "numbered" when a dense, mostly +1 run of integers sits,
   right-aligned at one x, left of the text block, in body-size type. Numbers are matched to
   rows by baseline, never by text order. Numbered blank lines produce no Line. Footnotes,
   running headers and unnumbered rows keep ``line=None``.
4. Running headers/footers (boilerplate, rows repeated at the page edges, page-number rows) are
   dropped; the page label ("9", "ii", "A-1") is read from them.
5. Footnotes: small type at the page foot, below a short rule or starting with a footnote
   number. Tables keep one Line per printed row (cells joined by a space). Two-column pages (not
   in numbered documents) are read column by column. Text turned by 90 degrees comes after the
   page's upright lines, one Line per rotated text line; diagonal text (watermarks) is dropped.
6. Text: words as printed, single spaces, ligatures expanded (ﬁ -> fi), U+2010/U+2011 hyphens
   written as "-", line-end hyphenation kept ("long-" stays at the end of its line).
7. Sections: numbered headings (FDA "V.", "D.", "1.", "a."; ICH "3.2.1"; "APPENDIX A", "ANNEX I")
   in bold, larger type or (roman level) capitals; the table of contents and the cover never
   make sections. Levels come from the order in which numbering styles appear (a style seen
   before is the same level again; a new style nests deeper; "1.2" always nests under "1.").
   Bold multi-line headings are joined; a bold or italic paragraph is not a heading. In a
   numbered scheme, short bold unnumbered lines ("References", "Glossary" at the top level) are
   leaf sections; boxed/table cells never are. Headings carry the path they start.
8. Metadata from the cover: title (display-size lines, "Guidance for Industry" boilerplate
   removed), status (draft if the cover or running header says so, ICH Step 2), date ("July
   2018"), issuing centres (CDER, CBER, ...; "ICH" for ICH guidelines), sha256, pages.

The passes, in the order `_build_document` runs them, each over the one page model in
`model.py` (`Page`, `Row`, `Word`; every field names the pass that sets it):

  1. read.read_pages            file -> Page.words, .rules, .vrules
  2. model.body_size            Page.words -> the body type size every size test is relative to
  3. margin.take_line_numbers   Page.words -> Page.margin (numbered drafts), Page.words without them
  4. rows.make_rows             Page.words -> Page.rows (scripts, columns, rotated text)
  5. margin.number_rows         Page.margin -> Row.line
  6. running.strip_headers_footers  edge rows -> Row.drop, Page.label
  7. footnotes.mark_contents_pages  Page.rows -> Page.toc
  8. footnotes.mark_footnotes   page foot -> Row.kind (footnote), Row.footnote
  9. sections.assign_sections   headings -> Row.section, Row.heading, Row.kind (heading)
 10. cover.fill_metadata        cover rows -> Document.title, .status, .date, .center
 11. _lines                     rows -> Document.lines

Bad input raises ParseError(path, reason): encrypted, not a readable PDF (...), zero pages,
no text layer. `parse_pdf_details` also returns every printed margin number per page.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ...documents import (
    KIND_FOOTNOTE,
    LINE_KIND_COMPUTED,
    LINE_KIND_PRINTED,
    Document,
    Line,
    ParseError,
    bounded,
)
from . import cover, footnotes, margin, rows, running, sections
from .model import Page, body_size
from .read import CID_MAX_SHARE, NO_UNICODE_MAP, read_pages, unmapped_share

__all__ = ["CID_MAX_SHARE", "NO_UNICODE_MAP", "parse_pdf", "parse_pdf_details"]


def parse_pdf(path: Path) -> Document:
    """Parse one guidance PDF. Raises ParseError (never a traceback) for bad input."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    if b"%PDF" not in data[:1024]:
        raise ParseError(str(path), "not a readable PDF (no PDF header)")

    return parse_pdf_details(path, data)[0]


def parse_pdf_details(path: Path, data: bytes | None = None) -> tuple[Document, dict[int, list[int]]]:
    """`parse_pdf` plus every printed margin number per physical page, blank numbered lines
    included (they produce no Line). For diagnostics and tests."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParseError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    sha = hashlib.sha256(data).hexdigest()
    pages, meta = read_pages(path)
    if not pages:
        raise ParseError(str(path), "not a readable PDF (it has zero pages)")
    if not any(p.words for p in pages):
        raise ParseError(str(path), "no text layer (scanned?); OCR it first")
    if unmapped_share(pages) > CID_MAX_SHARE:
        raise ParseError(str(path), NO_UNICODE_MAP)

    try:
        doc = _build_document(path, sha, pages, meta)
    except ParseError:
        raise
    except Exception as exc:  # a layout we did not foresee must not crash ingestion
        raise ParseError(str(path), f"not a readable PDF (layout analysis failed: {type(exc).__name__}: {exc})") from None
    return bounded(doc), {p.number: [m[0] for m in p.margin] for p in pages if p.margin}


def _build_document(path: Path, sha: str, pages: list[Page], meta: dict) -> Document:
    """Run the layout passes in order (see the module docstring) and assemble the Document."""
    size = body_size(pages)
    numbered = margin.take_line_numbers(pages, size)
    rows.make_rows(pages, columns=not numbered)  # numbered drafts are single-column
    if numbered:
        margin.number_rows(pages)
    draft_header = running.strip_headers_footers(pages)
    footnotes.mark_contents_pages(pages)
    footnotes.mark_footnotes(pages, size)
    sections.assign_sections(pages, size)

    doc = Document(doc=path.name, source_type="pdf", sha256=sha, pages=len(pages))
    doc.line_kind = LINE_KIND_PRINTED if numbered else LINE_KIND_COMPUTED
    cover.fill_metadata(doc, pages, meta, draft_header, size)
    doc.lines = _lines(pages)
    return doc


def _lines(pages: list[Page]) -> list[Line]:
    """Pass 11: one Line per kept row. Reads every Row field. A footnote's continuation rows
    carry the number of the footnote they continue (sets `Row.footnote` for them)."""
    lines: list[Line] = []
    last_footnote: int | None = None
    for page in pages:
        n = 0
        for row in page.rows:
            if row.drop or not row.text:
                continue
            n += 1
            if row.kind == KIND_FOOTNOTE:
                if row.footnote is not None:
                    last_footnote = row.footnote
                else:
                    row.footnote = last_footnote
            lines.append(
                Line(
                    page=page.number,
                    page_label=page.label,
                    line=row.line if row.kind != KIND_FOOTNOTE else None,
                    line_on_page=n,
                    kind=row.kind,
                    section=row.section,
                    text=row.text,
                    footnote=row.footnote if row.kind == KIND_FOOTNOTE else None,
                )
            )
    return lines
