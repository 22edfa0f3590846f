"""Document → passages (what is retrieved) and spans (what is cited).

A *passage* is a window of consecutive lines inside ONE section of one document,
sized for MiniLM (which truncates at 256 word pieces) and overlapping its neighbour by
about half, so that an answer never falls on a window boundary. The document's title and
the section path are part of what is embedded and lexically indexed: "Human Gene Therapy
for Rare Diseases" and "Safety Considerations" tell the model what the lines are about
even when the lines themselves never say it.

A *span* is one sentence (or bullet item, heading, footnote) mapped to the lines it
occupies. Spans are embedded at build time so that search can cite the tightest run of
lines inside a retrieved passage without running the model over candidate sentences.
A sentence's vector is read inside the passage around it (late chunking, `reading_places`):
the passage goes through the model once, and the sentence's vector is the mean of the
model's output vectors for the sentence's own word pieces, so it carries what the passage
says around it. A sentence no passage's text holds is embedded after its title and section
path (Span.context_text).
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from . import acronyms
from .documents import KIND_FOOTNOTE, KIND_HEADING, Document, Line

# Word-piece budget for a passage's embed_text (title + section path + lines). MiniLM truncates at
# 256 including [CLS]/[SEP]; the target leaves room so that a window ending on a long line
# still fits, and the hard limit is never crossed unless a single line is longer.
TARGET_TOKENS = 150
MAX_TOKENS = 230
# Characters in a passage's lines, whatever their word-piece count: a word over 100 characters
# is one [UNK] word piece, so the token budget alone lets a window of such words grow without
# bound in what is stored and lexically indexed. Windows of real text (~1,000 characters for
# TARGET_TOKENS) never reach it; a single longer line (at most documents.MAX_LINE_CHARS) stands alone.
MAX_PASSAGE_CHARS = 8_000
# Spans longer than this many lines are cut into overlapping chunks: a citation should
# point at 1-4 lines, and a five-line sentence is rarely all needed.
MAX_SPAN_LINES = 4

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    doc: str
    section: str
    seq_start: int  # 0-based, inclusive, into Document.lines
    seq_end: int
    text: str  # the lines, joined by newlines
    footnote: bool = False
    title: str = ""  # the document's title
    gloss: str = ""  # long forms of the acronyms its heading and lines use (acronyms.gloss)

    @property
    def heading(self) -> str:
        """The title and the section path, one a line: what the lines are about."""
        return heading(self.title, self.section)

    @property
    def embed_text(self) -> str:
        """What is embedded (and, column by column, lexically indexed): the title, the
        section path, then the lines. The title tells "ANDAs: Stability Testing" from the
        other guidances' stability sections. Passage recall@20 (RRF of MiniLM and bm25) on
        dev, own and unseen.jsonl: 0.87/0.78/0.70 -> 0.84/0.78/0.80; hit@5 of search
        0.76/0.50/0.60 -> 0.75/0.55/0.62, MRR@10 0.625/0.427/0.486 -> 0.612/0.442/0.519.
        Then its gloss, in parentheses: the long forms its document defines for the acronyms
        it uses (passages and sentences alike; `glossary_of` says what that changed)."""
        return acronyms.glossed(under(self.heading, self.text), self.gloss)

    @property
    def content_hash(self) -> str:
        return content_hash(self.embed_text)


@dataclass(frozen=True)
class Span:
    doc: str
    seq_start: int
    seq_end: int
    text: str  # the sentence itself (not the whole lines it touches)
    heading: str = ""  # its document's title and section path (Passage.heading)
    gloss: str = ""  # long forms of the acronyms the sentence uses (acronyms.gloss)
    context_gloss: str = ""  # the same for the sentence after its heading
    reading_key: str = ""  # where its vector is read (reading_key()); "" = embed context_text

    @property
    def embed_text(self) -> str:
        """The sentence followed by its gloss: what its content_hash (its identity in the
        manifest) is of. Its vector is read in a passage instead (reading_places)."""
        return acronyms.glossed(self.text, self.gloss)

    @property
    def content_hash(self) -> str:
        return content_hash(self.embed_text)

    @property
    def context_text(self) -> str:
        """The sentence after its title and section path, followed by its gloss, as
        Passage.embed_text: what is embedded for a sentence no passage's text holds. (Up to
        index format 7 every sentence's vector was the unit mean of this embedding and the
        sentence's alone: with titled passages, on dev, own and unseen.jsonl, hit@5
        0.75/0.55/0.62 alone -> 0.75/0.57/0.68, MRR@10 0.612/0.442/0.519 ->
        0.612/0.500/0.568, exact lines@1 on dev 0.67 both; in context alone, 0.67 -> 0.44.)"""
        return acronyms.glossed(under(self.heading, self.text), self.context_gloss)

    @property
    def context_hash(self) -> str:
        """The key its vector is cached under: where it is read in a passage, or else the
        hash of its context_text."""
        return self.reading_key or content_hash(self.context_text)


@dataclass(frozen=True)
class Reading:
    """Where a sentence's vector is read: characters [start, end) of a passage's embed_text."""

    passage: int  # index into the passages
    start: int
    end: int


def reading_key(passage: Passage, reading: Reading) -> str:
    """The cache key of a vector read there: it changes when the passage's text does."""
    return content_hash(f"read\0{passage.content_hash}\0{reading.start}\0{reading.end}")


def read_in(passages: Sequence[Passage], spans: Sequence[Span]) -> tuple[list[Span], list[Reading | None]]:
    """The spans, each keyed by where its vector is read (reading_key), and those places."""
    places = reading_places(passages, spans)
    keyed = [replace(span, reading_key=reading_key(passages[place.passage], place)) if place else span
             for span, place in zip(spans, places)]
    return keyed, places


def reading_places(passages: Sequence[Passage], spans: Sequence[Span]) -> list[Reading | None]:
    """For each sentence, the passage of its document whose text holds it nearest the
    middle (most context on both sides), and its characters there; None when no passage's
    text holds it. On dev, own and unseen.jsonl, against the unit mean of the sentence
    embedded alone and after its heading (index format 7): MRR@10 0.652/0.610/0.634 ->
    0.657/0.653/0.622, hit@5 0.78/0.72/0.72 -> 0.78/0.75/0.72, exact lines@1 0.72/0.40/
    0.50 -> 0.72/0.47/0.50; with the seed-14 tuning, MRR@10 0.655/0.614/0.629 -> 0.668/
    0.643/0.623. Dev and own rise with both seeds, unseen falls a little with both. Dense
    only (no bm25) it is worse on dev and unseen, 0.574/0.589/0.633 -> 0.547/0.612/0.587:
    read in context, the sentences of one passage look more alike, which bm25 tells apart.
    (A first measurement, reading passages without their gloss and centring by word pieces
    instead of characters: 0.669/0.651/0.624; with the mean over every passage holding the
    sentence instead of the most central: 0.669/0.636/0.622.)"""
    by_doc: dict[str, list[int]] = {}
    for index, passage in enumerate(passages):
        by_doc.setdefault(passage.doc, []).append(index)
    flat: dict[int, tuple[str, list[int], int]] = {}  # passage index -> (collapsed text, map, body start)

    def flattened(index: int) -> tuple[str, list[int], int]:
        if index not in flat:
            passage = passages[index]
            body = len(under(passage.heading, "")) if passage.heading else 0
            flat[index] = (*_collapsed(passage.embed_text), body)
        return flat[index]

    places: list[Reading | None] = []
    for span in spans:
        sentence = " ".join(span.text.split())
        indexes = by_doc.get(span.doc, []) if sentence else []
        # The passages over its lines first; any passage of the document (a footnote's own
        # passage may lie elsewhere in the line order) only when none of those holds it.
        near = [i for i in indexes if passages[i].seq_start <= span.seq_end and span.seq_start <= passages[i].seq_end]
        best = _most_central(sentence, near, flattened) or _most_central(sentence, indexes, flattened)
        places.append(best)
    return places


def _most_central(sentence: str, indexes: list[int],
                  flattened: Callable[[int], tuple[str, list[int], int]]) -> Reading | None:
    """Where the sentence sits nearest the middle of one of these passages' text."""
    best: tuple[float, Reading] | None = None
    for index in indexes:
        collapsed, positions, body = flattened(index)
        found = collapsed.find(sentence)
        while found >= 0 and positions[found] < body:  # not in the title or section path
            found = collapsed.find(sentence, found + 1)
        if found < 0:
            continue
        start, end = positions[found], positions[found + len(sentence) - 1] + 1
        off_centre = abs((start + end) / 2 - (body + positions[-1] + 1) / 2)
        if best is None or off_centre < best[0]:
            best = (off_centre, Reading(index, start, end))
    return best[1] if best else None


def _collapsed(text: str) -> tuple[str, list[int]]:
    """The text with each run of whitespace one space, and each character's index in text."""
    chars: list[str] = []
    positions: list[int] = []
    for i, char in enumerate(text):
        if char.isspace():
            if chars and chars[-1] == " ":
                continue
            char = " "
        chars.append(char)
        positions.append(i)
    return "".join(chars), positions


def heading(title: str, section: str) -> str:
    return "\n".join(part for part in (title, section) if part)


def under(heading: str, text: str) -> str:
    """The text after its heading (title and section path), as it is embedded."""
    return f"{heading}\n{text}" if heading else text


def content_hash(text: str) -> str:
    """Embeddings are cached under this key: equal text is never embedded twice."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- grouping


@dataclass(frozen=True)
class _Block:
    """Consecutive lines of one section (or one footnote) that passages may not leave."""

    section: str
    seqs: list[int]
    footnote: bool


# A table-of-contents entry: a title, a dot leader, a page number. It repeats a heading that
# is indexed where it stands, and it never answers anything, so it is left out of passages.
_TOC_ENTRY = re.compile(r"(?:\.\s?){4,}\s*[\divxlcIVXLC]{0,6}\s*$")


def _blocks(document: Document) -> list[_Block]:
    """Body/heading lines split where the section changes; each footnote its own block.

    Table-of-contents entries belong to no block.

    A heading whose own section differs from the lines after it (parsers may file a
    heading under its parent) is moved into the block that follows it, so the heading
    text is embedded with the content it introduces.
    """
    body: list[_Block] = []
    footnotes: dict[tuple[int, int | None, str], list[int]] = {}
    for seq, line in enumerate(document.lines):
        if _TOC_ENTRY.search(line.text):
            continue
        if line.kind == KIND_FOOTNOTE:
            key = (line.page, line.footnote, line.section)
            footnotes.setdefault(key, []).append(seq)
            continue
        if body and body[-1].section == line.section:
            body[-1].seqs.append(seq)
        else:
            body.append(_Block(line.section, [seq], footnote=False))
    body = _attach_trailing_headings(body, document.lines)
    notes = [_Block(section, seqs, footnote=True) for (_, _, section), seqs in footnotes.items()]
    return body + notes


def _attach_trailing_headings(blocks: list[_Block], lines: list[Line]) -> list[_Block]:
    merged: list[_Block] = []
    carry: list[int] = []
    for block in blocks:
        seqs = carry + block.seqs
        carry = []
        trailing = 0
        while trailing < len(seqs) and lines[seqs[len(seqs) - 1 - trailing]].kind == KIND_HEADING:
            trailing += 1
        if trailing:
            carry = seqs[len(seqs) - trailing :]
            seqs = seqs[: len(seqs) - trailing]
        if seqs:
            merged.append(_Block(block.section, seqs, block.footnote))
    if carry:  # headings at the very end of the document form their own block
        merged.append(_Block(lines[carry[0]].section, carry, False))
    return merged


# --------------------------------------------------------------------------- passages


def _default_counter() -> TokenCounter:
    from .embedding import count_tokens

    return count_tokens


def make_passages(document: Document, count_tokens: TokenCounter | None = None) -> list[Passage]:
    """Overlapping windows of whole lines inside one section, each under MAX_TOKENS word pieces."""
    count = count_tokens or _default_counter()
    terms = glossary_of(document)
    passages: list[Passage] = []
    for block in _blocks(document):
        texts = [document.lines[seq].text for seq in block.seqs]
        head = heading(document.title, block.section)
        header = count([head])[0] if head else 0
        sizes = count(texts)
        for first, last in _windows(sizes, header, [len(text) + 1 for text in texts]):
            seqs = block.seqs[first : last + 1]
            text = "\n".join(document.lines[s].text for s in seqs)
            passages.append(
                Passage(
                    doc=document.doc,
                    section=block.section,
                    seq_start=seqs[0],
                    seq_end=seqs[-1],
                    text=text,
                    footnote=block.footnote,
                    title=document.title,
                    gloss=acronyms.gloss(under(head, text), terms),
                )
            )
    return passages


def glossary_of(document: Document) -> dict[str, str]:
    """The acronyms the document defines, each with its long form (acronyms.glossary). The
    long forms follow every text of the document that uses the short form alone when it is
    embedded (Passage.embed_text, Span.embed_text and context_text): "The TPP is part of
    the proprietary IND file" says little to MiniLM, "... (target product profiles;
    investigational new drug application)" says what it is about. Nothing is fitted.

    Measured with the shipped model on dev, own and unseen.jsonl, hit@1 / hit@5 / MRR@10,
    before -> after: dev 0.55/0.82/0.644 -> 0.56/0.78/0.652 (exact lines@1 0.67 -> 0.72),
    own 0.50/0.70/0.584 -> 0.53/0.72/0.610, unseen 0.55/0.72/0.614 -> 0.57/0.72/0.634;
    paraphrases' MRR@10 0.258/0.343/0.312 -> 0.245/0.362/0.327. With the tuning's seed-15
    model (before plural definitions were read, acronyms._PARENTHESIS), MRR@10 0.638 /
    0.565 / 0.593 -> 0.648 / 0.575 / 0.610; with seed 14, 0.643 / 0.597 / 0.629 -> 0.655 /
    0.614 / 0.627. Over the three seeds MRR@10 rises on dev and own each time, on unseen
    twice (seed 14: -0.002), and exact lines@1 on dev each time (0.67 -> 0.72, 0.67 -> 0.72,
    0.72 -> 0.78); dev hit@5 falls each time by one or two answers that move from rank 4-5
    to 6 (0.82 -> 0.78, 0.82 -> 0.80, 0.78 -> 0.75). The corpus's acronyms instead of the
    document's own (those most documents use left out, as for queries) scored no better
    (seed 13: 0.657 / 0.610 / 0.617; seed 15: 0.652 / 0.589 / 0.601), and would make a
    document's vectors depend on the rest of the corpus."""
    return acronyms.glossary(" ".join(line.text for line in document.lines))


def _windows(sizes: list[int], header: int, chars: list[int] | None = None) -> Iterator[tuple[int, int]]:
    """(first, last) index pairs of windows over lines with the given token sizes (and
    character counts, `chars`).

    A window grows until it reaches TARGET_TOKENS (never past MAX_TOKENS, nor past
    MAX_PASSAGE_CHARS characters unless one line is that long); the next one
    starts about half a window later, so every sentence up to half a window long lies
    wholly inside some window. A window that would end where the previous one ended
    (the next line is too long to join) adds nothing and is skipped.
    """

    lengths = chars or [0] * len(sizes)

    def window_end(start: int) -> tuple[int, int]:
        end, total, length = start, header + sizes[start], lengths[start]
        while (end + 1 < len(sizes) and total < TARGET_TOKENS and total + sizes[end + 1] <= MAX_TOKENS
               and length + lengths[end + 1] <= MAX_PASSAGE_CHARS):
            end += 1
            total += sizes[end]
            length += lengths[end]
        return end, total

    start, previous_end = 0, -1
    while start < len(sizes):
        end, total = window_end(start)
        if end <= previous_end:
            start = previous_end + 1
            continue
        yield start, end
        if end == len(sizes) - 1:
            return
        previous_end = end
        # Advance by about half the window's body tokens, at least one line.
        half = (total - header) / 2
        step, covered = 0, 0
        while start + step < end and covered + sizes[start + step] <= half:
            covered += sizes[start + step]
            step += 1
        start += max(step, 1)


# --------------------------------------------------------------------------- spans

# A sentence ends at . ? ! (plus closing quotes/brackets) followed by a space and a
# capital, digit, opening quote/bracket or bullet — unless the word before the period is
# a known abbreviation ("e.g.", "U.S.", "Ref.", "No.").
_SENTENCE_END = re.compile(r"[.?!][\"'”’)\]]*\s+(?=[A-Z0-9“\"'(\[•§])")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "u.s", "no", "nos", "sec", "secs", "ref", "refs", "fig", "figs", "vs",
    "dr", "mr", "ms", "al", "approx", "rev", "inc", "cf", "vol", "ch", "p", "pp", "para", "art", "st",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s.c",
}
# A line opening with a bullet or an enumerator starts a new span even without a period
# before it (list items often end in ";" or nothing).
# Bullets include the figure dash "‒" and "·" some FDA PDFs use, Word's "o" sub-bullet, and
# Symbol/Wingdings bullets, which PDFs carry as private-use code points (U+F0B7, U+F0A7).
_ITEM_START = re.compile(
    r"^\s*(?:[\-–—‒―*o]\s|[•▪◦●○■□◆❖➢►✓✔·\ue000-\uf8ff]\s?(?=\S)|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{2,4})[.)]\s)"
)


def make_spans(document: Document) -> list[Span]:
    """Sentences, list items and footnotes, each mapped to its lines.

    Headings are no spans: a heading repeats what the query asked about, so it would win
    the narrowing, but it never answers; the section path names it in the citation. A
    document that is headings only (a web page of titles and links) has nothing else to
    find, so there each heading is a span.
    """
    terms = glossary_of(document)
    spans: list[Span] = []
    for block in _blocks(document):
        for run in _runs(block, document.lines):
            spans.extend(_sentence_spans(document, run, terms))
    if not spans:
        for seq, line in enumerate(document.lines):
            if line.kind == KIND_HEADING:
                spans.extend(_sentence_spans(document, [seq], terms))
    return spans


def _runs(block: _Block, lines: list[Line]) -> Iterator[list[int]]:
    """Split a block at headings, list items and page-independent breaks into runs of prose."""
    run: list[int] = []
    for seq in block.seqs:
        line = lines[seq]
        if run and (line.kind == KIND_HEADING or _ITEM_START.match(line.text)):
            yield run
            run = []
        if line.kind != KIND_HEADING:
            run.append(seq)
    if run:
        yield run


def _sentence_spans(document: Document, run: list[int], terms: dict[str, str]) -> Iterator[Span]:
    lines = document.lines
    # Join the run's lines with single spaces, remembering where each line starts.
    offsets: list[int] = []
    parts: list[str] = []
    position = 0
    for seq in run:
        offsets.append(position)
        text = lines[seq].text.strip()
        parts.append(text)
        position += len(text) + 1
    joined = " ".join(parts)
    for begin, end in _sentence_bounds(joined):
        sentence = joined[begin:end].strip()
        if not sentence:
            continue
        first = _line_at(offsets, begin + (len(joined[begin:end]) - len(joined[begin:end].lstrip())))
        last = _line_at(offsets, end - 1 - (len(joined[begin:end]) - len(joined[begin:end].rstrip())))
        yield from _chunk(document, run[first : last + 1], sentence, terms)


# A list item's label alone ("3.", "b.", "ii.", "IV.", "2).") before the item's first
# sentence: the period ends the label, not a sentence, so the label stays with the item.
# Roman numerals in one case only, so that a footnote's "Id." stays a sentence.
_ITEM_LABEL = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z]|[ivxl]{2,5}|[IVXL]{2,5})[.)]+")
# A bare "Yes." or "No." (after a label: "A. Yes.") answers nothing without the sentence
# that gives the reason, so it stays with the next one.
_BARE_ANSWER = re.compile(r"(?:[A-Z][.)]\s*)?(?:Yes|No)[.,]")
# A source tag closing a run, "... value measured. (ICH Q2)", belongs to the sentence before
# it: a parenthesis with no sentence end inside it, and nothing after it.
_TRAILING_TAG = re.compile(r"\s*\((?:[^.?!]|[.?!](?=[^\s)]))*\)\s*")


def _sentence_bounds(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in _SENTENCE_END.finditer(text):
        so_far = text[start : match.start() + 1].strip()
        if _ITEM_LABEL.fullmatch(so_far) or _BARE_ANSWER.fullmatch(so_far):
            continue
        if _TRAILING_TAG.fullmatch(text, match.end()):
            continue
        word = text[start : match.start()].rsplit(None, 1)[-1] if text[start : match.start()].strip() else ""
        if text[match.start()] == "." and word.lower().rstrip(".").lstrip("(") in _ABBREVIATIONS:
            continue
        if text[match.start()] == "." and len(word) == 1 and word.isupper():
            continue  # an initial ("J. Smith") or a list label ("A.")
        yield start, match.end()
        start = match.end()
    if start < len(text):
        yield start, len(text)


def _line_at(offsets: list[int], position: int) -> int:
    index = 0
    for i, offset in enumerate(offsets):
        if offset <= position:
            index = i
        else:
            break
    return index


def _chunk(document: Document, seqs: list[int], sentence: str, terms: dict[str, str]) -> Iterator[Span]:
    context = heading(document.title, document.lines[seqs[0]].section)

    def span(first: int, last: int, text: str) -> Span:
        return Span(document.doc, first, last, text, context, gloss=acronyms.gloss(text, terms),
                    context_gloss=acronyms.gloss(under(context, text), terms))

    if len(seqs) <= MAX_SPAN_LINES:
        yield span(seqs[0], seqs[-1], sentence)
        return
    # A very long sentence: overlapping 3-line chunks, each embedded with its lines' text.
    for i in range(0, len(seqs) - 1, 2):
        part = seqs[i : i + 3]
        yield span(part[0], part[-1], " ".join(document.lines[s].text.strip() for s in part))
        if i + 3 >= len(seqs):
            break


def span_holders(passages: Sequence[Passage], spans: Sequence[Span]) -> list[tuple[int, int]]:
    """(span index, passage index) for every passage holding a span's lines whole: search
    scores a sentence by the passages around it. A sentence no window holds whole (one
    straddling two windows' ends) gets the passage starting nearest it, so every sentence
    has at least one."""
    by_doc: dict[str, list[tuple[int, int, int]]] = {}  # doc -> (seq_start, seq_end, index), sorted
    for index, passage in enumerate(passages):
        by_doc.setdefault(passage.doc, []).append((passage.seq_start, passage.seq_end, index))
    for windows in by_doc.values():
        windows.sort()
    reach = {doc: max(end - start for start, end, _ in windows) for doc, windows in by_doc.items()}
    pairs: list[tuple[int, int]] = []
    for span_index, span in enumerate(spans):
        windows = by_doc.get(span.doc)
        if not windows:
            continue
        # Windows starting at most `reach` lines before the span are the only ones that can hold it.
        low = bisect_left(windows, (span.seq_start - reach[span.doc],))
        high = bisect_right(windows, (span.seq_start, float("inf")))
        held = [index for start, end, index in windows[low:high] if end >= span.seq_end]
        if not held:
            nearest = min(windows, key=lambda w: (abs(w[0] - span.seq_start), w[0]))
            held = [nearest[2]]
        pairs.extend((span_index, index) for index in held)
    return pairs
