"""Web page → Document: the page's content as numbered paragraphs under its headings.

Resource pages are cited by paragraph: every paragraph, list item, definition item,
layout-table row and heading of the page's *content* becomes one `Line`, numbered
1..N in reading order. Site chrome (navigation, header, footer, breadcrumbs, cookie
banners, forms, hidden and script content) is dropped so that it is neither indexed
nor counted. Links are kept with their section: a resource page's guidance list is
how new guidances are found later.
"""
from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.dammit import EncodingDetector
from bs4.element import PreformattedString

from ..documents import (
    KIND_BODY,
    KIND_HEADING,
    LINE_KIND_PARAGRAPH,
    SECTION_SEPARATOR,
    Document,
    Line,
    Link,
    MAX_SECTION_CHARS,
    ParseError,
    bounded,
    clip,
)

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

# Elements that start a new line of text; everything else is inline.
BLOCKS = HEADINGS | {
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre",
    "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
BLOCK_NAMES = sorted(BLOCKS)

# Never content, wherever they appear.
NON_CONTENT_TAGS = [
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
    "form", "button", "input", "select", "textarea", "nav", "menu", "dialog", "head",
]
NON_CONTENT_ROLES = {
    "navigation", "banner", "contentinfo", "search", "menu", "menubar", "dialog", "alertdialog",
    "toolbar",
}
HIDDEN_CLASSES = {
    "hidden", "hide", "d-none", "is-hidden", "sr-only", "visually-hidden",
    "visually-hidden-focusable", "visuallyhidden", "screen-reader-text",
}
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Words in class/id values that mark site chrome ("main-nav", "breadcrumb", "cookie-banner").
CHROME_WORDS = {
    "nav", "navbar", "navigation", "menu", "menubar", "breadcrumb", "breadcrumbs", "cookie",
    "cookies", "consent", "gdpr", "skip", "skiplink", "social", "share", "sharing", "footer",
    "sidebar", "masthead", "pagination", "pager", "toolbar",
}
# An element is only dropped for its class/id if it holds less than this share of the
# content's text: a wrapper like <div class="has-sidebar"> around the whole page stays.
CHROME_MAX_TEXT_SHARE = 0.5
# Without <main>/<article>, the content is the smallest ancestor of the first <h1>
# holding at least this share of the page's text (old table layouts).
CONTENT_MIN_TEXT_SHARE = 0.5

# WHATWG: pages labelled Latin-1 or ASCII are decoded as windows-1252 by every browser.
ENCODING_ALIASES = {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252"}
HTML_TAG = re.compile(
    r"<\s*(?:!doctype\s+html|html|head|body|title|meta|p|div|span|table|h[1-6]|ul|ol|li|a|br|"
    r"section|main|article)[\s>/]",
    re.IGNORECASE,
)
BULLET = re.compile(r"^[•◦▪▫■□●○‣⁃·]\s*")
WHITESPACE = re.compile(r"\s+")
# " | Site", " – Site", " - Site" suffixes of <title>; the first match wins.
TITLE_SUFFIX_SEPARATORS = [" | ", " :: ", " – ", " — ", " - "]
SKIPPED_LINK_SCHEMES = ("javascript:", "mailto:", "tel:", "data:")


def parse_html(path: Path) -> Document:
    """Parse one saved web page into a Document of numbered paragraphs."""
    path = Path(path)
    data = path.read_bytes()
    text = decode_html(data, str(path))
    soup = BeautifulSoup(text, "lxml")
    base_url = _base_url(soup)
    title = page_title(soup)
    _remove_invisible(soup)
    root = content_root(soup)
    _remove_chrome(root)
    extractor = _Extractor(base_url)
    try:
        extractor.block(root)
    except RecursionError:  # the walk recurses once per nesting level; real pages need ~30
        raise ParseError(str(path), "not a readable HTML page: elements nested too deeply") from None
    extractor.flush()
    if not extractor.lines:
        raise ParseError(str(path), "no readable text in this HTML page")
    return bounded(Document(
        doc=path.name,
        source_type="html",
        sha256=hashlib.sha256(data).hexdigest(),
        title=title or _first_heading(extractor.lines) or path.stem,
        pages=1,
        line_kind=LINE_KIND_PARAGRAPH,
        lines=extractor.lines,
        links=extractor.links,
    ))


# ----------------------------------------------------------------------------- decoding


def decode_html(data: bytes, name: str) -> str:
    """Bytes → text by BOM, then declared charset, then UTF-8, then charset-normalizer.

    Raises ParseError for empty, binary or undecodable content and for text without markup.
    """
    if not data.strip():
        raise ParseError(name, "empty file")
    bom_encoding = _bom_encoding(data)
    if bom_encoding is None and b"\x00" in data[:4096]:
        raise ParseError(name, "not an HTML page: binary content (undecodable)")
    candidates = [bom_encoding] if bom_encoding else [_declared_encoding(data), "utf-8"]
    text = _decode_first(data, candidates)
    if text is None:
        text = _detect_and_decode(data)
    if text is None:
        raise ParseError(name, "not an HTML page: undecodable text in any known encoding")
    if not HTML_TAG.search(text[:65536]):
        raise ParseError(name, "not an HTML page: no HTML markup found")
    return text


def _bom_encoding(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _declared_encoding(data: bytes) -> str | None:
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if not declared:
        return None
    try:
        info = codecs.lookup(declared)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: codecs, but not for text
        return None
    name = info.name
    if name.startswith("utf-16"):  # a page that could declare it is not UTF-16 (WHATWG)
        return "utf-8"
    return ENCODING_ALIASES.get(name, name)


def _decode_first(data: bytes, encodings: list[str | None]) -> str | None:
    for encoding in encodings:
        if encoding is None:
            continue
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):  # LookupError: a codec that does not decode bytes to text
            continue
    return None


def _detect_and_decode(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best is not None else None


# ----------------------------------------------------------------------------- page structure


def _base_url(soup: BeautifulSoup) -> str | None:
    base = soup.find("base", href=True)
    return base["href"].strip() if base is not None else None


def page_title(soup: BeautifulSoup) -> str:
    """<title> without its site suffix (" | Site"); the first <h1> when there is no <title>."""
    h1 = soup.find("h1")
    h1_text = collapse(h1.get_text(" ")) if h1 is not None else ""
    title_tag = soup.find("title")
    title = collapse(title_tag.get_text(" ")) if title_tag is not None else ""
    if not title:
        return h1_text
    if h1_text and title.startswith(h1_text):
        return h1_text
    for separator in TITLE_SUFFIX_SEPARATORS:
        head, found, _site = title.rpartition(separator)
        if found and head.strip():
            return head.strip()
    return title


def _remove_invisible(soup: BeautifulSoup) -> None:
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(NON_CONTENT_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        if not _is_removed(tag):
            tag.decompose()


def _is_removed(tag: Tag) -> bool:
    # Not `tag.decomposed`: on a live tag that property falls through to Tag.__getattr__,
    # which searches the whole subtree for a child named "_decomposed" (quadratic).
    return tag.__dict__.get("_decomposed", False)


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden", "").strip().lower() == "true":
        return True
    if HIDDEN_STYLE.search(tag.get("style", "")):
        return True
    return bool(HIDDEN_CLASSES.intersection(tag.get("class", [])))


def content_root(soup: BeautifulSoup) -> Tag:
    """<main>, role=main or <article>; else the block around the first <h1>; else <body>."""
    body = soup.body or soup
    for candidate in (body.find("main"), body.find(attrs={"role": "main"}), body.find("article")):
        if candidate is not None and collapse(candidate.get_text(" ")):
            return candidate
    h1 = body.find("h1")
    if h1 is None:
        return body
    page_text = _text_length(body)
    for ancestor in h1.parents:
        if ancestor is body:
            break
        if _text_length(ancestor) >= CONTENT_MIN_TEXT_SHARE * page_text:
            return ancestor
    return body


def _remove_chrome(root: Tag) -> None:
    root_text = _text_length(root)
    for tag in root.find_all(True):
        if _is_removed(tag):  # inside an element removed earlier in this loop
            continue
        if _is_semantic_chrome(tag) or (
            _has_chrome_name(tag) and _text_length(tag) < CHROME_MAX_TEXT_SHARE * root_text
        ):
            tag.decompose()


def _is_semantic_chrome(tag: Tag) -> bool:
    if tag.get("role", "").strip().lower() in NON_CONTENT_ROLES or tag.name == "footer":
        return True
    if tag.name in ("header", "aside"):
        # a <header> inside <article>/<section>/<main> introduces that content; keep it
        return tag.find_parent(["main", "article", "section"]) is None
    return False


def _has_chrome_name(tag: Tag) -> bool:
    names = " ".join(tag.get("class", [])) + " " + tag.get("id", "")
    words = set(re.split(r"[^a-z0-9]+", names.lower()))
    return bool(CHROME_WORDS.intersection(words))


def _text_length(tag: Tag) -> int:
    return len(collapse(tag.get_text(" ")))


def _first_heading(lines: list[Line]) -> str:
    return next((line.text for line in lines if line.kind == KIND_HEADING), "")


def collapse(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


# ----------------------------------------------------------------------------- extraction


@dataclass
class _Extractor:
    """Walks the content tree; inline text between block boundaries becomes one Line."""

    base_url: str | None
    lines: list[Line] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)  # open (level, text)
    parts: list[str] = field(default_factory=list)  # inline text of the line being built

    @property
    def section(self) -> str:
        return SECTION_SEPARATOR.join(text for _level, text in self.headings)

    def block(self, element: Tag) -> None:
        for child in element.children:
            self._visit(child, in_block=True)

    def inline(self, element: Tag) -> None:
        if element.name == "a":
            self._link(element)
        for child in element.children:
            self._visit(child, in_block=False)

    def _visit(self, node, in_block: bool) -> None:
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # doctype, CDATA, processing instr.
                self.parts.append(str(node))
        elif node.name in HEADINGS:
            self.flush()
            self.heading(node)
        elif node.name == "br":
            # a hard break directly in a block starts a new line ("<p>Intro:<br>• item");
            # inside inline markup ("<a>Gene Therapy<br>Newsletter</a>") it is a space
            if in_block:
                self.flush()
            else:
                self.parts.append(" ")
        elif node.name == "table":
            self.flush()
            self.table(node)
        elif node.name in BLOCKS:  # also inside inline markup left open by sloppy pages
            self.flush()
            self.block(node)
            self.flush()
        else:
            self.inline(node)

    def heading(self, element: Tag) -> None:
        text = collapse(element.get_text(" "))
        if not text:
            return
        level = int(element.name[1])
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, clip(text, MAX_SECTION_CHARS)))  # every later line's section holds it
        self._emit(text, KIND_HEADING)
        for anchor in element.find_all("a"):
            self._link(anchor)

    def table(self, table: Tag) -> None:
        """Rows of plain cells read as one line ("1998 | Guidance ..."); cells holding
        paragraphs or nested tables (layout tables) are read as blocks."""
        for child in table.find_all(["caption", "tr"], recursive=True):
            if child.find_parent("table") is not table:
                continue  # belongs to a nested table, handled when that table is reached
            if child.name == "caption":
                self.block(child)
                self.flush()
                continue
            cells = child.find_all(["td", "th"], recursive=False)
            if any(cell.find(BLOCK_NAMES) for cell in cells):
                for cell in cells:
                    self.block(cell)
                    self.flush()
            else:
                for cell in cells:
                    self.inline(cell)
                    self.parts.append(" ")
                self.flush()

    def flush(self) -> None:
        text = BULLET.sub("", collapse("".join(self.parts)))
        self.parts.clear()
        if text:
            self._emit(text, KIND_BODY)

    def _emit(self, text: str, kind: str) -> None:
        number = len(self.lines) + 1
        self.lines.append(
            Line(page=1, page_label=None, line=number, line_on_page=number, kind=kind,
                 section=self.section, text=text)
        )

    def _link(self, anchor: Tag) -> None:
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(SKIPPED_LINK_SCHEMES):
            return
        url = urljoin(self.base_url, href) if self.base_url else href
        self.links.append(Link(text=_link_text(anchor), url=url, section=self.section))


def _link_text(anchor: Tag) -> str:
    text = collapse(anchor.get_text(" "))
    if text:
        return text
    image = anchor.find("img")
    fallback = anchor.get("aria-label") or anchor.get("title") or (image.get("alt") if image else "")
    return collapse(fallback or "")
