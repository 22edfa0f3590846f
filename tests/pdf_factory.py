"""Small guidance-like PDFs for tests, drawn with reportlab.

Usage::

    from pdf_factory import Page, Heading, Text, Blank, Footnote, TwoColumns, Table, Rotated, make_pdf

    make_pdf(tmp_path / "x.pdf", [
        Page(label=None, items=[Text("Cover Title", size=24, bold=True)], numbered=False),
        Page(label="1", items=[Heading("I. INTRODUCTION"), Blank(), Text("A product^1 line.")],
             footnotes=[Footnote(1, "The footnote text.")]),
    ], numbered=True, draft=True)

Conventions (what a real FDA guidance looks like):
- Letter size (612 x 792 pt); body text Times-Roman 12 pt from x=72, 13.8 pt line pitch.
- `numbered=True` prints a line number right-aligned at x=54 (10 pt) beside every `Text`,
  `Heading` and `Blank` line of pages whose `Page.numbered` is true, counting continuously.
- Running header "Contains Nonbinding Recommendations" (+ "Draft — Not for Implementation"
  when `draft=True`) on pages with `Page.header=True`; `Page.label` is printed centred at the foot.
- In `Text`, "word^12" draws "12" as a superscript marker (8 pt, raised 5 pt) after "word".
- `Footnote`s are drawn under a short rule at the page foot in 10 pt, each starting with a
  raised 6.5 pt number.
- `TwoColumns(left, right)` draws two columns of lines side by side (x=72 and x=324).
- `Table(rows)` draws a ruled grid; each cell is one line of text.
- `Rotated(text)` draws text turned 90 degrees at the right edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

PITCH = 13.8
LEFT = 72.0
NUMBER_RIGHT = 54.0
TOP = 94.0  # baseline of the first body line (distance from the top edge)


@dataclass
class Text:
    text: str
    size: float = 12.0
    bold: bool = False
    italic: bool = False
    indent: float = 0.0


@dataclass
class Heading(Text):
    bold: bool = True


@dataclass
class Blank:
    pass


@dataclass
class Footnote:
    number: int
    text: str  # may hold several lines separated by "\n"


@dataclass
class TwoColumns:
    left: list[str]
    right: list[str]


@dataclass
class Table:
    rows: list[list[str]]
    col_width: float = 150.0


@dataclass
class Rotated:
    text: str


@dataclass
class Page:
    items: list = field(default_factory=list)
    label: str | None = None
    numbered: bool = True
    header: bool = True
    footnotes: list[Footnote] = field(default_factory=list)


def _font(bold: bool, italic: bool) -> str:
    if bold and italic:
        return "Times-BoldItalic"
    if bold:
        return "Times-Bold"
    if italic:
        return "Times-Italic"
    return "Times-Roman"


def _draw_text_with_markers(c: canvas.Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    """Draw text; "word^12" puts a raised small "12" after "word"."""
    parts = text.split("^")
    c.setFont(font, size)
    c.drawString(x, y, parts[0])
    x += c.stringWidth(parts[0], font, size)
    for part in parts[1:]:
        digits = ""
        while part and (part[0].isdigit() or part[0] == ","):
            digits += part[0]
            part = part[1:]
        c.setFont("Times-Roman", 8)
        c.drawString(x, y + 5, digits)
        x += c.stringWidth(digits, "Times-Roman", 8)
        c.setFont(font, size)
        c.drawString(x, y, part)
        x += c.stringWidth(part, font, size)


def make_pdf(
    path: Path,
    pages: list[Page],
    *,
    numbered: bool = False,
    draft: bool = False,
    title: str = "",
    metadata_title: str | None = None,
    restart_each_page: bool = False,
) -> Path:
    """Write `pages` to `path` and return the path (`restart_each_page`: numbers start again
    at 1 on every numbered page, as some guidances print them)."""
    path = Path(path)
    width, height = letter
    c = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    if metadata_title is not None:
        c.setTitle(metadata_title)
    number = 0

    def ypos(top_offset: float) -> float:
        return height - top_offset

    for page in pages:
        if restart_each_page:
            number = 0
        if page.header:
            c.setFont("Times-BoldItalic", 12)
            c.drawCentredString(width / 2, ypos(50), "Contains Nonbinding Recommendations")
            if draft:
                c.setFont("Times-Italic", 10)
                c.drawCentredString(width / 2, ypos(63), "Draft \u2014 Not for Implementation")
        y = TOP
        for item in page.items:
            if isinstance(item, (Text, Heading, Blank)):
                if numbered and page.numbered:
                    number += 1
                    c.setFont("Times-Roman", 10)
                    c.drawRightString(NUMBER_RIGHT, ypos(y), str(number))
                if isinstance(item, Text):
                    _draw_text_with_markers(c, LEFT + item.indent, ypos(y), item.text, _font(item.bold, item.italic), item.size)
                y += max(PITCH, item.size * 1.15) if isinstance(item, Text) else PITCH
            elif isinstance(item, TwoColumns):
                for k in range(max(len(item.left), len(item.right))):
                    c.setFont("Times-Roman", 11)
                    if k < len(item.left):
                        c.drawString(LEFT, ypos(y), item.left[k])
                    if k < len(item.right):
                        c.drawString(324, ypos(y), item.right[k])
                    y += 13.0
            elif isinstance(item, Table):
                top = y - 11
                row_h = 18.0
                ncols = max(len(r) for r in item.rows)
                for r, row in enumerate(item.rows):
                    for k, cell in enumerate(row):
                        c.setFont("Times-Bold" if r == 0 else "Times-Roman", 10)
                        c.drawString(LEFT + 4 + k * item.col_width, ypos(top + r * row_h + 13), cell)
                c.setLineWidth(0.5)
                for r in range(len(item.rows) + 1):
                    c.line(LEFT, ypos(top + r * row_h), LEFT + ncols * item.col_width, ypos(top + r * row_h))
                for k in range(ncols + 1):
                    c.line(LEFT + k * item.col_width, ypos(top), LEFT + k * item.col_width, ypos(top + len(item.rows) * row_h))
                y = top + len(item.rows) * row_h + 11 + 6
            elif isinstance(item, Rotated):
                c.saveState()
                c.translate(width - 40, ypos(600))
                c.rotate(90)
                c.setFont("Times-Roman", 10)
                c.drawString(0, 0, item.text)
                c.restoreState()
        if page.footnotes:
            lines = sum(len(f.text.split("\n")) for f in page.footnotes)
            fy = height - 72 - lines * 11.5 - 8
            c.setLineWidth(0.5)
            c.line(LEFT, ypos(fy - 10), LEFT + 144, ypos(fy - 10))
            for fn in page.footnotes:
                for k, text in enumerate(fn.text.split("\n")):
                    if k == 0:
                        c.setFont("Times-Roman", 6.5)
                        c.drawString(LEFT, ypos(fy) + 4, str(fn.number))
                        c.setFont("Times-Roman", 10)
                        c.drawString(LEFT + 6, ypos(fy), text)
                    else:
                        c.setFont("Times-Roman", 10)
                        c.drawString(LEFT, ypos(fy), text)
                    fy += 11.5
        if page.label is not None:
            c.setFont("Times-Roman", 10)
            c.drawCentredString(width / 2, ypos(758), page.label)
        c.showPage()
    c.save()
    return path


def make_encrypted_pdf(path: Path, password: str = "secret") -> Path:
    """A one-page PDF that needs a user password to open."""
    from reportlab.lib import pdfencrypt

    enc = pdfencrypt.StandardEncryption(password, ownerPassword=password + "-owner", strength=128)
    c = canvas.Canvas(str(path), pagesize=letter, encrypt=enc)
    c.setFont("Times-Roman", 12)
    c.drawString(72, 700, "Secret guidance text.")
    c.showPage()
    c.save()
    return Path(path)


def make_image_only_pdf(path: Path) -> Path:
    """A PDF whose pages carry only drawings (no text layer), like a scan."""
    c = canvas.Canvas(str(path), pagesize=letter)
    for _ in range(2):
        c.rect(72, 300, 400, 300, fill=1)
        c.showPage()
    c.save()
    return Path(path)


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A hand-written PDF file from its objects (1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
