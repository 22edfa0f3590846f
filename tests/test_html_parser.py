"""Web page parsing: the three real resource pages in corpus/ plus small pages made here."""
from __future__ import annotations

import pytest

from conftest import HTML_DIR
from gtindex.documents import KIND_BODY, KIND_HEADING, LINE_KIND_PARAGRAPH, ParseError
from gtindex.sources.html import parse_html

NGVB = HTML_DIR / "ngvb-other-helpful-resources.html"
NGVB_CP1252 = HTML_DIR / "ngvb-other-helpful-resources-cp1252.html"
ASGCT = HTML_DIR / "asgct-strategic-plan.html"

CHROME_TEXT = [
    "Skip to", "Log In", "Career Center", "Contact Us", "Privacy", "cookies", "Copyright",
    "All rights reserved", "Register for the 27th Annual Meeting", "gtag", "dataLayer",
    "Vector Request", "Accept", "Home",
]


def texts(document) -> list[str]:
    return [line.text for line in document.lines]


def all_text(document) -> str:
    return "\n".join(texts(document))


@pytest.fixture(scope="module")
def ngvb():
    return parse_html(NGVB)


@pytest.fixture(scope="module")
def ngvb_cp1252():
    return parse_html(NGVB_CP1252)


@pytest.fixture(scope="module")
def asgct():
    return parse_html(ASGCT)


# ----------------------------------------------------------------------------- real pages


def test_document_fields_follow_the_paragraph_model(ngvb):
    assert ngvb.doc == NGVB.name
    assert ngvb.source_type == "html"
    assert ngvb.line_kind == LINE_KIND_PARAGRAPH
    assert ngvb.pages == 1
    assert len(ngvb.sha256) == 64
    assert [line.line for line in ngvb.lines] == list(range(1, len(ngvb.lines) + 1))
    for line in ngvb.lines:
        assert (line.page, line.page_label, line.line_on_page) == (1, None, line.line)
        assert line.kind in (KIND_BODY, KIND_HEADING)
        assert line.text == line.text.strip() and "  " not in line.text and "\n" not in line.text


def test_rac_replacement_text_is_a_paragraph_of_the_nih_section(ngvb):
    rac = [line for line in ngvb.lines if "Recombinant DNA Advisory Committee (RAC)" in line.text]
    assert len(rac) == 1
    assert "renamed the Novel and Exceptional Technology and Research Advisory Committee (NExTRAC)" in rac[0].text
    assert rac[0].kind == KIND_BODY
    assert rac[0].section == "Other Helpful Resources > NIH Guidelines"


def test_sections_nest_by_heading_level(ngvb):
    headings = {line.text: line.section for line in ngvb.lines if line.kind == KIND_HEADING}
    assert headings["Other Helpful Resources"] == "Other Helpful Resources"
    assert headings["Selected Guidances"] == "Other Helpful Resources > Selected Guidances"
    assert headings["Gene Therapy Resource Program"] == (
        "Other Helpful Resources > Programs > Gene Therapy Resource Program"
    )
    # an h2 closes the h3 before it
    journals = next(line for line in ngvb.lines if line.text == "Cancer Gene Therapy")
    assert journals.section == "Other Helpful Resources > Journals"


def test_list_items_are_lines_including_nested_lists(ngvb):
    lines = texts(ngvb)
    assert "accept new HGT protocols for the protocol registration process under the NIH Guidelines" in lines
    assert lines.index("Human Gene Therapy Journals:") + 1 == lines.index("Human Gene Therapy")
    assert "Gene Therapy Online Newsletter" in lines  # <br> inside a link is a space


@pytest.mark.parametrize("page", [NGVB, NGVB_CP1252, ASGCT], ids=lambda p: p.stem)
def test_no_site_chrome_script_or_style_text(page):
    text = all_text(parse_html(page))
    for chrome in CHROME_TEXT:
        assert chrome not in text, chrome
    for code in ("function", "{", "}", "var "):
        assert code not in text, code


def test_titles_drop_the_site_suffix(ngvb, ngvb_cp1252, asgct):
    assert ngvb.title == "Other Helpful Resources"
    assert ngvb_cp1252.title == "Other Helpful Resources"
    assert asgct.title == "Strategic Plan"


def test_asgct_content_and_sections(asgct):
    registry = [line for line in asgct.lines if "global registry" in line.text]
    assert len(registry) == 1
    assert registry[0].section == "Strategic Plan > Advocacy"
    headings = [line.text for line in asgct.lines if line.kind == KIND_HEADING]
    assert headings == ["Strategic Plan", "Advocacy", "2020 Strategic Plan", "Education", "Global Outreach"]
    assert "annualmeeting.asgct.org" not in {link.url for link in asgct.links}  # the aside promo


def test_selected_guidance_links_are_kept_with_their_section(ngvb, ngvb_cp1252):
    for document in (ngvb, ngvb_cp1252):
        guidance_links = [
            link for link in document.links
            if link.url.startswith("https://www.fda.gov/regulatory-information/search-fda-guidance-documents/")
        ]
        assert len(guidance_links) == 19
        assert {link.section for link in guidance_links} == {"Other Helpful Resources > Selected Guidances"}
        rare = [link for link in guidance_links if link.url.endswith("/human-gene-therapy-rare-diseases")]
        assert len(rare) == 1 and "Human Gene Therapy for Rare Diseases" in rare[0].text


def test_chrome_links_are_not_kept(ngvb):
    urls = {link.url for link in ngvb.links}
    assert not urls & {"/", "/about", "/contact", "/privacy", "/resources", "mailto:ngvb@iu.edu"}


def test_cp1252_page_decodes_curly_quotes_and_en_dash(ngvb_cp1252):
    text = all_text(ngvb_cp1252)
    assert "Boston Children\u2019s Hospital" in text
    assert "Aseptic Processing \u2013 Current Good Manufacturing Practice" in text
    assert "\u201cCellular & Gene Therapy Guidances homepage\u201d" in text  # raw & survives
    for mojibake in ("â€", "Ã", "\ufffd"):
        assert mojibake not in text


def _typography_folded(text: str) -> str:
    return text.translate(str.maketrans({"\u2019": "'", "\u2013": "-", "\u201c": "", "\u201d": ""}))


def test_cp1252_layout_page_yields_the_same_paragraphs_as_the_utf8_page(ngvb, ngvb_cp1252):
    # The two files differ in markup (table layout, <br> lists, <b> instead of <h3>) and in
    # typography (curly quotes, en dash); the text of every paragraph must be the same.
    assert [_typography_folded(t) for t in texts(ngvb_cp1252)] == texts(ngvb)
    body_sections = {line.text: line.section for line in ngvb_cp1252.lines if line.kind == KIND_BODY}
    assert body_sections["Robust oversight continues under the FDA, and NIH-funded HGT research remains "
                         "subject to oversight by local authorities such as Institutional Review Boards and "
                         "Institutional Biosafety Committees."] == "Other Helpful Resources > NIH Guidelines"


# ----------------------------------------------------------------------------- generated pages


def write(tmp_path, name: str, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_hidden_elements_comments_forms_and_cookie_banners_are_dropped(tmp_path):
    page = write(tmp_path, "hidden.html", """<!doctype html><html><head><title>T</title></head><body>
      <main>
        <h1>Visible heading</h1>
        <p>Kept paragraph.</p>
        <p hidden>Hidden attribute text.</p>
        <div aria-hidden="true"><p>Aria hidden text.</p></div>
        <p style="color: red; display : none">Display none text.</p>
        <!-- a comment that must not appear -->
        <form><label>Search the site</label><input name="q"></form>
        <div class="cookie-notice"><p>We use cookies.</p></div>
        <ul class="menu"><li>Menu entry</li></ul>
        <p>Second &amp; last paragraph.</p>
      </main></body></html>""")
    assert texts(parse_html(page)) == ["Visible heading", "Kept paragraph.", "Second & last paragraph."]


def test_body_without_main_drops_header_nav_footer_and_breadcrumbs(tmp_path):
    page = write(tmp_path, "plain.html", """<html><body>
      <header><a href="/">Site name</a></header>
      <div id="breadcrumbs"><a href="/">Home</a> / Here</div>
      <div class="wrapper with-sidebar">
        <h2>Scope</h2><p>This guidance applies to gene therapy products.</p>
        <dl><dt>Vector</dt><dd>A vehicle for delivering genetic material.</dd></dl>
      </div>
      <footer>Footer text</footer></body></html>""")
    document = parse_html(page)
    assert texts(document) == [
        "Scope", "This guidance applies to gene therapy products.", "Vector",
        "A vehicle for delivering genetic material.",
    ]
    assert document.title == "Scope"  # no <title>: the first heading


def test_sloppy_markup_still_parses(tmp_path):
    page = write(tmp_path, "sloppy.html", """<HTML><BODY><H1>Old page
      <P>First paragraph with a raw & ampersand
      <P>Second <B>bold <I>unclosed paragraph
      <TABLE><TR><TD>2019<TD>Row text
      </TABLE>""")
    lines = texts(parse_html(page))
    assert lines[0] == "Old page"
    assert "First paragraph with a raw & ampersand" in lines
    assert "Second bold unclosed paragraph" in lines
    assert "2019 Row text" in lines


def test_links_resolve_against_base_else_stay_relative(tmp_path):
    with_base = write(tmp_path, "base.html", """<html><head><base href="https://www.fda.gov/media/"></head>
      <body><main><h1>Docs</h1><p><a href="12345/download">Guidance PDF</a>
      <a href="https://example.org/x">Absolute</a> <a href="#top">Top</a>
      <a href="javascript:void(0)">Script</a></p></main></body></html>""")
    links = parse_html(with_base).links
    assert [(link.text, link.url, link.section) for link in links] == [
        ("Guidance PDF", "https://www.fda.gov/media/12345/download", "Docs"),
        ("Absolute", "https://example.org/x", "Docs"),
    ]
    without_base = write(tmp_path, "nobase.html", '<html><body><p><a href="docs/g.pdf">G</a></p></body></html>')
    assert [link.url for link in parse_html(without_base).links] == ["docs/g.pdf"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.html", '<html><head><meta charset="iso-8859-1"></head><body><p>Don\x92t \x96 caf\xe9</p></body></html>'.encode("latin-1")),
        ("undeclared.html", "<html><body><p>Don\u2019t \u2013 caf\u00e9</p></body></html>".encode("cp1252")),
        ("bom.html", b"\xef\xbb\xbf<html><body><p>Don\xe2\x80\x99t \xe2\x80\x93 caf\xc3\xa9</p></body></html>"),
        ("utf16.html", "<html><body><p>Don\u2019t \u2013 caf\u00e9</p></body></html>".encode("utf-16")),
        ("httpequiv.html", '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body><p>Don\x92t \x96 caf\xe9</p></body></html>'.encode("latin-1")),
    ],
)
def test_declared_or_detected_charset_decodes_without_mojibake(tmp_path, name, content):
    assert texts(parse_html(write(tmp_path, name, content))) == ["Don\u2019t \u2013 caf\u00e9"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (bytes(range(256)) * 8, "not an HTML page"),
        (b"just some words, no markup at all", "not an HTML page"),
        (b"<html><body><script>var x = 1;</script></body></html>", "no readable text"),
    ],
)
def test_bad_pages_raise_parse_error_naming_the_file(tmp_path, content, reason):
    page = write(tmp_path, "bad.html", content)
    with pytest.raises(ParseError) as caught:
        parse_html(page)
    assert reason in caught.value.reason
    assert caught.value.path == str(page)
