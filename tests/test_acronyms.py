"""Acronyms defined in the corpus expand queries: "ATP" finds "analytical target profile" and back."""
from __future__ import annotations

import pytest

from gtindex.acronyms import Acronym, collect, expand, find_definitions
from gtindex.sources.pdf import parse_pdf

from conftest import PDF_DIR


def test_definitions_follow_the_letters_of_the_words_before_the_parenthesis():
    text = ("Sponsors may describe an analytical target profile (ATP) and perform system suitability "
            "testing (SST). The class 2 solvent ch3con (CH3) is not an acronym.")
    assert list(find_definitions(text)) == [("ATP", "analytical target profile"), ("SST", "system suitability testing")]
    plural = "Sponsors submit abbreviated new drug applications (ANDAs) and target product profiles (TPPs)."
    assert list(find_definitions(plural)) == [("ANDA", "abbreviated new drug applications"),
                                              ("TPP", "target product profiles")]


def test_expand_adds_the_other_form_once():
    acronyms = [Acronym("ATP", "analytical target profile", 1), Acronym("SST", "system suitability test", 2)]
    assert expand("Is an ATP required?", acronyms) == "Is an ATP required? (analytical target profile)"
    assert expand("analytical target profile submission", acronyms) == "analytical target profile submission (ATP)"
    assert expand("ATP, the analytical target profile", acronyms) == "ATP, the analytical target profile"
    assert expand("atp synthase", acronyms) == "atp synthase"  # case matters for the short form
    assert expand("stopping rules", acronyms) == "stopping rules"


def test_real_guidance_definitions_are_collected_with_usage_counts():
    document = parse_pdf(PDF_DIR / "ich-q14-analytical-procedure-development-2023.pdf")
    text = " ".join(line.text for line in document.lines)
    found = {a.short: a for a in collect([text, "A text that never uses the short form."])}
    assert found["ATP"].long == "analytical target profile"
    assert found["ATP"].documents == 1


@pytest.mark.slow
def test_search_expands_an_acronym_defined_in_the_corpus(corpus_index):
    """The query says only "RAC"; the page says "Recombinant DNA Advisory Committee (RAC)"
    once and "the RAC" later: both forms are matched."""
    from gtindex.search import Index

    with Index.open(corpus_index) as index:
        rows = dict(index.conn.execute("SELECT short, long FROM acronyms").fetchall())
        assert rows["RAC"] == "recombinant dna advisory committee"
        assert any(a.short == "RAC" for a in index.acronyms)
        hits = index.search("what happened to the Recombinant DNA Advisory Committee", k=5)
    assert any("NExTRAC" in hit.text for hit in hits)


def test_a_documents_glossary_spells_out_the_acronyms_a_text_uses_alone():
    from gtindex.acronyms import gloss, glossary, glossed

    document = ("The target product profile (TPP) is a summary. A sponsor files an "
                "investigational new drug application (IND) with a TPP.")
    terms = glossary(document)
    assert terms == {"TPP": "target product profile", "IND": "investigational new drug application"}
    assert gloss("The TPP is part of the proprietary IND file.", terms) == (
        "target product profile; investigational new drug application")
    # spelled out already, unused, or another case: nothing to add
    assert gloss("The target product profile (TPP) is a summary.", terms) == ""
    assert gloss("Stopping rules protect subjects.", terms) == ""
    assert gloss("tpp in lower case is not the acronym", terms) == ""
    assert glossed("The TPP is part of it.", "target product profile") == "The TPP is part of it. (target product profile)"
    assert glossed("Stopping rules.", "") == "Stopping rules."


def test_the_real_target_product_profile_draft_is_embedded_with_its_own_long_forms():
    from gtindex.passages import make_spans

    document = parse_pdf(PDF_DIR / "fda-target-product-profile-draft-2007.pdf")
    span = next(s for s in make_spans(document) if s.text.startswith("The TPP is part of the proprietary IND file"))
    assert "TPP" in span.text and "target product profile" not in span.text.lower()  # cited as printed
    assert "target product profile" in span.gloss
    assert span.embed_text == f"{span.text} ({span.gloss})"
    assert span.context_text.endswith(f"({span.context_gloss})")
