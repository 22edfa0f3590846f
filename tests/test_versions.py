"""Versions of a guidance: linking drafts, finals and proposed revisions; search and CLI behaviour."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from gtindex.build import build_index
from gtindex.cli import main
from gtindex.search import Index
from gtindex.versions import (
    ROLE_CURRENT,
    ROLE_PROPOSED,
    ROLE_SUPERSEDED,
    Edition,
    date_key,
    document_versions,
    indexed_documents,
    link_versions,
    normalise_title,
    same_guidance,
)

ANDA_DRAFT = "fda-referencing-approved-drug-products-anda-draft-2017.pdf"
ANDA_FINAL = "fda-referencing-approved-drug-products-anda-final-2020.pdf"
Q9 = "ich-q9-quality-risk-management-2005.pdf"
Q9_R1_DRAFT = "ich-q9r1-quality-risk-management-step2-draft-2021.pdf"


# --------------------------------------------------------------------------- titles


def test_normalised_titles_drop_kind_stage_and_revision_markers():
    assert normalise_title("ICH Q9(R1) Quality Risk Management (Step 2 draft)") == "ich q9 quality risk management"
    assert normalise_title("ICH Q9 Quality Risk Management (Step 4)") == "ich q9 quality risk management"
    assert normalise_title("Draft Guidance for Industry: Referencing Approved Drug Products in ANDA Submissions") == (
        normalise_title("Referencing Approved Drug Products in ANDA Submissions — Guidance for Industry")
    )
    assert normalise_title("Q8(R2) Pharmaceutical Development") == normalise_title("q8r2 pharmaceutical development")


def test_same_guidance_survives_small_title_changes_but_not_different_guidances():
    def edition(title, center="CDER", date="2020"):
        return Edition("x.pdf", title, "final", date, center)

    assert same_guidance(
        edition("Considerations for the Use of Human Gene Therapy Products in Rare Diseases"),
        edition("Considerations for the Use of Gene Therapy Products in Rare Diseases", date="2023"),
    )
    # a long shared stem is not enough: these are two guidances
    assert not same_guidance(edition("ANDAs: Impurities in Drug Products"), edition("ANDAs: Impurities in Drug Substances"))
    # identifiers must agree: GFI #142 and #143 are different guidances
    assert not same_guidance(
        edition("CVM GFI #142 Pharmacovigilance of Veterinary Medicinal Products (VICH GL29)"),
        edition("CVM GFI #143 Pharmacovigilance of Veterinary Medicinal Products (VICH GL30)"),
    )
    assert not same_guidance(edition("ICH Q12 Annexes"), edition("ICH Q12 Technical and Regulatory Considerations"))
    # a guideline and its annexes, published together under one title, are not two versions
    main_text = Edition("q12.pdf", "Technical and Regulatory Considerations for Lifecycle Management", "final", "November 2019", "ICH")
    annexes = Edition("q12-annexes.pdf", main_text.title, "final", "November 2019", "ICH")
    assert not same_guidance(main_text, annexes)
    # another issuer's document with the same title is not a version of it
    assert not same_guidance(edition("Bioanalytical Method Validation", "CDER"), edition("Bioanalytical Method Validation", "CVM"))
    assert same_guidance(edition("Bioanalytical Method Validation", "CDER"),
                         edition("Bioanalytical Method Validation", "CDER, CBER", date="2018"))


def test_date_keys_order_month_and_year():
    assert date_key("October 2020") == (2020, 10)
    assert date_key("Sept. 2001") == (2001, 9)
    assert date_key("2021") == (2021, 0)
    assert date_key("") is None
    assert date_key("January 2017") < date_key("October 2020")


# --------------------------------------------------------------------------- roles


def test_final_supersedes_its_draft_and_a_newer_draft_is_a_proposed_revision():
    links = link_versions([
        Edition("anda-draft.pdf", "Referencing Approved Drug Products in ANDA Submissions", "draft", "January 2017", "CDER"),
        Edition("anda-final.pdf", "Referencing Approved Drug Products in ANDA Submissions", "final", "October 2020", "CDER"),
        Edition("q9.pdf", "ICH Q9 Quality Risk Management (Step 4)", "final", "November 2005", "ICH"),
        Edition("q9r1.pdf", "ICH Q9(R1) Quality Risk Management (Step 2 draft)", "draft", "November 2021", "ICH"),
        Edition("other.pdf", "Process Validation: General Principles and Practices", "final", "January 2011", "CDER"),
    ])
    assert links["anda-draft.pdf"].role == ROLE_SUPERSEDED and links["anda-draft.pdf"].related == "anda-final.pdf"
    assert links["anda-final.pdf"].role == ROLE_CURRENT and links["anda-final.pdf"].family == "anda-final.pdf"
    # a draft revision does not supersede the final in force
    assert links["q9.pdf"].role == ROLE_CURRENT
    assert links["q9r1.pdf"].role == ROLE_PROPOSED and links["q9r1.pdf"].related == "q9.pdf"
    assert links["q9r1.pdf"].family == "q9.pdf"
    assert links["other.pdf"].role == ROLE_CURRENT and links["other.pdf"].family == "other.pdf"


def test_newer_final_supersedes_older_final_and_newest_draft_leads_a_draft_only_family():
    title = "Human Gene Therapy for Rare Diseases"
    links = link_versions([
        Edition("2015.pdf", title, "final", "May 2015", "CBER"),
        Edition("2020.pdf", title, "final", "January 2020", "CBER"),
        Edition("d1.pdf", "Potency Assurance for Cellular and Gene Therapy Products", "draft", "2011", "CBER"),
        Edition("d2.pdf", "Potency Assurance for Cellular and Gene Therapy Products", "draft", "December 2023", "CBER"),
        Edition("undated.pdf", title, "draft", "", "CBER"),
    ])
    assert (links["2015.pdf"].role, links["2015.pdf"].related) == (ROLE_SUPERSEDED, "2020.pdf")
    assert links["2020.pdf"].role == ROLE_CURRENT
    assert (links["d1.pdf"].role, links["d1.pdf"].related) == (ROLE_SUPERSEDED, "d2.pdf")
    assert links["d2.pdf"].role == ROLE_CURRENT
    # without a date a version cannot be placed: it is left alone, never hidden
    assert links["undated.pdf"] .role == ROLE_CURRENT and links["undated.pdf"].family == "undated.pdf"


# --------------------------------------------------------------------------- a generated pair, end to end


def _guidance_pdf(path, title_lines, status, date, body):
    """A two-page guidance-like PDF: cover (title, designation, center, date) and one body page."""
    c = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    width, height = letter
    y = height - 150
    for line in title_lines:
        c.setFont("Times-Bold", 20)
        c.drawCentredString(width / 2, y, line)
        y -= 26
    c.setFont("Times-Roman", 14)
    c.drawCentredString(width / 2, y - 30, "Draft Guidance for Industry" if status == "draft" else "Guidance for Industry")
    c.setFont("Times-Roman", 12)
    y -= 90
    for line in ("U.S. Department of Health and Human Services", "Food and Drug Administration",
                 "Center for Biologics Evaluation and Research (CBER)", "", date):
        c.drawCentredString(width / 2, y, line)
        y -= 16
    c.showPage()
    y = height - 90
    for line in body:
        c.setFont("Times-Roman", 12)
        c.drawString(72, y, line)
        y -= 14
    c.showPage()
    c.save()
    return path


@pytest.fixture(scope="module")
def renamed_pair(tmp_path_factory):
    """A draft and its final whose titles differ by one word, indexed together."""
    sources = tmp_path_factory.mktemp("pair")
    body = [
        "I. INTRODUCTION",
        "Sponsors should monitor subjects for delayed adverse events after vector administration.",
        "Long-term follow-up observations should continue for up to fifteen years.",
    ]
    _guidance_pdf(sources / "gt-rare-draft.pdf", ["Considerations for the Use of Human Gene", "Therapy Products in Rare Diseases"],
                  "draft", "March 2019", body)
    _guidance_pdf(sources / "gt-rare-final.pdf", ["Considerations for the Use of Gene Therapy", "Products in Rare Diseases"],
                  "final", "June 2022", body[:2] + ["Long-term follow-up is decided case by case with the review division."])
    index_dir = tmp_path_factory.mktemp("pair-index") / "idx"
    build_index([sources], index_dir)
    return index_dir


def test_generated_pair_is_linked_in_the_index(renamed_pair):
    with sqlite3.connect(renamed_pair / (renamed_pair / "CURRENT").read_text().strip() / "index.sqlite") as conn:
        rows = conn.execute(
            "SELECT d.doc, v.role, r.doc FROM versions v JOIN documents d ON d.doc_id = v.doc_id"
            " LEFT JOIN documents r ON r.doc_id = v.related ORDER BY d.doc"
        ).fetchall()
    assert rows == [("gt-rare-draft.pdf", ROLE_SUPERSEDED, "gt-rare-final.pdf"), ("gt-rare-final.pdf", ROLE_CURRENT, None)]
    name, versions = document_versions(renamed_pair, "gt-rare-final")
    assert name == "gt-rare-final.pdf"
    assert [(v.doc, v.status, v.date, v.role) for v in versions] == [
        ("gt-rare-draft.pdf", "draft", "March 2019", ROLE_SUPERSEDED),
        ("gt-rare-final.pdf", "final", "June 2022", ROLE_CURRENT),
    ]


def test_superseded_draft_is_cited_only_where_its_final_lacks_the_text(renamed_pair):
    query = "delayed adverse events after vector administration"
    with Index.open(renamed_pair) as index:
        default = index.search(query, k=5)
        everything = index.search(query, k=5, include_superseded=True)
        named = index.search(query, k=5, doc="gt-rare-draft.pdf")
        reworded = index.search("follow-up observations continue fifteen years", k=5)
    # the sentence both versions hold is cited from the final alone
    assert default[0].doc == "gt-rare-final.pdf" and "delayed adverse events" in default[0].text
    assert not any(hit.doc == "gt-rare-draft.pdf" and "delayed adverse events" in hit.text for hit in default)
    assert all(hit.superseded_by == "gt-rare-final.pdf" for hit in default if hit.doc == "gt-rare-draft.pdf")
    # the draft's wording the final changed is a hit, marked superseded
    draft_only = [hit for hit in reworded if hit.doc == "gt-rare-draft.pdf" and "observations" in hit.text]
    assert draft_only and draft_only[0].superseded_by == "gt-rare-final.pdf"
    drafts = [hit for hit in everything if hit.doc == "gt-rare-draft.pdf"]
    assert drafts and all(hit.superseded_by == "gt-rare-final.pdf" for hit in drafts)
    assert named and all(hit.doc == "gt-rare-draft.pdf" and hit.superseded_by == "gt-rare-final.pdf" for hit in named)


def test_cli_marks_superseded_hits_and_shows_versions_side_by_side(renamed_pair):
    runner = CliRunner()
    query = "delayed adverse events after vector administration"
    result = runner.invoke(main, ["search", query, "--index", str(renamed_pair), "--json", "--include-superseded"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert {(h["doc"], h["superseded_by"]) for h in hits} >= {
        ("gt-rare-draft.pdf", "gt-rare-final.pdf"), ("gt-rare-final.pdf", None),
    }
    human = runner.invoke(main, ["search", query, "--index", str(renamed_pair), "--doc", "gt-rare-draft"])
    assert human.exit_code == 0 and "[superseded by gt-rare-final.pdf]" in human.output

    shown = runner.invoke(main, ["versions", "gt-rare-draft.pdf", "--index", str(renamed_pair)])
    assert shown.exit_code == 0, shown.output
    assert "gt-rare-draft.pdf  [superseded]" in shown.output and "gt-rare-final.pdf  [current]" in shown.output
    assert "superseded by gt-rare-final.pdf" in shown.output and "March 2019" in shown.output
    as_json = json.loads(runner.invoke(main, ["versions", "gt-rare-draft", "--index", str(renamed_pair), "--json"]).output)
    assert [(v["doc"], v["role"], v["superseded_by"]) for v in as_json["versions"]] == [
        ("gt-rare-draft.pdf", ROLE_SUPERSEDED, "gt-rare-final.pdf"), ("gt-rare-final.pdf", ROLE_CURRENT, None),
    ]
    unknown = runner.invoke(main, ["versions", "gt-rare-drafts", "--index", str(renamed_pair)])
    assert unknown.exit_code == 2 and "did you mean gt-rare-draft.pdf" in unknown.output


def test_removing_the_final_makes_the_draft_current_again(renamed_pair, tmp_path):
    from gtindex.build import remove_documents

    work = tmp_path / "idx"
    shutil.copytree(renamed_pair, work)
    remove_documents(["gt-rare-final.pdf"], work)
    [entry] = indexed_documents(work)
    assert (entry.doc, entry.role, entry.related) == ("gt-rare-draft.pdf", ROLE_CURRENT, "")
    with Index.open(work) as index:
        assert {hit.doc for hit in index.search("delayed adverse events", k=3)} == {"gt-rare-draft.pdf"}


# --------------------------------------------------------------------------- the real corpus


def test_real_corpus_links_the_anda_pair_and_the_q9_pair_only(corpus_index):
    roles = {entry.doc: entry for entry in indexed_documents(corpus_index)}
    assert (roles[ANDA_DRAFT].role, roles[ANDA_DRAFT].related) == (ROLE_SUPERSEDED, ANDA_FINAL)
    assert roles[ANDA_FINAL].role == ROLE_CURRENT
    assert (roles[Q9_R1_DRAFT].role, roles[Q9_R1_DRAFT].related) == (ROLE_PROPOSED, Q9)
    assert roles[Q9].role == ROLE_CURRENT
    linked = {doc for doc, entry in roles.items() if entry.role != ROLE_CURRENT or entry.family != doc}
    assert linked == {ANDA_DRAFT, Q9_R1_DRAFT}


def test_real_corpus_search_prefers_the_final_and_keeps_the_draft_reachable(corpus_index):
    query = "Can I change the RLD after my ANDA has been submitted?"
    with Index.open(corpus_index) as index:
        default = index.search(query, k=10)
        everything = index.search(query, k=10, include_superseded=True)
        q9 = index.search("quality risk management formality and subjectivity", k=10)
    assert default[0].doc == ANDA_FINAL
    # the draft's answer (lines 215-216) is the final's too, split there by a text box: the final's
    assert not any(hit.doc == ANDA_DRAFT and "seeks to change its RLD" in hit.text.replace("\n", " ")
                   for hit in default)
    assert all(hit.superseded_by == ANDA_FINAL for hit in default if hit.doc == ANDA_DRAFT)
    draft_hits = [hit for hit in everything if hit.doc == ANDA_DRAFT]
    assert draft_hits and all(hit.superseded_by == ANDA_FINAL for hit in draft_hits)
    # the proposed revision is not superseded: it stays in default results
    assert Q9_R1_DRAFT in {hit.doc for hit in q9}


def test_cli_versions_and_list_on_the_real_corpus(corpus_index):
    runner = CliRunner()
    result = runner.invoke(main, ["versions", ANDA_DRAFT, "--index", str(corpus_index), "--json"])
    assert result.exit_code == 0, result.output
    versions = json.loads(result.output)["versions"]
    assert [(v["doc"], v["status"], v["role"]) for v in versions] == [
        (ANDA_DRAFT, "draft", ROLE_SUPERSEDED), (ANDA_FINAL, "final", ROLE_CURRENT),
    ]
    assert versions[0]["date"] == "January 2017" and versions[1]["date"] == "October 2020"
    listed = json.loads(runner.invoke(main, ["list", "--index", str(corpus_index), "--json"]).output)["documents"]
    by_doc = {entry["doc"]: entry for entry in listed}
    assert by_doc[Q9_R1_DRAFT]["role"] == ROLE_PROPOSED and by_doc[Q9_R1_DRAFT]["revision_of"] == Q9
    assert re.fullmatch(r"printed 1–4\d\d", by_doc[ANDA_DRAFT]["coverage"])  # about 421 margin numbers
    assert by_doc[ANDA_FINAL]["coverage"] == "computed"


# ---------------------------------------------------------------- superseded drafts in search (issue 13)

DRAFT, FINAL = "fda-referencing-approved-drug-products-anda-draft-2017.pdf", "fda-referencing-approved-drug-products-anda-final-2020.pdf"


def _draft_sentences(index, restated: bool, count: int = 3) -> list[str]:
    """Long sentences of the superseded draft that its final does (or does not) restate."""
    from gtindex.search.candidates import Span as _Span

    draft_id = index.find_document(DRAFT).doc_id
    found = []
    for span_id, seq_start, seq_end, text in index.conn.execute(
            "SELECT span_id, seq_start, seq_end, text FROM spans WHERE doc_id = ? ORDER BY span_id", (draft_id,)):
        # long sentences on this guidance's subject (cover-page boilerplate is in every guidance)
        if len(text.split()) >= 15 and "RLD" in text and index.restated(_Span(span_id, draft_id, seq_start, seq_end, ())) == restated:
            found.append(text)
        if len(found) == count:
            break
    return found


@contextmanager
def _draft_sentences_in(index_dir, restated: bool):
    """The open index and the draft's sentences that its final does (or does not) restate; there must be some."""
    with Index.open(index_dir) as index:
        sentences = _draft_sentences(index, restated=restated)
        assert sentences
        yield index, sentences


@pytest.mark.slow
def test_a_sentence_the_final_restates_is_cited_from_the_final(corpus_index):
    with _draft_sentences_in(corpus_index, restated=True) as (index, sentences):
        for sentence in sentences:
            hits = index.search(sentence, k=5)
            assert not any(hit.doc == DRAFT and sentence in " ".join(hit.text.split()) for hit in hits), sentence
            assert hits[0].doc == FINAL, (sentence, hits[0].citation)
            # asked for, the draft's own copy is there, marked
            with_drafts = index.search(sentence, k=5, include_superseded=True)
            assert any(hit.doc == DRAFT and hit.superseded_by == FINAL for hit in with_drafts), sentence


@pytest.mark.slow
def test_a_sentence_only_the_draft_holds_is_a_marked_hit(corpus_index):
    with _draft_sentences_in(corpus_index, restated=False) as (index, sentences):
        for sentence in sentences:
            top = index.search(sentence, k=1)[0]
            assert top.doc == DRAFT and top.superseded_by == FINAL, (sentence, top.citation)
            assert "superseded by" in top.citation or top.superseded_by  # marked in JSON and text
