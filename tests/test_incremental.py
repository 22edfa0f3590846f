"""Incremental updates: any sequence of build/add/remove equals a fresh build of the same files."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import HTML_DIR, PDF_DIR
from gtindex.index import generations
from gtindex.index.manifest import file_sha256
from gtindex.build import add_documents, build_index, recorded_sources, remove_documents
from gtindex.cli import main
from gtindex.errors import GtindexError

STABILITY = "fda-andas-stability-testing-qa-2013.pdf"  # 5 pages
NEEDLESTICKS = "fda-cdrh-needlesticks-mdr-2002.pdf"  # 7 pages
DONATION = "fda-pdma-drug-sample-donation-free-clinics-2006.pdf"  # 7 pages
PLAN = "asgct-strategic-plan.html"
GTINDEX = str(Path(sys.executable).with_name("gtindex"))

QUERIES = [
    "stability testing of drug substances for an ANDA",
    "needlestick injuries reporting by device user facilities",
    "donation of prescription drug samples to free clinics",
    "ASGCT strategic plan goals",
    "how many batches are required for stability data",
    "adverse event report within 30 days",
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """An index over two small real PDFs and a web page, built once for the module."""
    sources = tmp_path_factory.mktemp("sources")
    for name in (STABILITY, NEEDLESTICKS):
        shutil.copy(PDF_DIR / name, sources / name)
    shutil.copy(HTML_DIR / PLAN, sources / PLAN)
    index_dir = tmp_path_factory.mktemp("base") / "idx"
    report = build_index([sources], index_dir)
    return sources, index_dir, report


@pytest.fixture
def work(base, tmp_path):
    """A private copy of the base sources and index (the recorded source path is the copy's)."""
    sources, index_dir, _report = base
    work_sources = tmp_path / "sources"
    shutil.copytree(sources, work_sources)
    work_index = tmp_path / "idx"
    shutil.copytree(index_dir, work_index)
    build_index([work_sources], work_index)  # re-record the sources: nothing is parsed or embedded
    return work_sources, work_index


def _search_batch(index_dir: Path, tmp_path: Path) -> list[dict]:
    """`gtindex search --batch --json` over QUERIES, the way a script would call it."""
    batch = tmp_path / "queries.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "query": q}) + "\n" for i, q in enumerate(QUERIES)))
    result = subprocess.run(
        [GTINDEX, "search", "--batch", str(batch), "--index", str(index_dir), "-k", "5"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _listed(index_dir: Path) -> list[dict]:
    result = CliRunner().invoke(main, ["list", "--index", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    documents = json.loads(result.output)["documents"]
    for entry in documents:
        del entry["added_at"]  # when it was first indexed: differs from a fresh build by design
    return documents


def _assert_same_results(ours: list[dict], fresh: list[dict]) -> None:
    assert len(ours) == len(fresh) == len(QUERIES)
    for mine, theirs in zip(ours, fresh):
        assert [h["citation"] for h in mine["hits"]] == [h["citation"] for h in theirs["hits"]], mine["query"]
        for a, b in zip(mine["hits"], theirs["hits"]):
            assert (a["doc"], a["text"], a["lines"], a["section"]) == (b["doc"], b["text"], b["lines"], b["section"])
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)


def test_unchanged_sources_write_nothing(base):
    sources, index_dir, first = base
    again = build_index([sources], index_dir)
    assert first.added == sorted([STABILITY, NEEDLESTICKS, PLAN]) and first.reparsed == 3
    assert again.up_to_date and again.generation == first.generation
    assert again.reparsed == 0 and again.embedded == 0 and again.unchanged == 3
    assert {"discover", "parse", "split"} <= set(again.stage_seconds)


def test_sequence_of_updates_equals_a_fresh_build(work, tmp_path):
    sources, index_dir = work
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(PDF_DIR / DONATION, outside / DONATION)

    added = add_documents([outside / DONATION], index_dir)
    assert added.added == [DONATION] and added.reparsed == 1 and added.embedded > 0
    assert recorded_sources(index_dir) == [sources.resolve(), (outside / DONATION).resolve()]

    # a revised web page: one new paragraph costs one page parse and a few embeddings
    page = sources / PLAN
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</main>", "<p>A new closing paragraph about vector shedding studies.</p></main>"), encoding="utf-8")
    changed = build_index(None, index_dir)  # no sources given: the recorded ones
    assert changed.changed == [PLAN] and changed.reparsed == 1 and 0 < changed.embedded < 10
    assert changed.unchanged == 3

    # a rename with the same content: nothing parsed, nothing embedded
    (sources / NEEDLESTICKS).rename(sources / "needlesticks-renamed.pdf")
    renamed = build_index(None, index_dir)
    assert renamed.added == ["needlesticks-renamed.pdf"] and renamed.removed == [NEEDLESTICKS]
    assert renamed.reparsed == 0 and renamed.embedded == 0

    # the same file twice under two names: indexed once, both names known
    shutil.copy(sources / STABILITY, sources / "zz-stability-copy.pdf")
    duplicated = build_index(None, index_dir)
    assert duplicated.duplicates == [("zz-stability-copy.pdf", STABILITY)]
    assert duplicated.documents == 4 and duplicated.reparsed == 0 and duplicated.embedded == 0

    # remove by sha256 prefix: a file added on its own leaves the recorded sources
    donation_sha = file_sha256(outside / DONATION)
    removed = remove_documents([donation_sha[:10]], index_dir)
    assert removed.removed == [DONATION]
    assert recorded_sources(index_dir) == [sources.resolve()]

    # remove by name: a file under a recorded folder stays out of later builds until added back
    remove_documents(["asgct-strategic-plan"], index_dir)
    rebuilt = build_index(None, index_dir)
    assert rebuilt.excluded == [PLAN] and rebuilt.up_to_date
    back = add_documents([sources / PLAN], index_dir)
    assert back.added == [PLAN] and back.excluded == []

    fresh_dir = tmp_path / "fresh"
    fresh = build_index([sources], fresh_dir)
    assert fresh.documents == 3 and fresh.reused == 0
    assert _listed(index_dir) == _listed(fresh_dir)
    _assert_same_results(_search_batch(index_dir, tmp_path), _search_batch(fresh_dir, tmp_path))
    ours = json.loads((index_dir / (index_dir / "CURRENT").read_text().strip() / "manifest.json").read_text())
    theirs = json.loads((fresh_dir / "gen-000001" / "manifest.json").read_text())
    assert ours["counts"] == theirs["counts"] and ours["fingerprint"] == theirs["fingerprint"]


def test_both_names_of_a_duplicate_are_listed_and_find_the_document(work):
    sources, index_dir = work
    shutil.copy(sources / STABILITY, sources / "zz-stability-copy.pdf")
    build_index(None, index_dir)
    [entry] = [e for e in _listed(index_dir) if e["doc"] == STABILITY]
    assert entry["names"] == [STABILITY, "zz-stability-copy.pdf"]
    result = CliRunner().invoke(main, ["show", "zz-stability-copy.pdf", "--page", "1", "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    # removing one name keeps the content under the other (that file is still a source)
    report = remove_documents([STABILITY], index_dir)
    assert report.removed == [STABILITY] and report.embedded == 0 and report.documents == 3
    assert "zz-stability-copy.pdf" in {e["doc"] for e in _listed(index_dir)}


def test_remove_unknown_name_suggests_close_names_and_changes_nothing(work):
    _sources, index_dir = work
    live = (index_dir / "CURRENT").read_text()
    result = CliRunner().invoke(main, ["remove", "fda-cdrh-needlestick-mdr", "--index", str(index_dir)])
    assert result.exit_code == 2
    assert "no document named 'fda-cdrh-needlestick-mdr'" in result.output
    assert f"did you mean {NEEDLESTICKS}" in result.output
    assert (index_dir / "CURRENT").read_text() == live
    with pytest.raises(GtindexError, match="leave .* empty"):
        remove_documents([STABILITY, NEEDLESTICKS, PLAN], index_dir)


def test_list_shows_line_coverage_and_version_role(work):
    _sources, index_dir = work
    runner = CliRunner()
    by_doc = {e["doc"]: e for e in _listed(index_dir)}
    assert set(by_doc) == {STABILITY, NEEDLESTICKS, PLAN}
    assert by_doc[PLAN]["coverage"].startswith("paragraphs 1–")
    assert by_doc[STABILITY]["coverage"] == "computed" and by_doc[STABILITY]["pages"] == 5
    assert all(e["role"] == "current" for e in by_doc.values())
    human = runner.invoke(main, ["list", "--index", str(index_dir)])
    assert human.exit_code == 0
    assert f"{PLAN}  [current]" in human.output and "added " in human.output


def test_cli_add_and_build_without_sources_use_the_recorded_ones(work, tmp_path):
    sources, index_dir = work
    runner = CliRunner()
    (sources / PLAN).unlink()
    result = runner.invoke(main, ["build", "--index", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["removed"] == [PLAN] and report["embedded"] == 0 and report["documents"] == 2
    text = runner.invoke(main, ["add", str(HTML_DIR / PLAN), "--index", str(index_dir)])
    assert text.exit_code == 0, text.output
    assert f"added    {PLAN}" in text.output and "indexed 3 documents" in text.output
    assert recorded_sources(index_dir) == [sources.resolve(), (HTML_DIR / PLAN).resolve()]
    missing = runner.invoke(main, ["add", str(tmp_path / "nope.pdf"), "--index", str(index_dir)])
    assert missing.exit_code == 2 and "nope.pdf: no such file or folder" in missing.output


def test_a_file_added_in_place_of_a_folder_s_file_stays_in_place_in_later_builds(work, tmp_path):
    """`gtindex add other/x.html` replaces the x.html of a recorded folder (README). Every
    later plain `build` then skipped the folder's x.html, exit 3, and the first one wrote a
    new generation though nothing had changed."""
    sources, index_dir = work
    other = tmp_path / "other"
    other.mkdir()
    page = other / PLAN
    page.write_text((sources / PLAN).read_text(encoding="utf-8").replace("Strategic Plan", "Strategic Plan, revised"),
                    encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(main, ["add", str(page), "--index", str(index_dir), "--json"])
    assert added.exit_code == 0 and json.loads(added.output)["changed"] == [PLAN], added.output
    for _ in range(2):
        again = runner.invoke(main, ["build", "--index", str(index_dir), "--json"])
        report = json.loads(again.output)
        assert again.exit_code == 0 and not report["skipped"] and report["up_to_date"], again.output
    listed = json.loads(runner.invoke(main, ["list", "--index", str(index_dir), "--json"]).output)["documents"]
    sha256 = next(entry["sha256"] for entry in listed if entry["doc"] == PLAN)
    assert sha256 == hashlib.sha256(page.read_bytes()).hexdigest()  # the added file, not the folder's


def test_a_file_add_could_not_index_is_not_recorded_for_later_builds(work, tmp_path):
    """`gtindex add bad.pdf good.html` exits 3; the bad file was recorded all the same, so
    every later plain build skipped it again with exit 3, and `remove` could not drop it."""
    sources, index_dir = work
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"not a pdf at all")
    runner = CliRunner()
    added = runner.invoke(main, ["add", str(broken), str(HTML_DIR / PLAN), "--index", str(index_dir), "--json"])
    assert added.exit_code == 3, added.output
    assert broken.resolve() not in recorded_sources(index_dir)
    assert (HTML_DIR / PLAN).resolve() in recorded_sources(index_dir)
    again = runner.invoke(main, ["build", "--index", str(index_dir), "--json"])
    assert again.exit_code == 0 and not json.loads(again.output)["skipped"], again.output


def test_an_indexed_file_that_breaks_keeps_the_document_indexed_before(work, tmp_path):
    """A truncated download or a dangling link in place of an indexed file removed its
    document ("removed", exit 3): one bad file lost what the index held. A file that is gone
    still leaves."""
    from gtindex.search import Index

    sources, index_dir = work
    runner = CliRunner()

    def top_doc() -> str:
        with Index.open(index_dir) as index:
            return index.search(QUERIES[0], k=1)[0].doc

    good = (sources / STABILITY).read_bytes()
    (sources / STABILITY).write_bytes(good[:4000])  # truncated
    broken = runner.invoke(main, ["build", "--index", str(index_dir), "--json"])
    assert broken.exit_code == 3, broken.output
    report = json.loads(broken.stdout)
    assert report["removed"] == [] and report["documents"] == 3
    assert report["skipped"][0][0] == STABILITY and report["skipped"][0][1].endswith("the version indexed before is kept")
    assert top_doc() == STABILITY

    (sources / STABILITY).unlink()
    (sources / STABILITY).symlink_to(tmp_path / "nowhere.pdf")  # dangling
    assert runner.invoke(main, ["build", "--index", str(index_dir)]).exit_code == 3 and top_doc() == STABILITY

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / NEEDLESTICKS).write_bytes((sources / NEEDLESTICKS).read_bytes()[:3000])
    added = runner.invoke(main, ["add", str(bad / NEEDLESTICKS), str(PDF_DIR / DONATION), "--index", str(index_dir),
                                 "--json"])
    assert added.exit_code == 3 and json.loads(added.stdout)["removed"] == [], added.output
    with Index.open(index_dir) as index:
        assert {info.doc for info in index.documents} == {STABILITY, NEEDLESTICKS, DONATION, PLAN}

    (sources / STABILITY).unlink()  # gone, not broken
    gone = runner.invoke(main, ["build", "--index", str(index_dir), "--json"])
    assert gone.exit_code == 0 and json.loads(gone.stdout)["removed"] == [STABILITY], gone.output


def test_an_added_file_that_is_gone_names_the_remove_that_takes_it_out(work, tmp_path):
    """The advice was `gtindex build SOURCES`, which drops every document added from elsewhere."""
    sources, index_dir = work
    page = tmp_path / "x.pdf"
    shutil.copy(PDF_DIR / DONATION, page)
    runner = CliRunner()
    assert runner.invoke(main, ["add", str(page), "--index", str(index_dir)]).exit_code == 0
    page.unlink()

    stuck = runner.invoke(main, ["build", "--index", str(index_dir)])

    assert stuck.exit_code == 2
    assert stuck.stderr == (f"gtindex: error: recorded source {page.resolve()} no longer exists; put it back, "
                            f"or take its document out: `gtindex remove x.pdf --index {index_dir}`\n")
    assert runner.invoke(main, ["remove", "x.pdf", "--index", str(index_dir)]).exit_code == 0
    assert runner.invoke(main, ["build", "--index", str(index_dir)]).exit_code == 0


def test_a_copy_added_under_a_name_that_sorts_first_does_not_rename_the_document(work, tmp_path):
    """`add copy-a.pdf` (the same bytes as an indexed guidance) made copy-a.pdf the name hits,
    --json's "doc", list and show used; the old name became an alias."""
    from gtindex.search import Index

    sources, index_dir = work
    copy = tmp_path / "a-copy.pdf"
    shutil.copy(sources / STABILITY, copy)
    added = CliRunner().invoke(main, ["add", str(copy), "--index", str(index_dir), "--json"])
    assert added.exit_code == 0 and json.loads(added.stdout)["duplicates"] == [["a-copy.pdf", STABILITY]], added.output
    with Index.open(index_dir) as index:
        assert index.search(QUERIES[0], k=1)[0].doc == STABILITY
        assert index.find_document("a-copy.pdf").doc == STABILITY


def _embedded_hashes(index_dir: Path) -> dict[str, set[str]]:
    """Each document's vector keys: of every passage embedded and sentence vector read."""
    conn = sqlite3.connect(generations.current_generation(index_dir) / generations.SQLITE_FILE)
    hashes: dict[str, set[str]] = {}
    for doc, key in conn.execute(
            "SELECT doc, context_hash FROM spans JOIN documents USING (doc_id)"
            " UNION ALL SELECT doc, content_hash FROM passages JOIN documents USING (doc_id)"):
        hashes.setdefault(doc, set()).add(key)
    conn.close()
    return hashes


def test_adding_a_guidance_re_embeds_nothing_of_the_others(work, tmp_path):
    """A text is embedded with the long forms of the acronyms its own document defines, never
    another's: adding a guidance leaves every other document's embedded texts as they were,
    and embeds only its own texts that the index does not hold yet."""
    from gtindex.passages import content_hash

    _sources, index_dir = work
    before = _embedded_hashes(index_dir)
    conn = sqlite3.connect(generations.current_generation(index_dir) / generations.SQLITE_FILE)
    glossed = sum(stored != content_hash(text) for text, stored in conn.execute("SELECT text, content_hash FROM spans"))
    conn.close()
    assert glossed > 0  # the stability Q&A uses acronyms it defines: the property is not vacuous
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(PDF_DIR / DONATION, outside / DONATION)
    report = add_documents([outside / DONATION], index_dir)
    after = _embedded_hashes(index_dir)
    assert {doc: keys for doc, keys in after.items() if doc != DONATION} == before
    known = set().union(*before.values())
    assert report.embedded == len(after[DONATION] - known) > 0  # its own new texts, nothing else
