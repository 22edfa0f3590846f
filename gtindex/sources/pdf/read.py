"""Pass 1, read: the PDF file -> `Page`s with their words (font size and name), horizontal and
vertical rules. Diagonal text (watermarks) is dropped; text turned by 90 degrees is read in its
own direction. Sets `Page.words`, `Page.rules`, `Page.vrules`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from ...documents import ParseError
from .model import Page, Word


_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00a0": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u200b": "",
        "\ufeff": "",
    }
)


# pdfminer writes a glyph it cannot map to a character (a font without a ToUnicode map, e.g.
# Identity-H with no embedded cmap) as "(cid:42)". A document where more than this share of
# the glyphs are such ids has no text worth indexing: nothing in it would match a query.
_CID_RE = re.compile(r"\(cid:\d+\)")


CID_MAX_SHARE = 0.5


NO_UNICODE_MAP = "no usable text layer (fonts without a Unicode map); OCR it first"


RULE_MAX_THICKNESS = 2.0  # points: a line or rectangle at most this thick (in y for horizontal, x for vertical) is a rule
RULE_MIN_LENGTH = 30  # points: a shorter horizontal stroke is not a rule (a dash, a bullet)
VRULE_MIN_LENGTH = 2.0  # points: a shorter vertical stroke is not a rule
BOX_MIN_WIDTH = 20  # points: a stroked rectangle at least this wide...
BOX_MIN_HEIGHT = 10  # ...and this tall is a box whose sides are borders; smaller is a glyph or a tick box
ROTATED_CHARS_LINE_TOL = 1.5  # points: rotated characters whose centres are this close are one line...
ROTATED_CHARS_LINE_SHARE = 0.3  # ...or this share of the character's size, if that is more
ROTATED_WORD_GAP = 0.2  # share of type size: a larger gap between rotated characters starts a new word
ROTATED_DEFAULT_SIZE = 10  # points: the type size assumed for a rotated character that has none


def unmapped_share(pages: list[Page]) -> float:
    """Share of the document's glyphs that pdfminer could only give as "(cid:N)"."""
    glyphs = unmapped = 0
    for page in pages:
        for word in page.words:
            ids = _CID_RE.findall(word.text)
            unmapped += len(ids)
            glyphs += len(word.text) - sum(map(len, ids)) + len(ids)
    return unmapped / glyphs if glyphs else 0.0


def read_pages(path: Path) -> tuple[list[Page], dict]:
    import pdfplumber  # imported lazily: the query path never needs it

    try:
        from pdfminer.pdfdocument import PDFPasswordIncorrect
    except Exception:  # pragma: no cover - very old pdfminer
        PDFPasswordIncorrect = ()  # type: ignore[assignment]
    try:
        from pdfplumber.utils.exceptions import PdfminerException
    except Exception:  # pragma: no cover
        PdfminerException = ()  # type: ignore[assignment]

    pages: list[Page] = []
    try:
        # The file is ours to close: pdfplumber's close() builds every page again, through the
        # box checks _plumber_pages is there to avoid.
        with open(path, "rb") as stream:
            pdf = pdfplumber.open(stream)
            meta = dict(pdf.metadata or {})
            for index, page in enumerate(_plumber_pages(pdf)):
                pages.append(_read_page(page, index + 1))
    except Exception as exc:
        cause = exc
        if PdfminerException and isinstance(exc, PdfminerException) and exc.args and isinstance(exc.args[0], Exception):
            cause = exc.args[0]
        if isinstance(cause, MemoryError):  # a stream inflating to gigabytes: the worker's memory limit says so
            raise MemoryError from None
        if (PDFPasswordIncorrect and isinstance(cause, PDFPasswordIncorrect)) or "password" in str(cause).lower() or type(cause).__name__ == "PDFPasswordIncorrect":
            raise ParseError(str(path), "encrypted PDF; ask for an unlocked copy") from None
        if type(cause).__name__ in ("PDFEncryptionError", "PDFEncryptionWarning"):
            raise ParseError(str(path), "encrypted PDF; ask for an unlocked copy") from None
        detail = str(cause).strip().splitlines()[0][:120] if str(cause).strip() else ""
        reason = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
        raise ParseError(str(path), f"not a readable PDF ({reason})") from None
    return pages, meta


US_LETTER = (0.0, 0.0, 612.0, 792.0)  # points; what pdfminer gives a page whose /MediaBox is missing
_OTHER_BOXES = ("TrimBox", "BleedBox", "ArtBox")


def _plumber_pages(pdf):
    """`pdf.pages`, one at a time, each page's geometry as pdfminer reads it: a /MediaBox that
    is missing or malformed (or empty) is US Letter, and a bad /CropBox is the media box.
    pdfplumber raised TypeError or IndexError on them, skipping the whole file."""
    import numbers

    from pdfminer.pdfpage import PDFPage
    from pdfplumber.page import Page as PlumberPage

    for number, page in enumerate(PDFPage.create_pages(pdf.doc), 1):
        x0, y0, x1, y1 = page.mediabox
        if x0 == x1 or y0 == y1:  # an empty box shows nothing: read it as a missing one
            page.mediabox = page.cropbox = US_LETTER
        page.attrs["MediaBox"] = list(page.mediabox)
        page.attrs["CropBox"] = list(page.cropbox)
        page.attrs["Rotate"] = page.rotate
        for name in _OTHER_BOXES:  # unused here; pdfplumber reads them all the same
            box = page.attrs.get(name)
            if not (isinstance(box, list) and len(box) == 4 and all(isinstance(x, numbers.Number) for x in box)):
                page.attrs.pop(name, None)
        yield PlumberPage(pdf, page, page_number=number)


def _read_page(page, number: int) -> Page:
    width, height = float(page.width), float(page.height)
    box = tuple(map(float, page.bbox))
    page = page.filter(lambda obj: _not_diagonal(obj) and _seen(obj, box))
    raw = page.extract_words(
        extra_attrs=["size", "fontname"], keep_blank_chars=False, use_text_flow=False
    )
    words: list[Word] = []
    for w in raw:
        text = _clean_word(w["text"])
        if not text:
            continue
        words.append(
            Word(
                text=text,
                x0=float(w["x0"]),
                x1=float(w["x1"]),
                top=float(w["top"]),
                bottom=float(w["bottom"]),
                size=round(float(w.get("size") or 0.0), 2),
                font=str(w.get("fontname") or "").split("+")[-1],
                upright=bool(w.get("upright", True)),
            )
        )
    if any(not w.upright for w in words):
        words = [w for w in words if w.upright] + _rotated_words(page)
    rules: list[tuple[float, float, float]] = []
    vrules: list[tuple[float, float, float]] = []
    for obj in list(page.lines) + list(page.rects):
        x0, x1, top, bottom = float(obj["x0"]), float(obj["x1"]), float(obj["top"]), float(obj["bottom"])
        if bottom - top <= RULE_MAX_THICKNESS and x1 - x0 >= RULE_MIN_LENGTH:
            rules.append(((top + bottom) / 2, x0, x1))
        elif x1 - x0 <= RULE_MAX_THICKNESS and bottom - top >= VRULE_MIN_LENGTH:
            vrules.append(((x0 + x1) / 2, top, bottom))
        elif obj.get("object_type") == "rect" and obj.get("stroke") and x1 - x0 > BOX_MIN_WIDTH and bottom - top > BOX_MIN_HEIGHT:
            vrules.append((x0, top, bottom))  # a stroked box: its sides are cell/box borders
            vrules.append((x1, top, bottom))
    return Page(number, width, height, words, rules, vrules)


# Text drawn at an angle that is not a multiple of 90 degrees is a watermark ("DRAFT" across
# the page); pdfplumber calls such characters upright and they would join body lines.
DIAGONAL_MIN_DEGREES = 5.0
MIN_SEEN_SIZE = 1.0  # pt: below this no one reads it (hidden text is set at 0 pt); footnote type is 7-8
OFF_PAGE_SLACK = 2.0  # pt a glyph may overhang the page box (a descender at the very edge)


def _seen(obj, box: tuple[float, float, float, float]) -> bool:
    """A reader sees the character: drawn at a size one can read (not 0 pt, a common way to
    hide text) and inside the page's box. Hidden text counted in a page's lines would move
    every computed line number below it."""
    if obj.get("object_type") != "char":
        return True
    x0, top, x1, bottom = box
    inside = (obj["x0"] >= x0 - OFF_PAGE_SLACK and obj["x1"] <= x1 + OFF_PAGE_SLACK
              and obj["top"] >= top - OFF_PAGE_SLACK and obj["bottom"] <= bottom + OFF_PAGE_SLACK)
    return inside and float(obj.get("size") or 0.0) >= MIN_SEEN_SIZE


def _not_diagonal(obj) -> bool:
    if obj.get("object_type") != "char":
        return True
    a, b = obj["matrix"][:2]  # the text direction; shear (oblique type) is in c, not here
    angle = math.degrees(math.atan2(b, a)) % 90
    return angle < DIAGONAL_MIN_DEGREES or angle > 90 - DIAGONAL_MIN_DEGREES


def _rotated_words(page) -> list[Word]:
    """Words of text turned by 90 degrees, read in their own direction (pdfplumber's word
    grouping reads vertical text top-down only)."""
    chars = [c for c in page.chars if not c.get("upright", True)]
    lines: list[list[dict]] = []
    for c in sorted(chars, key=lambda c: (c["x0"] + c["x1"]) / 2):
        cx = (c["x0"] + c["x1"]) / 2
        if lines and abs(cx - (lines[-1][0]["x0"] + lines[-1][0]["x1"]) / 2) <= max(ROTATED_CHARS_LINE_TOL, ROTATED_CHARS_LINE_SHARE * float(c.get("size") or 0)):
            lines[-1].append(c)
        else:
            lines.append([c])
    words: list[Word] = []
    for line in lines:
        matrix = line[0].get("matrix") or (1, 0, 0, 1, 0, 0)
        upward = matrix[1] > 0  # text runs up the page: read bottom to top
        line.sort(key=lambda c: -c["top"] if upward else c["top"])
        current: list[dict] = []

        def flush():
            text = _clean_word("".join(c["text"] for c in current))
            if text:
                words.append(
                    Word(
                        text=text,
                        x0=min(c["x0"] for c in current),
                        x1=max(c["x1"] for c in current),
                        top=min(c["top"] for c in current),
                        bottom=max(c["bottom"] for c in current),
                        size=round(float(current[0].get("size") or 0.0), 2),
                        font=str(current[0].get("fontname") or "").split("+")[-1],
                        upright=False,
                    )
                )
            current.clear()

        for c in line:
            if c["text"].isspace():
                flush()
                continue
            if current:
                prev = current[-1]
                gap = (prev["top"] - c["bottom"]) if upward else (c["top"] - prev["bottom"])
                if gap > ROTATED_WORD_GAP * float(c.get("size") or ROTATED_DEFAULT_SIZE):
                    flush()
            current.append(c)
        flush()
    return words


def _clean_word(text: str) -> str:
    text = text.translate(_LIGATURES)
    if "\u00ad" in text:
        text = text[:-1].replace("\u00ad", "") + ("-" if text.endswith("\u00ad") else text[-1])
    return text.strip()
