"""Shared test fixtures. Real data is read from ../shared beside the repo (never copied in)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GTINDEX_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
PDF_DIR = CORPUS / "pdf"
HTML_DIR = CORPUS / "html"
DEV_GOLD = SHARED / "eval" / "dev.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_sessionstart(session):
    if not PDF_DIR.is_dir():
        raise pytest.UsageError(f"shared test data not found at {SHARED}; set GTINDEX_SHARED")


@pytest.fixture(scope="session")
def sources_meta() -> dict[str, dict]:
    """sources.json keyed by file name: title, pages, line_numbered, maxline, df, date, sha256."""
    return {entry["file"]: entry for entry in json.loads((CORPUS / "sources.json").read_text())}


@pytest.fixture(scope="session")
def dev_gold() -> list[dict]:
    return [json.loads(line) for line in DEV_GOLD.read_text().splitlines() if line.strip()]
