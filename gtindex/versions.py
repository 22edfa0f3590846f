"""Versions of one guidance: a draft and its final, a final and its proposed revision.

FDA publishes a guidance as a draft, then as a final that replaces it; ICH revises a
final guideline with a new draft (Q9 → Q9(R1) Step 2) while the final stays in force.
Documents are grouped into *families* (the same guidance in several versions) and each
gets a role:

- ``current``: the version in force (the newest final; the newest draft if there is none);
- ``superseded``: an older final, or a draft published before the final that replaced it;
- ``proposed-revision``: a draft newer than the family's final; the final stays current.

Two documents are versions of one guidance when their normalised titles match closely
(casefolded; "draft", "guidance for industry", revision markers such as "(R1)" and
"Step 2" removed; token Jaccard and difflib ratio both high), they carry the same
identifiers (Q9, GFI #142, GL29: tokens with digits), they come from the same issuer
(a shared center, or neither names one), and they are not two documents of one status
published the same month (a guideline and its annexes). Documents without a date cannot
be ordered and are never linked.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from dataclasses import dataclass
from difflib import SequenceMatcher

ROLE_CURRENT = "current"
ROLE_SUPERSEDED = "superseded"
ROLE_PROPOSED = "proposed-revision"

# Both must hold: Jaccard on content words guards against long shared prefixes
# ("ANDAs: Impurities in Drug Products" vs "... Drug Substances": 0.6), the character
# ratio against reworded titles that happen to share most words.
MIN_JACCARD = 0.75
MIN_RATIO = 0.8

_MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")],
        start=1,
    )
    for name in names
}

# Words that say what kind of document or which stage it is, not which guidance.
_BOILERPLATE = re.compile(
    r"\b(?:draft|final|revised|revision|guidance|guideline|for\s+industry|and\s+fda\s+staff|fda\s+staff"
    r"|for\s+comment\s+purposes\s+only|step\s*\d|fda\s+edition|(?:ich\s+)?harmoni[sz]ed\s+(?:tripartite\s+)?)\b"
)
_REVISION = re.compile(r"\(\s*r\d+\s*\)|\br\d+\b")  # "(R1)", "Q8(R2)", "q3c r8"
_ATTACHED_REVISION = re.compile(r"\b([a-z]+\d+[a-z]?)r\d+\b")  # "q8r2" in file-name-like titles
_STOPWORDS = frozenset("a an and as at by for from in into of on or the to with under".split())


@dataclass(frozen=True)
class Edition:
    """What versions.py needs to know of one indexed document."""

    doc: str
    title: str
    status: str  # "draft" | "final" | ""
    date: str  # "October 2020"
    center: str  # "CDER, CBER" | "ICH" | ""


@dataclass(frozen=True)
class VersionLink:
    doc: str
    family: str  # doc name of the family's current version (itself when standalone)
    role: str  # ROLE_CURRENT | ROLE_SUPERSEDED | ROLE_PROPOSED
    related: str = ""  # superseded by (superseded) / proposed revision of (proposed-revision)


def link_versions(editions: Iterable[Edition]) -> dict[str, VersionLink]:
    """Doc name → its family and role, for every edition given (standalone ones are current)."""
    editions = sorted(editions, key=lambda e: e.doc)
    links = {e.doc: VersionLink(e.doc, e.doc, ROLE_CURRENT) for e in editions}
    for family in _families(editions):
        links.update(_roles(family))
    return links


def normalise_title(title: str) -> str:
    """The title with case, kind-of-document words, revision markers and punctuation removed."""
    text = title.casefold().replace("’", "'")
    text = _REVISION.sub(" ", text)
    text = _ATTACHED_REVISION.sub(r"\1", text)
    text = re.sub(r"[^\w#]+", " ", text)
    text = _BOILERPLATE.sub(" ", text)
    words = [word for word in text.split() if word not in _STOPWORDS]
    return " ".join(words)


def same_guidance(a: Edition, b: Edition) -> bool:
    """Are these two documents versions of one guidance? (Symmetric.)"""
    if not _same_issuer(a.center, b.center):
        return False
    if a.status == b.status and date_key(a.date) == date_key(b.date):
        return False  # published together (ICH Q12 and its Annexes): companions, not versions
    first, second = normalise_title(a.title), normalise_title(b.title)
    if not first or not second:
        return False
    words_a, words_b = set(first.split()), set(second.split())
    if _identifiers(words_a) != _identifiers(words_b):
        return False
    jaccard = len(words_a & words_b) / len(words_a | words_b)
    return jaccard >= MIN_JACCARD and SequenceMatcher(None, first, second).ratio() >= MIN_RATIO


def date_key(date: str) -> tuple[int, int] | None:
    """(year, month) of a printed date such as "October 2020" or "2021"; None if absent."""
    years = [int(tok) for tok in re.findall(r"\b(?:19|20)\d\d\b", date)]
    if not years:
        return None
    months = [_MONTHS[tok] for tok in re.findall(r"[a-z]+", date.casefold()) if tok in _MONTHS]
    return years[-1], months[0] if months else 0


# --------------------------------------------------------------------------- grouping


def _same_issuer(a: str, b: str) -> bool:
    centers_a = {c.strip() for c in a.split(",") if c.strip()}
    centers_b = {c.strip() for c in b.split(",") if c.strip()}
    return bool(centers_a & centers_b) or (not centers_a and not centers_b)


def _identifiers(words: set[str]) -> set[str]:
    return {word for word in words if any(ch.isdigit() for ch in word)}


def _families(editions: list[Edition]) -> list[list[Edition]]:
    """Connected groups of two or more dated editions of one guidance.

    Only pairs sharing a content word are compared, which keeps this fast on thousands
    of documents.
    """
    dated = [e for e in editions if date_key(e.date) is not None and normalise_title(e.title)]
    by_word: dict[str, list[int]] = {}
    for i, edition in enumerate(dated):
        for word in set(normalise_title(edition.title).split()):
            by_word.setdefault(word, []).append(i)
    parent = list(range(len(dated)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    compared: set[tuple[int, int]] = set()
    for members in by_word.values():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if (i, j) in compared:
                    continue
                compared.add((i, j))
                if root(i) != root(j) and same_guidance(dated[i], dated[j]):
                    parent[root(j)] = root(i)
    groups: dict[int, list[Edition]] = {}
    for i, edition in enumerate(dated):
        groups.setdefault(root(i), []).append(edition)
    return [group for group in groups.values() if len(group) > 1]


def _roles(family: list[Edition]) -> dict[str, VersionLink]:
    """Roles inside one family (two of one status never share a date: see same_guidance)."""

    def newest(group: list[Edition]) -> Edition:
        return max(group, key=lambda e: (date_key(e.date), e.doc))

    finals = [e for e in family if e.status != "draft"]
    drafts = [e for e in family if e.status == "draft"]
    if finals:
        current = newest(finals)
        in_force = date_key(current.date)
        proposals = [d for d in drafts if date_key(d.date) > in_force]
        latest_proposal = newest(proposals) if proposals else None
    else:
        current = newest(drafts)
        in_force = date_key(current.date)
        latest_proposal = None
    links = {}
    for edition in family:
        when = date_key(edition.date)
        if edition is current or (edition.status == current.status and when == in_force):
            links[edition.doc] = VersionLink(edition.doc, current.doc, ROLE_CURRENT)
        elif edition is latest_proposal:
            links[edition.doc] = VersionLink(edition.doc, current.doc, ROLE_PROPOSED, related=current.doc)
        elif latest_proposal is not None and edition.status == "draft" and when > in_force:
            links[edition.doc] = VersionLink(edition.doc, current.doc, ROLE_SUPERSEDED, related=latest_proposal.doc)
        else:
            links[edition.doc] = VersionLink(edition.doc, current.doc, ROLE_SUPERSEDED, related=current.doc)
    return links


# --------------------------------------------------------------------------- reading an index


@dataclass(frozen=True)
class IndexedDocument:
    """One document as `gtindex list` and `gtindex versions` show it."""

    doc: str
    names: tuple[str, ...]  # every file name with this content (doc first)
    sha256: str
    source_type: str
    title: str
    status: str
    date: str
    center: str
    pages: int
    line_kind: str
    coverage: str  # "printed 1–421" | "computed" | "paragraphs 1–57"
    role: str
    related: str  # superseded by / proposed revision of ("" for current)
    family: str  # doc name of the family's current version
    added_at: str

    def to_json(self) -> dict:
        return {
            "doc": self.doc, "names": list(self.names), "sha256": self.sha256, "source_type": self.source_type,
            "title": self.title, "status": self.status, "date": self.date, "center": self.center,
            "pages": self.pages, "line_kind": self.line_kind, "coverage": self.coverage, "role": self.role,
            "superseded_by": self.related if self.role == ROLE_SUPERSEDED else None,
            "revision_of": self.related if self.role == ROLE_PROPOSED else None,
            "family": self.family, "added_at": self.added_at,
        }


_DOCUMENTS_SQL = """
SELECT d.doc_id, d.doc, d.sha256, d.source_type, d.title, d.status, d.date, d.center, d.pages, d.line_kind,
       d.added_at, v.role, rel.doc AS related, fam.doc AS family,
       (SELECT min(line) FROM lines l WHERE l.doc_id = d.doc_id) AS first_line,
       (SELECT max(line) FROM lines l WHERE l.doc_id = d.doc_id) AS last_line
FROM documents d
LEFT JOIN versions v ON v.doc_id = d.doc_id
LEFT JOIN documents rel ON rel.doc_id = v.related
LEFT JOIN documents fam ON fam.doc_id = v.family
ORDER BY d.doc
"""


def indexed_documents(index_dir: Path) -> list[IndexedDocument]:
    """Every document of the live generation, sorted by name."""
    from contextlib import closing

    from .embedding import DIM, MODEL_NAME
    from .index import generations, schema

    generation = generations.open_generation(index_dir, MODEL_NAME, DIM)
    with closing(schema.connect_readonly(generation.sqlite_path)) as conn:
        names: dict[int, list[str]] = {}
        for doc_id, name in conn.execute("SELECT doc_id, name FROM doc_names ORDER BY name"):
            names.setdefault(doc_id, []).append(name)
        return [_entry(row, names.get(row["doc_id"], [])) for row in conn.execute(_DOCUMENTS_SQL)]


def document_versions(index_dir: Path, name: str) -> tuple[str, list[IndexedDocument]]:
    """The document called `name` (any file name, or without extension) and every version of it, oldest first."""
    from .index.catalogue import resolve

    entries = indexed_documents(index_dir)
    wanted = resolve({n: e.sha256 for e in entries for n in e.names}, name, index_dir)
    found = next(e for e in entries if wanted & set(e.names))
    family = [e for e in entries if e.family == found.family]
    return found.doc, sorted(family, key=lambda e: (date_key(e.date) or (0, 0), e.doc))


def _entry(row, names: list[str]) -> IndexedDocument:
    if row["line_kind"] == "printed" and row["first_line"] is not None:
        coverage = f"printed {row['first_line']}–{row['last_line']}"
    elif row["line_kind"] == "paragraph" and row["first_line"] is not None:
        coverage = f"paragraphs {row['first_line']}–{row['last_line']}"
    else:
        coverage = "computed"
    return IndexedDocument(
        doc=row["doc"], names=(row["doc"], *(n for n in names if n != row["doc"])), sha256=row["sha256"],
        source_type=row["source_type"], title=row["title"], status=row["status"], date=row["date"],
        center=row["center"], pages=row["pages"], line_kind=row["line_kind"], coverage=coverage,
        role=row["role"] or ROLE_CURRENT, related=row["related"] or "", family=row["family"] or row["doc"],
        added_at=row["added_at"],
    )
