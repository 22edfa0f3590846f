"""A search hit and its copy-ready citation.

Regulatory staff paste the `citation` string into submissions, so it must name exactly
the lines shown: printed margin numbers where the PDF has them, "p. 9 (PDF p. 11),
lines 5–9 on the page (computed)" where it does not, paragraph numbers on web pages and
footnote numbers for footnotes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .documents import (
    KIND_FOOTNOTE,
    LINE_KIND_PARAGRAPH,
    SECTION_SEPARATOR,
    STATUS_DRAFT,
)

EN_DASH = "\u2013"


@dataclass(frozen=True)
class CitedLine:
    page: int
    page_label: str | None
    line: int | None
    line_on_page: int
    text: str
    kind: str = "body"
    footnote: int | None = None

    def to_json(self) -> dict:
        return {
            "page": self.page,
            "page_label": self.page_label,
            "line": self.line,
            "line_on_page": self.line_on_page,
            "text": self.text,
        }


@dataclass
class Hit:
    rank: int
    doc: str
    title: str
    status: str
    date: str
    center: str
    section: str
    line_kind: str  # the document's: "printed" | "computed" | "paragraph"
    lines: list[CitedLine]  # the cited lines, in order
    context: str  # the passage the lines were found in
    score: float
    designation: str = ""  # "Draft Guidance for Industry", as printed on the cover; cited after the title
    superseded_by: str = ""  # name of the newer version when this guidance is superseded (versions.py)
    # No document searched states the reference as typed ("21 CFR 50.25"); this place states the
    # provision holding it ("21 CFR part 50"): search.references.stated.
    by_provision: bool = False
    citation: str = field(init=False)

    def __post_init__(self) -> None:
        self.citation = format_citation(self)

    @property
    def page_start(self) -> int:
        return self.lines[0].page

    @property
    def page_end(self) -> int:
        return self.lines[-1].page

    @property
    def page_label_start(self) -> str | None:
        return self.lines[0].page_label

    @property
    def page_label_end(self) -> str | None:
        return self.lines[-1].page_label

    @property
    def line_start(self) -> int | None:
        numbers = [line.line for line in self.lines if line.line is not None]
        return min(numbers) if numbers else None

    @property
    def line_end(self) -> int | None:
        numbers = [line.line for line in self.lines if line.line is not None]
        return max(numbers) if numbers else None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_json(self) -> dict:
        """The `gtindex search --json` contract; keep these names stable."""
        first, last = self.lines[0], self.lines[-1]
        return {
            "rank": self.rank,
            "doc": self.doc,
            "title": self.title,
            "status": self.status,
            "date": self.date,
            "center": self.center,
            "section": self.section,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "page_label_start": self.page_label_start,
            "page_label_end": self.page_label_end,
            "line_start": self.line_start,
            "line_end": self.line_end,
            "line_kind": self.line_kind,
            "computed_start": {"page": first.page, "line_on_page": first.line_on_page},
            "computed_end": {"page": last.page, "line_on_page": last.line_on_page},
            "text": self.text,
            "context": self.context,
            "score": round(self.score, 6),
            "citation": self.citation,
            "superseded_by": self.superseded_by or None,
            "by_provision": self.by_provision,
            "lines": [line.to_json() for line in self.lines],
        }


# --------------------------------------------------------------------------- sections

# "V.", "D.", "3.3", "IV.B.2", "(a)", "1)" at the start of a heading.
_SECTION_LABEL = re.compile(r"^\(?((?:[IVXLC]+|[A-Z]|[a-z]|\d+)(?:\.(?:\d+|[A-Za-z]))*)[.)]?\s+(\S.*)$")


def section_citation(section: str) -> str:
    """"V. CLINICAL … > D. Safety Considerations" → "V.D Safety Considerations".

    Numbered labels along the path are joined with dots; a label that already repeats
    its parent ("3" then "3.3") replaces it. The last heading's title follows.
    """
    parts = [part.strip() for part in section.split(SECTION_SEPARATOR) if part.strip()]
    if not parts:
        return ""
    labels: list[str] = []
    title = parts[-1]
    for part in parts:
        match = _SECTION_LABEL.match(part)
        if not match:
            continue
        label = match.group(1)
        if labels and label.startswith(labels[-1] + "."):
            labels[-1] = label
        else:
            labels.append(label)
        if part is parts[-1]:
            title = match.group(2)
    if not _SECTION_LABEL.match(parts[-1]):
        labels = []  # an unnumbered last heading: its title alone says where
    return f"{'.'.join(labels)} {title}".strip()


# --------------------------------------------------------------------------- citation


def _range(first, last) -> str:
    return f"{first}" if first == last else f"{first}{EN_DASH}{last}"


def _lines(first: int, last: int) -> str:
    """"line 6", "lines 6–8"."""
    return f"line {first}" if first == last else f"lines {_range(first, last)}"


def _pages(hit: Hit) -> str:
    first, last = hit.lines[0], hit.lines[-1]
    if not first.page_label or not last.page_label:
        return f"PDF {'p.' if first.page == last.page else 'pp.'} {_range(first.page, last.page)}"
    if first.page_label == last.page_label:
        return f"p. {first.page_label}"
    return f"pp. {first.page_label}{EN_DASH}{last.page_label}"


def _location(hit: Hit) -> str:
    lines = hit.lines
    if all(line.kind == KIND_FOOTNOTE for line in lines) and lines[0].footnote is not None:
        return f"{_pages(hit)}, {_footnotes(lines)}"
    if hit.line_kind == LINE_KIND_PARAGRAPH:
        if hit.line_start is None:
            return ""
        return f"\u00b6 {_range(hit.line_start, hit.line_end)}"
    if all(line.line is not None for line in lines):
        return f"{_pages(hit)}, {_lines(hit.line_start, hit.line_end)}"
    # No printed numbers on these lines: physical page and position on the page.
    first, last = lines[0], lines[-1]
    computed = "(computed)"
    if first.page == last.page:
        pdf = f" (PDF p. {first.page})" if first.page_label else ""
        where = f"p. {first.page_label}{pdf}" if first.page_label else f"PDF p. {first.page}"
        return f"{where}, {_lines(first.line_on_page, last.line_on_page)} on the page {computed}"
    # The positions are on physical pages, so those are named (`gtindex show --page N`).
    pdf = f" (PDF pp. {_range(first.page, last.page)})" if first.page_label and last.page_label else ""
    return (
        f"{_pages(hit)}{pdf}, from line {first.line_on_page} on PDF p. {first.page} "
        f"to line {last.line_on_page} on PDF p. {last.page} {computed}"
    )


def _footnotes(lines: list[CitedLine]) -> str:
    """"footnote 6", "footnotes 51–54" (lines running through several), "footnotes 3, 7"."""
    numbers = sorted({line.footnote for line in lines if line.footnote is not None})
    if len(numbers) == 1:
        return f"footnote {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"footnotes {_range(numbers[0], numbers[-1])}"
    return "footnotes " + ", ".join(map(str, numbers))


def format_citation(hit: Hit) -> str:
    """`Title (Date), § V.D Safety Considerations, p. 9, lines 348–354`."""
    head = hit.title or hit.doc
    designation = hit.designation
    # A draft is cited as one: most drafts' covers print "Guidance for Industry" with the
    # "Draft" on a banner line the title leaves out.
    if hit.status == STATUS_DRAFT and "draft" not in f"{head} {designation}".lower():
        designation = f"Draft {designation}" if designation else "Draft"
    if designation:
        head += f", {designation}"
    if hit.date:
        head += f" ({hit.date})"
    parts = [head]
    section = section_citation(hit.section)
    if section:
        parts.append(f"\u00a7 {section}")
    location = _location(hit)
    if location:
        parts.append(location)
    return ", ".join(parts)


def cited_line_from_row(row) -> CitedLine:
    return CitedLine(
        page=row["page"], page_label=row["page_label"], line=row["line"], line_on_page=row["line_on_page"],
        text=row["text"], kind=row["kind"], footnote=row["footnote"],
    )

