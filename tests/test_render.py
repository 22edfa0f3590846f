"""Terminal safety of printed document text and the `gtindex parse` view."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from gtindex.documents import KIND_BODY, KIND_FOOTNOTE, KIND_HEADING, LINE_KIND_PRINTED, Document, Line
from gtindex.render import render_document, sanitize_text, terminal_safe_json

UNSAFE = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"] + [chr(c) for c in range(0x7F, 0xA0)] + [
    "\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain \x1b[31mred\x1b[0m text", "plain red text"),
        ("cursor\x1b[2J\x1b[1;1Hhome", "cursorhome"),
        ("title\x1b]0;owned\x07 after", "title after"),
        ("link \x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ end", "link click end"),
        ("8-bit \x9b31mCSI", "8-bit CSI"),
        ("charset \x1b(B switch", "charset  switch"),
        ("lone escape \x1b", "lone escape "),
        ("bidi \u202eevil\u202c text", "bidi evil text"),
        ("bell\x07 back\x08space \r return", "bell backspace  return"),
        ("stray \x9d byte keeps the rest", "stray  byte keeps the rest"),
        ("unterminated \x1b]0;rest stays visible", "unterminated 0;rest stays visible"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("Don\u2019t \u2013 caf\u00e9 \u00a7 21 CFR 1271", "Don\u2019t \u2013 caf\u00e9 \u00a7 21 CFR 1271"),
    ],
)
def test_sanitize_text(raw, clean):
    assert sanitize_text(raw) == clean


@given(st.text())
def test_sanitize_text_leaves_no_control_or_bidi_character(text):
    clean = sanitize_text(text)
    assert not any(char in clean for char in UNSAFE)
    assert sanitize_text(clean) == clean


def test_terminal_safe_json_round_trips_and_escapes_what_a_terminal_acts_on():
    value = {"text": "a\u202eb \x1b[31m \x9d caf\u00e9 \u2013", "n": [1, None]}
    encoded = terminal_safe_json(value)
    assert json.loads(encoded) == value
    assert not any(char in encoded for char in UNSAFE if char != "\n")
    assert "caf\u00e9 \u2013" in encoded  # ordinary non-ASCII text stays readable


def pdf_document() -> Document:
    def line(page, label, number, on_page, kind, section, text, footnote=None):
        return Line(page, label, number, on_page, kind, section, text, footnote)

    return Document(
        doc="gt-draft.pdf", source_type="pdf", sha256="0" * 64, title="Human Gene \x1b[2JTherapy",
        status="draft", date="July 2018", center="CBER", pages=3, line_kind=LINE_KIND_PRINTED,
        lines=[
            line(1, None, None, 1, KIND_BODY, "", "Cover page text"),
            line(3, "1", 1, 1, KIND_HEADING, "I. INTRODUCTION", "I. INTRODUCTION"),
            line(3, "1", 2, 2, KIND_BODY, "I. INTRODUCTION", "We, FDA, are providing you\x1b]0;owned\x07 advice."),
            line(3, "1", None, 3, KIND_FOOTNOTE, "I. INTRODUCTION", "See 21 CFR 312.", footnote=1),
            line(3, "1", None, 4, KIND_FOOTNOTE, "I. INTRODUCTION", "Continued note.", footnote=1),
        ],
    )


def render(document: Document, **console_options) -> str:
    buffer = io.StringIO()
    render_document(Console(file=buffer, width=120, highlight=False, **console_options), document)
    return buffer.getvalue()


def test_render_document_shows_pages_sections_margins_and_footnotes():
    output = render(pdf_document())
    lines = output.splitlines()
    assert lines[0] == "Human Gene Therapy"
    assert lines[1] == "gt-draft.pdf · PDF · draft · July 2018 · CBER · 3 pages · 5 lines, printed numbers"
    assert "── PDF page 1 · no printed page number ──" in lines
    assert "── PDF page 3 · printed page 1 ──" in lines
    assert "§ I. INTRODUCTION" in lines
    assert "1.1  Cover page text" in lines  # computed page.line marker where none is printed
    assert "  2  We, FDA, are providing you advice." in lines  # printed number, right-aligned
    assert "3.3  [footnote 1] See 21 CFR 312." in lines
    assert "3.4               Continued note." in lines  # a footnote is marked once
    assert lines.index("§ I. INTRODUCTION") < lines.index("  1  I. INTRODUCTION")
    assert "\x1b" not in output and "owned" not in output


def test_render_document_colours_only_when_asked_for_a_terminal():
    coloured = render(pdf_document(), force_terminal=True, color_system="standard")
    plain = render(pdf_document(), force_terminal=False)
    assert "\x1b[" in coloured and "owned" not in coloured and "\x1b]" not in coloured
    assert "\x1b" not in plain
    no_colour = render(pdf_document(), force_terminal=True, color_system="standard", no_color=True)
    assert "\x1b[36m" not in no_colour and "\x1b[35m" not in no_colour  # no cyan / magenta
