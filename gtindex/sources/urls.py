"""Guidance URLs and the file names they become: what `gtindex fetch` reads from pages and URL lists.

Pages' links are resolved against the page URL or `<base>` and sorted into documents (`.pdf`
paths, FDA's `/media/<id>/download`), FDA guidance landing pages and ignored links; a URL list is
one URL per line with `#` comments. A name for a download (from Content-Disposition or the URL) is
reduced to a safe ASCII basename ending in `.pdf`, so nothing is written outside the corpus folder.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

from ..errors import GtindexError

MAX_NAME_STEM = 120  # far below any filesystem's 255-byte limit, room for "-2" suffixes
# Longest name looked up in a mirror folder or taken from a ledger: longer ones cannot exist
# on any common filesystem (255 bytes) and make os.stat fail with "File name too long".
MAX_LOOKUP_NAME_BYTES = 255

KIND_DOCUMENT = "document"
KIND_GUIDANCE_PAGE = "guidance-page"
WEB_SCHEMES = ("http", "https")
# Links on a page that can never be a document; reported as ignored, not as failures.
NON_DOCUMENT_SCHEMES = {"mailto", "javascript", "tel", "sms", "data"}

# FDA serves guidance PDFs as /media/<id>/download; matched by path so mirrors and test servers work.
_MEDIA_DOWNLOAD = re.compile(r"^/media/(\d+)/download/?$")
_GUIDANCE_PAGE = re.compile(r"/search-fda-guidance-documents/[^/]+/?$")
# What quote() must leave alone in an already-formed URL (reserved characters and escapes).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}


def normalize_url(url: str) -> str:
    """Trim, drop the fragment, and percent-encode what http.client refuses (spaces, controls)."""
    url = re.sub(r"[\t\n\r]", "", url.strip())  # browsers drop these inside href values too
    url, _fragment = urldefrag(url)
    return quote(url, safe=_URL_SAFE)


def classify_link(url: str) -> str | None:
    """KIND_DOCUMENT, KIND_GUIDANCE_PAGE, or None for a link that is neither."""
    path = unquote(urlsplit(url).path).lower()
    if path.endswith(".pdf") or _MEDIA_DOWNLOAD.match(path):
        return KIND_DOCUMENT
    if _GUIDANCE_PAGE.search(path):
        return KIND_GUIDANCE_PAGE
    return None


@dataclass
class PageLinks:
    documents: list[str] = field(default_factory=list)
    guidance_pages: list[str] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)  # {url, reason}


def links_from_page(html: bytes, page_url: str | None) -> PageLinks:
    """Sort a page's links into documents, guidance landing pages and ignored links.

    Relative links resolve against `<base href>` (itself relative to the page URL) or the page URL;
    a local file without either cannot resolve them, so they are ignored with that reason.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")  # bytes in: bs4 honours <meta charset>, e.g. cp1252 pages
    base = _page_base(soup, page_url)
    links = PageLinks()
    seen: set[str] = set()
    for anchor in soup.find_all("a", href=True):
        href = normalize_url(str(anchor["href"]))
        if not href or href in seen:
            continue  # empty or in-page "#anchor" links point at nothing to fetch
        seen.add(href)
        _sort_link(urljoin(base, href) if base else href, links)
    return links


def _page_base(soup, page_url: str | None) -> str | None:
    base_tag = soup.find("base", href=True)
    base = urljoin(page_url or "", normalize_url(str(base_tag["href"]))) if base_tag else page_url
    return base if base and urlsplit(base).scheme else None


def _sort_link(url: str, links: PageLinks) -> None:
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        links.ignored.append({"url": url, "reason": "relative link, and the page has no URL or <base> to resolve it"})
        return
    if scheme in NON_DOCUMENT_SCHEMES:
        links.ignored.append({"url": url, "reason": f"{scheme}: link"})
        return
    kind = classify_link(url)
    if kind == KIND_DOCUMENT:
        links.documents.append(url)
    elif kind == KIND_GUIDANCE_PAGE:
        links.guidance_pages.append(url)
    else:
        links.ignored.append({"url": url, "reason": "not a guidance document (.pdf or /media/<id>/download)"})


def read_url_list(path: Path) -> list[str]:
    """URLs from a list file: one per line; blank lines and `#` comments (whole-line or after a space) skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GtindexError(f"{path}: cannot read the URL list ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise GtindexError(f"{path}: the URL list is not UTF-8 text; save it as UTF-8") from None
    urls = []
    for line in text.splitlines():
        # "#" only starts a comment at line start or after whitespace: URLs may contain "#".
        entry = re.split(r"\s#", line, maxsplit=1)[0].strip()
        if entry and not entry.startswith("#"):
            urls.append(normalize_url(entry))
    return urls


# ---------------------------------------------------------------- file names


def safe_filename(raw: str) -> str | None:
    """A basename that is safe to create inside the corpus folder and ends in `.pdf`.

    Keeps only the last path component (either slash, after Unicode folding, so "..／x" cannot
    sneak through), ASCII letters, digits, '.', '_' and '-', no '..', no leading dot, length-capped.
    Returns None when nothing usable is left.
    """
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    stem = _UNSAFE_NAME_CHARS.sub("-", stem)
    stem = re.sub(r"\.{2,}", ".", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip("._-")
    stem = stem[:MAX_NAME_STEM].rstrip("._-")
    if not any(char.isalnum() for char in stem):
        return None
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"doc-{stem}"
    return f"{stem}.pdf"


def url_basename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _media_name(url: str) -> str | None:
    match = _MEDIA_DOWNLOAD.match(urlsplit(url).path)
    return f"fda-media-{match.group(1)}.pdf" if match else None


def name_candidates(url: str, header_name: str | None = None) -> list[str]:
    """Safe names for a download, best first: Content-Disposition, URL `.pdf` name, FDA media id, last segment."""
    basename = url_basename(url)
    raw = [header_name, basename if basename.lower().endswith(".pdf") else None, _media_name(url), basename]
    names = [safe_filename(item) for item in raw if item]
    return list(dict.fromkeys(name for name in names if name))


def name_fits(name: str) -> bool:
    """Whether a name can exist on a common filesystem (longer ones make os.stat fail)."""
    return len(name.encode("utf-8", "surrogateescape")) <= MAX_LOOKUP_NAME_BYTES
