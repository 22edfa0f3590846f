"""Shared test fixtures. Real data is the repository's own: corpus/ and eval/dev.jsonl."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
PDF_DIR = CORPUS / "pdf"
HTML_DIR = CORPUS / "html"
DEV_GOLD = REPO / "eval" / "dev.jsonl"
OWN_GOLD = REPO / "eval" / "own.jsonl"  # the developers' own queries, scored apart
UNSEEN_GOLD = REPO / "eval" / "unseen.jsonl"  # written later, to check changes chosen on the other two

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_sessionstart(session):
    if not PDF_DIR.is_dir():
        raise pytest.UsageError(f"the corpus is missing from {CORPUS}: the repository ships it (git checkout corpus)")


@pytest.fixture(scope="session")
def sources_meta() -> dict[str, dict]:
    """sources.json keyed by file name: title, pages, line_numbered, maxline, df, date, sha256."""
    return {entry["file"]: entry for entry in json.loads((CORPUS / "sources.json").read_text())}


@pytest.fixture(scope="session")
def dev_gold() -> list[dict]:
    return [json.loads(line) for line in DEV_GOLD.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory) -> Path:
    """ONE real index over the whole corpus (every PDF and web page), built once per session.

    Takes minutes (parsing ~1,300 pages and embedding every passage and sentence); every
    test that needs a real index shares it and must not modify it.
    """
    from gtindex.build import build_index

    prebuilt = os.environ.get("GTINDEX_TEST_CORPUS_INDEX")  # a developer's already-built corpus index
    if prebuilt:
        return Path(prebuilt)
    index_dir = tmp_path_factory.mktemp("corpus-index") / "index"
    report = build_index([CORPUS], index_dir)
    assert not report.skipped, report.skipped
    return index_dir


SMALL_INDEX_SOURCES = (PDF_DIR / "fda-gt-rare-diseases-draft-2018.pdf", HTML_DIR / "asgct-strategic-plan.html")


@pytest.fixture(scope="session")
def small_index(tmp_path_factory) -> Path:
    """A real index over one line-numbered guidance PDF and one web page, built once per session.

    About a minute to build (the model load dominates). Shared: a test that damages or
    extends an index works on a copy (see test_index_faults.copy_index).
    """
    import shutil

    from gtindex.build import build_index

    sources = tmp_path_factory.mktemp("small-index-sources")
    for source in SMALL_INDEX_SOURCES:
        shutil.copy(source, sources / source.name)
    index_dir = tmp_path_factory.mktemp("small-index") / "index"
    report = build_index([sources], index_dir)
    assert not report.skipped, report.skipped
    return index_dir
