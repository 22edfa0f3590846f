"""gtindex fetch: downloads from a local HTTP server on 127.0.0.1 serving the real corpus PDFs and pages.

No traffic leaves 127.0.0.1: links to other hosts are only ever classified, never requested, and
the mirror tests use www.fda.gov URLs that must resolve inside the mirror folder.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import HTML_DIR, PDF_DIR, REPO
from helpers import local_site
from gtindex.cli import main
from gtindex.errors import GtindexError
from gtindex.sources.fetch import LEDGER_NAME, FetchOptions, fetch
from gtindex.sources.transport import HTML_NOT_PDF, MB
from gtindex.sources.urls import (
    KIND_DOCUMENT,
    KIND_GUIDANCE_PAGE,
    classify_link,
    links_from_page,
    read_url_list,
    safe_filename,
)

RESOURCE_PAGE = HTML_DIR / "ngvb-other-helpful-resources.html"
FDA_GUIDANCE_PREFIX = "https://www.fda.gov/regulatory-information/search-fda-guidance-documents/"
LANDING_PREFIX = "/regulatory-information/search-fda-guidance-documents/"
NIH_PDF = "https://osp.od.nih.gov/wp-content/uploads/NIH_Guidelines.pdf"
BIG_PDF = "fda-cvm-gfi214-vich-gl35-electronic-standards-2024.pdf"  # 2.4 MB, over a 1 MB cap
SLOW_SECONDS = 2.5  # the slow handler's delay, longer than the tests' 1 s timeout

# The smallest real PDFs: the resource page's 19 guidance pages and its NIH link map onto these.
SMALL_PDFS = sorted(PDF_DIR.glob("*.pdf"), key=lambda p: p.stat().st_size)[:20]
GUIDANCE_SLUGS = re.findall(re.escape(FDA_GUIDANCE_PREFIX) + r'([^"]+)"', RESOURCE_PAGE.read_text())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class GuidanceSite(BaseHTTPRequestHandler):
    """Routes for every case under test; `hits` counts requests per path (retries are visible)."""

    hits: Counter = Counter()

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.hits[self.path] += 1
        path = self.path
        if path.startswith("/pdf/") and (PDF_DIR / path[5:]).is_file():
            self.send(200, (PDF_DIR / path[5:]).read_bytes(), "application/pdf")
        elif path.startswith("/copy/"):  # the same bytes under a second URL
            self.send(200, (PDF_DIR / path[6:]).read_bytes(), "application/pdf")
        elif path.startswith("/go/"):
            self.send(302, b"", "text/plain", Location=f"/pdf/{path[4:]}")
        elif path == "/redirect-ftp.pdf":
            self.send(302, b"", "text/plain", Location="ftp://127.0.0.1/x.pdf")
        elif m := re.fullmatch(r"/media/(\d+)/download", path):
            pdf = SMALL_PDFS[int(m.group(1))]
            self.send(200, pdf.read_bytes(), "application/pdf",
                      **{"Content-Disposition": f'attachment; filename="{pdf.name}"', "ETag": f'"{m.group(1)}"'})
        elif path.startswith(LANDING_PREFIX):
            index = GUIDANCE_SLUGS.index(path[len(LANDING_PREFIX):])
            html = f'<html><body><main><a href="/media/{index}/download">Download the Guidance</a></main></body></html>'
            self.send(200, html.encode(), "text/html; charset=utf-8")
        elif path == "/resources.html":
            self.send(200, served_resource_page(), "text/html; charset=utf-8")
        elif path == "/evil-name/download":
            self.send(200, SMALL_PDFS[0].read_bytes(), "application/pdf",
                      **{"Content-Disposition": 'attachment; filename="../../evil.pdf"'})
        elif path.endswith("evil-path.pdf"):
            self.send(200, SMALL_PDFS[1].read_bytes(), "application/pdf")
        elif path.endswith("evil-path-2.pdf"):
            self.send(200, SMALL_PDFS[2].read_bytes(), "application/pdf")
        elif path == "/slow.pdf":
            time.sleep(SLOW_SECONDS)
            self.send(200, SMALL_PDFS[0].read_bytes(), "application/pdf")
        elif path == "/flaky.pdf":
            status = 503 if self.hits[path] == 1 else 200
            self.send(status, SMALL_PDFS[3].read_bytes() if status == 200 else b"busy", "application/pdf")
        elif path == "/forbidden.pdf":
            self.send(403, b"no", "text/plain")
        elif path == "/html-as.pdf":
            self.send(200, RESOURCE_PAGE.read_bytes(), "application/pdf")
        elif path == "/html-typed.pdf":
            self.send(200, RESOURCE_PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/big-declared.pdf":
            self.send(200, (PDF_DIR / BIG_PDF).read_bytes(), "application/pdf")
        elif path == "/big-stream.pdf":  # no Content-Length: only the streaming cap can stop it
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.end_headers()
            self.wfile.write(b"%PDF-1.4\n")
            for _ in range(40):
                self.wfile.write(b"0" * (64 * 1024))
        else:
            self.send(404, b"not found", "text/plain")

    def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args):  # keep pytest output clean
        pass


def served_resource_page() -> bytes:
    """The real NGVB resource page, its FDA guidance links made relative so they point at this server."""
    html = RESOURCE_PAGE.read_text(encoding="utf-8")
    html = html.replace(FDA_GUIDANCE_PREFIX, LANDING_PREFIX)
    return html.replace(NIH_PDF, f"/pdf/{SMALL_PDFS[19].name}").encode("utf-8")


@pytest.fixture(scope="module")
def site():
    """Base URL of a threaded HTTP server on 127.0.0.1 with an ephemeral port."""
    with local_site(GuidanceSite) as url:
        yield url


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """A proxy from the environment must not see the test traffic."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def options(corpus: Path, **kwargs) -> FetchOptions:
    defaults = {"timeout": 5.0, "retries": 1, "backoff": 0.05}
    return FetchOptions(corpus=corpus, **{**defaults, **kwargs})


def url_list(tmp_path: Path, *urls: str) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text("\n".join(urls) + "\n")
    return path


def no_leftovers(corpus: Path) -> bool:
    return not list(corpus.glob(".fetch-*"))


# ---------------------------------------------------------------- downloads


def test_download_matches_source_then_second_run_skips_by_url(site, tmp_path):
    corpus = tmp_path / "corpus"
    pdf = SMALL_PDFS[4]
    urls = url_list(tmp_path, f"{site}/pdf/{pdf.name}")

    first = fetch(options(corpus), url_lists=[urls])

    assert [d["file"] for d in first.downloaded] == [pdf.name]
    assert sha256((corpus / pdf.name).read_bytes()) == sha256(pdf.read_bytes()) == first.downloaded[0]["sha256"]
    ledger = json.loads((corpus / LEDGER_NAME).read_text())["urls"]
    assert ledger[f"{site}/pdf/{pdf.name}"]["sha256"] == sha256(pdf.read_bytes())
    assert no_leftovers(corpus)

    GuidanceSite.hits.clear()
    second = fetch(options(corpus), url_lists=[urls])
    assert second.downloaded == [] and second.failed == []
    assert second.skipped == [{"url": f"{site}/pdf/{pdf.name}", "file": pdf.name, "reason": "already fetched"}]
    assert GuidanceSite.hits[f"/pdf/{pdf.name}"] == 0  # skipped without a request


def test_same_content_under_another_url_is_recorded_not_copied(site, tmp_path):
    corpus = tmp_path / "corpus"
    pdf = SMALL_PDFS[5]
    report = fetch(options(corpus), url_lists=[url_list(tmp_path, f"{site}/pdf/{pdf.name}", f"{site}/copy/{pdf.name}")])

    assert [d["file"] for d in report.downloaded] == [pdf.name]
    assert report.skipped == [{"url": f"{site}/copy/{pdf.name}", "file": pdf.name, "reason": f"same content as {pdf.name}"}]
    assert sorted(p.name for p in corpus.glob("*.pdf")) == [pdf.name]
    ledger = json.loads((corpus / LEDGER_NAME).read_text())["urls"]
    assert ledger[f"{site}/copy/{pdf.name}"]["file"] == pdf.name


def test_a_different_file_with_a_taken_name_gets_a_new_name(site, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pdf = SMALL_PDFS[6]
    (corpus / pdf.name).write_bytes(SMALL_PDFS[7].read_bytes())  # same name, other content

    report = fetch(options(corpus), url_lists=[url_list(tmp_path, f"{site}/pdf/{pdf.name}")])

    new_name = pdf.name[:-4] + "-2.pdf"
    assert [d["file"] for d in report.downloaded] == [new_name]
    assert (corpus / new_name).read_bytes() == pdf.read_bytes()
    assert (corpus / pdf.name).read_bytes() == SMALL_PDFS[7].read_bytes()  # never overwritten


def test_redirect_is_followed_and_named_after_the_final_url(site, tmp_path):
    pdf = SMALL_PDFS[8]
    report = fetch(options(tmp_path / "c"), url_lists=[url_list(tmp_path, f"{site}/go/{pdf.name}")])
    assert [d["file"] for d in report.downloaded] == [pdf.name]


def test_http_errors_are_reported_and_4xx_is_not_retried(site, tmp_path):
    corpus = tmp_path / "corpus"
    GuidanceSite.hits.clear()
    report = fetch(options(corpus, retries=2), url_lists=[url_list(tmp_path, f"{site}/missing.pdf", f"{site}/forbidden.pdf")])

    assert report.failed == [
        {"url": f"{site}/missing.pdf", "reason": "HTTP 404 Not Found"},
        {"url": f"{site}/forbidden.pdf", "reason": "HTTP 403 Forbidden"},
    ]
    assert GuidanceSite.hits["/missing.pdf"] == 1 and GuidanceSite.hits["/forbidden.pdf"] == 1
    assert not list(corpus.glob("*.pdf")) and no_leftovers(corpus)


def test_5xx_is_retried(site, tmp_path):
    GuidanceSite.hits.clear()
    report = fetch(options(tmp_path / "c", retries=1), url_lists=[url_list(tmp_path, f"{site}/flaky.pdf")])
    assert [d["file"] for d in report.downloaded] == ["flaky.pdf"]
    assert GuidanceSite.hits["/flaky.pdf"] == 2


def test_timeout_is_retried_then_reported(site, tmp_path):
    corpus = tmp_path / "corpus"
    GuidanceSite.hits.clear()
    report = fetch(options(corpus, timeout=1.0, retries=1), url_lists=[url_list(tmp_path, f"{site}/slow.pdf")])

    assert report.downloaded == []
    assert report.failed == [{"url": f"{site}/slow.pdf", "reason": "timed out after 1 s (after 2 attempts)"}]
    assert GuidanceSite.hits["/slow.pdf"] == 2
    assert not list(corpus.glob("*.pdf")) and no_leftovers(corpus)


@pytest.mark.parametrize("path", ["/html-as.pdf", "/html-typed.pdf"])
def test_html_page_served_as_pdf_is_rejected(site, tmp_path, path):
    corpus = tmp_path / "corpus"
    report = fetch(options(corpus), url_lists=[url_list(tmp_path, site + path)])
    assert report.failed == [{"url": site + path, "reason": HTML_NOT_PDF}]
    assert not list(corpus.glob("*.pdf")) and no_leftovers(corpus)


@pytest.mark.parametrize("path", ["/big-declared.pdf", "/big-stream.pdf"])
def test_file_over_the_size_cap_is_rejected_and_removed(site, tmp_path, path):
    corpus = tmp_path / "corpus"
    report = fetch(options(corpus, max_bytes=1 * MB), url_lists=[url_list(tmp_path, site + path)])

    assert [f["url"] for f in report.failed] == [site + path]
    assert report.failed[0]["reason"].startswith("larger than the size cap")
    assert not list(corpus.glob("*.pdf")) and no_leftovers(corpus)


def test_hostile_names_land_inside_the_corpus_folder(site, tmp_path):
    corpus = tmp_path / "a" / "b" / "corpus"
    urls = url_list(
        tmp_path,
        f"{site}/evil-name/download",  # Content-Disposition: filename="../../evil.pdf"
        f"{site}/docs/..%2F..%2Fevil-path.pdf",  # encoded traversal in the URL path
        f"{site}/a/b/../../../evil-path-2.pdf",  # literal traversal in the URL path
    )
    report = fetch(options(corpus), url_lists=[urls])

    assert report.failed == []
    assert sorted(d["file"] for d in report.downloaded) == ["evil-path-2.pdf", "evil-path.pdf", "evil.pdf"]
    written = [p for p in tmp_path.rglob("*.pdf")]
    assert written and all(p.parent == corpus for p in written)


def test_non_http_schemes_are_rejected_without_a_mirror(tmp_path):
    corpus = tmp_path / "corpus"
    urls = url_list(tmp_path, "ftp://127.0.0.1/guidance.pdf", f"file://{PDF_DIR / SMALL_PDFS[0].name}", "guidance.pdf")
    report = fetch(options(corpus), url_lists=[urls])

    reasons = {f["url"].split(":")[0]: f["reason"] for f in report.failed}
    assert reasons["ftp"] == "unsupported URL scheme 'ftp:' (only http and https)"
    assert reasons["file"] == "file: URLs are only read from a mirror folder (--from DIR)"
    assert reasons["guidance.pdf"] == "not an absolute http(s) URL"
    assert not list(corpus.glob("*.pdf"))


def test_redirect_to_another_scheme_is_refused(site, tmp_path):
    report = fetch(options(tmp_path / "c"), url_lists=[url_list(tmp_path, f"{site}/redirect-ftp.pdf")])
    assert report.failed == [{"url": f"{site}/redirect-ftp.pdf", "reason": "redirected to a non-http(s) URL: ftp://127.0.0.1/x.pdf"}]


# ---------------------------------------------------------------- resource pages


def test_resource_page_to_guidance_pages_to_pdfs_end_to_end(site, tmp_path):
    """The real resource page (links re-pointed at the server) -> 19 guidance pages -> PDFs."""
    corpus = tmp_path / "corpus"
    seen = []
    report = fetch(options(corpus), pages=[f"{site}/resources.html"], progress=lambda done, total, url: seen.append(done))

    assert report.failed == []
    assert sorted(d["file"] for d in report.downloaded) == sorted(p.name for p in SMALL_PDFS)
    for pdf in SMALL_PDFS:
        assert sha256((corpus / pdf.name).read_bytes()) == sha256(pdf.read_bytes())
    # Links to other hosts (journals, societies) were classified only, never requested.
    assert any(i["url"] == "https://www.nature.com/gt/" for i in report.ignored)
    assert seen[-1] == len(GUIDANCE_SLUGS) * 2 + 1  # 19 guidance pages + their 19 PDFs + the NIH PDF

    again = fetch(options(corpus), pages=[f"{site}/resources.html"])
    assert again.downloaded == [] and again.failed == [] and len(again.skipped) == len(SMALL_PDFS)


def test_local_page_resolves_relative_links_against_base(site, tmp_path):
    pdf = SMALL_PDFS[9]
    page = tmp_path / "list.html"
    page.write_text(f'<html><head><base href="{site}/pdf/"></head><body>'
                    f'<a href="{pdf.name}">Guidance</a> <a href="../about">About</a> <a href="#top">Top</a></body></html>')
    report = fetch(options(tmp_path / "corpus"), pages=[str(page)])

    assert [d["file"] for d in report.downloaded] == [pdf.name]
    assert report.ignored == [{"url": f"{site}/about", "reason": "not a guidance document (.pdf or /media/<id>/download)"}]


def test_real_resource_page_links_are_classified():
    links = links_from_page(RESOURCE_PAGE.read_bytes(), None)
    assert links.guidance_pages == [FDA_GUIDANCE_PREFIX + slug for slug in GUIDANCE_SLUGS]
    assert len(GUIDANCE_SLUGS) == 19
    assert links.documents == [NIH_PDF]
    assert "https://www.gtrp.org/" in [i["url"] for i in links.ignored]
    # Site navigation is relative and a local file has no URL to resolve it against.
    assert {"url": "/about", "reason": "relative link, and the page has no URL or <base> to resolve it"} in links.ignored
    # The windows-1252 copy of the page carries the same guidance links.
    cp1252 = links_from_page((HTML_DIR / "ngvb-other-helpful-resources-cp1252.html").read_bytes(), None)
    assert cp1252.guidance_pages == links.guidance_pages


@pytest.mark.parametrize(("url", "kind"), [
    ("https://www.fda.gov/media/113760/download", KIND_DOCUMENT),
    ("https://example.org/files/Guidance%20Q9.PDF", KIND_DOCUMENT),
    (FDA_GUIDANCE_PREFIX + "human-gene-therapy-rare-diseases", KIND_GUIDANCE_PAGE),
    ("https://www.fda.gov/media/113760", None),
    ("https://www.fda.gov/vaccines-blood-biologics/biologics-guidances/cellular-gene-therapy-guidances", None),
])
def test_classify_link(url, kind):
    assert classify_link(url) == kind


# ---------------------------------------------------------------- mirror (--from)


def test_mirror_folder_resolves_urls_by_basename_and_ledger_names(tmp_path):
    mirror, corpus = tmp_path / "mirror", tmp_path / "corpus"
    mirror.mkdir()
    by_name, by_ledger, by_file_url = SMALL_PDFS[10], SMALL_PDFS[11], SMALL_PDFS[12]
    for pdf in (by_name, by_ledger, by_file_url):
        (mirror / pdf.name).write_bytes(pdf.read_bytes())
    (mirror / "fake.pdf").write_bytes(RESOURCE_PAGE.read_bytes())
    (tmp_path / "outside.pdf").write_bytes(SMALL_PDFS[13].read_bytes())
    (mirror / "outside.pdf").symlink_to(tmp_path / "outside.pdf")  # must not be followed out of the mirror
    media_url = "https://www.fda.gov/media/99999/download"
    (mirror / LEDGER_NAME).write_text(json.dumps({"format": 1, "urls": {media_url: {"file": by_ledger.name}}}))
    urls = url_list(
        tmp_path,
        f"https://www.fda.gov/files/{by_name.name}",
        media_url,
        f"file:///anywhere/{by_file_url.name}",
        "https://www.fda.gov/media/12345/download",
        "https://www.fda.gov/files/fake.pdf",
        "https://www.fda.gov/files/outside.pdf",
    )

    report = fetch(options(corpus, mirror=mirror), url_lists=[urls])

    assert {d["file"] for d in report.downloaded} == {by_name.name, by_ledger.name, by_file_url.name}
    for pdf in (by_name, by_ledger, by_file_url):
        assert sha256((corpus / pdf.name).read_bytes()) == sha256(pdf.read_bytes())
    failed = {f["url"]: f["reason"] for f in report.failed}
    assert failed["https://www.fda.gov/media/12345/download"].startswith("not in the mirror folder")
    assert failed["https://www.fda.gov/files/fake.pdf"] == HTML_NOT_PDF
    assert failed["https://www.fda.gov/files/outside.pdf"].startswith("not in the mirror folder")
    assert len(failed) == 3


# ---------------------------------------------------------------- names and URL lists


@given(st.text(max_size=300))
def test_safe_filename_never_leaves_the_folder(raw):
    name = safe_filename(raw)
    if name is None:
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.pdf", name)
    assert ".." not in name and len(name) <= 124
    assert (Path("/corpus") / name).parent == Path("/corpus")


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../evil.pdf", "evil.pdf"),
    ("..\\..\\windows\\evil.PDF", "evil.pdf"),
    ("/etc/passwd", "passwd.pdf"),
    ("Final GFI BIMO -- 12-17-25.pdf", "Final-GFI-BIMO-12-17-25.pdf"),
    ("ok\x1b[31mred\x00.pdf", "ok-31mred.pdf"),
    ("..／..／evil.pdf", "evil.pdf"),  # fullwidth solidus folds to "/"
    (".hidden.pdf", "hidden.pdf"),
    ("CON.pdf", "doc-CON.pdf"),
    ("..", None),
    ("", None),
])
def test_safe_filename_examples(raw, expected):
    assert safe_filename(raw) == expected


def test_safe_filename_caps_length():
    assert safe_filename("a" * 1000 + ".pdf") == "a" * 120 + ".pdf"


def test_url_list_format(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text(
        "\ufeff# guidances\n\n"
        "https://www.fda.gov/media/1/download   # trailing comment\n"
        "  https://example.org/a b.pdf#page=3\n"
        "# https://commented.example/out.pdf\n"
    )
    assert read_url_list(path) == ["https://www.fda.gov/media/1/download", "https://example.org/a%20b.pdf"]


def test_repository_url_list_documents_the_format():
    """corpus/urls.txt fetches nothing as shipped; its commented examples are all fetchable URLs."""
    path = REPO / "corpus" / "urls.txt"
    assert read_url_list(path) == []
    examples = [line.lstrip("# ").split()[0] for line in path.read_text().splitlines() if line.startswith("# http")]
    assert len(examples) >= 3
    assert all(classify_link(url) in (KIND_DOCUMENT, KIND_GUIDANCE_PAGE) for url in examples)


def test_broken_ledger_is_a_clear_error(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / LEDGER_NAME).write_text("{not json")
    with pytest.raises(GtindexError, match=r"\.fetched\.json: unreadable fetch ledger"):
        fetch(options(corpus), url_lists=[url_list(tmp_path, "https://example.org/a.pdf")])


# ---------------------------------------------------------------- CLI


def run_cli(*args: str):
    return CliRunner().invoke(main, ["fetch", *args])


def test_cli_json_and_exit_codes(site, tmp_path):
    corpus = tmp_path / "corpus"
    pdf = SMALL_PDFS[14]
    good = url_list(tmp_path, f"{site}/pdf/{pdf.name}")

    ok = run_cli("--urls", str(good), "--corpus", str(corpus), "--no-build", "--json")
    assert ok.exit_code == 0, ok.output
    result = json.loads(ok.stdout)
    assert [d["file"] for d in result["downloaded"]] == [pdf.name]
    assert result["skipped"] == [] and result["failed"] == [] and result["build"] is None

    partial_list = tmp_path / "partial.txt"
    partial_list.write_text(f"{site}/pdf/{pdf.name}\n{site}/missing.pdf\n")
    partial = run_cli("--urls", str(partial_list), "--corpus", str(corpus), "--no-build", "--json")
    assert partial.exit_code == 3
    result = json.loads(partial.stdout)
    assert result["skipped"][0]["reason"] == "already fetched"
    assert result["failed"] == [{"url": f"{site}/missing.pdf", "reason": "HTTP 404 Not Found"}]


def test_cli_text_output(site, tmp_path):
    pdf = SMALL_PDFS[15]
    result = run_cli("--urls", str(url_list(tmp_path, f"{site}/pdf/{pdf.name}", f"{site}/forbidden.pdf")),
                     "--corpus", str(tmp_path / "corpus"), "--no-build")
    assert result.exit_code == 3
    assert f"downloaded  {pdf.name}" in result.stdout
    assert f"failed      {site}/forbidden.pdf: HTTP 403 Forbidden" in result.stdout
    assert "1 downloaded, 0 skipped, 1 failed" in result.stdout


def test_cli_usage_errors_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no corpus/urls.txt here
    nothing = run_cli("--no-build")
    assert nothing.exit_code == 2 and "nothing to fetch" in nothing.output

    missing_page = run_cli("--page", str(tmp_path / "gone.html"), "--no-build")
    assert missing_page.exit_code == 2
    assert "gone.html: no such file" in missing_page.output and "Traceback" not in missing_page.output

    assert run_cli("--urls", str(tmp_path / "gone.txt")).exit_code == 2
    assert run_cli("--page", "x.html", "--max-mb", "0").exit_code == 2


def test_cli_defaults_to_corpus_urls_txt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "urls.txt").write_text((REPO / "corpus" / "urls.txt").read_text())
    result = run_cli("--no-build", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["downloaded"] == []
    assert (tmp_path / "corpus" / "pdf").is_dir()  # the default --corpus


def test_cli_mirror_option(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    pdf = SMALL_PDFS[16]
    (mirror / pdf.name).write_bytes(pdf.read_bytes())
    urls = url_list(tmp_path, f"https://www.fda.gov/files/{pdf.name}")
    result = run_cli("--urls", str(urls), "--from", str(mirror), "--corpus", str(tmp_path / "corpus"), "--no-build", "--json")
    assert result.exit_code == 0, result.output
    assert [d["file"] for d in json.loads(result.stdout)["downloaded"]] == [pdf.name]


def test_cli_does_not_build_without_an_index(site, tmp_path):
    """Default --build: only when the index exists; a missing index is left alone."""
    pdf = SMALL_PDFS[17]
    result = run_cli("--urls", str(url_list(tmp_path, f"{site}/pdf/{pdf.name}")), "--corpus", str(tmp_path / "corpus"),
                     "--index", str(tmp_path / "no-index"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["build"] is None
    assert not (tmp_path / "no-index").exists()


# ---------------------------------------------------------------- index update after a fetch (real builds)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """A real index built from one resource page in its own source folder: (source folder, index dir)."""
    from gtindex.build import build_index

    root = tmp_path_factory.mktemp("indexed")
    source = root / "corpus"
    source.mkdir()
    (source / "asgct-strategic-plan.html").write_bytes((HTML_DIR / "asgct-strategic-plan.html").read_bytes())
    build_index([source], root / "index")
    return source, root / "index"


def current(index: Path) -> str:
    return (index / "CURRENT").read_text().strip()


def test_cli_refuses_a_rebuild_that_would_drop_indexed_documents(site, tmp_path):
    import shutil

    from gtindex.build import build_index

    # The index's recorded source folder has gone (moved, unmounted): rebuilding from what is
    # left would silently drop its document, so fetch must refuse and leave the index alone.
    moved = tmp_path / "moved-away"
    moved.mkdir()
    (moved / "asgct-strategic-plan.html").write_bytes((HTML_DIR / "asgct-strategic-plan.html").read_bytes())
    index = tmp_path / "index"
    build_index([moved], index)
    shutil.rmtree(moved)
    before = current(index)
    pdf = SMALL_PDFS[18]
    result = run_cli("--urls", str(url_list(tmp_path, f"{site}/pdf/{pdf.name}")), "--corpus", str(tmp_path / "elsewhere"),
                     "--index", str(index), "--json")

    assert result.exit_code == 3, result.output
    build = json.loads(result.stdout)["build"]
    assert build["updated"] is False and "asgct-strategic-plan.html" in build["reason"]
    assert current(index) == before


def test_cli_build_with_nothing_new_reuses_everything(tmp_path, small_index):
    source, index = small_index
    before = current(index)
    empty = url_list(tmp_path)
    result = run_cli("--urls", str(empty), "--corpus", str(source), "--index", str(index), "--build", "--json")

    assert result.exit_code == 0, result.output
    build = json.loads(result.stdout)["build"]
    # nothing fetched, nothing changed: nothing re-embedded and the live generation stays
    assert build["embedded"] == 0 and build["reused"] > 0
    assert build["generation"] == before == current(index)


def test_cli_default_build_indexes_the_fetched_pdf(site, small_index):
    pytest.importorskip("gtindex.sources.pdf")
    from contextlib import closing

    from gtindex.index import generations, schema

    source, index = small_index
    pdf = SMALL_PDFS[0]
    urls = source.parent / "urls.txt"
    urls.write_text(f"{site}/pdf/{pdf.name}\n")
    result = run_cli("--urls", str(urls), "--corpus", str(source), "--index", str(index), "--json")

    assert result.exit_code == 0, result.output
    build = json.loads(result.stdout)["build"]
    assert build["updated"] is True and build["skipped"] == []
    with closing(schema.connect_readonly(generations.current_generation(index) / generations.SQLITE_FILE)) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM doc_names")}
    assert names == {"asgct-strategic-plan.html", pdf.name}
