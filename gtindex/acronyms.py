"""Acronyms defined in the corpus, for query expansion and for the text that is embedded.

Guidances define their abbreviations inline: "analytical target profile (ATP)", "system
suitability testing (SST)". Users type either form, and neither the embedding model nor
bm25 knows that the two are the same thing. At build time every definition is collected
(the Schwartz & Hearst 2003 rule: the letters of the short form appear, in order, in the
words just before the parenthesis, the first letter starting a word); at query time a
query that uses one form is expanded with the other.

A sentence that uses only the short form ("The TPP is part of the proprietary IND file")
says little to the embedding model, which has rarely seen "TPP". So the text embedded for a
passage or a sentence carries, after it, the long forms its document defines for the
acronyms it uses (`glossary`, `gloss`); the stored and cited text is unchanged. Only the
document's own definitions are used, so a document's vectors never depend on the rest of
the corpus (adding a guidance re-embeds nothing else).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# "(ATP)", "(QbD)", "(PACMP)", "(Q&A)": 2-10 characters, at least two capitals. A plural
# "(ANDAs)" defines "ANDA" (lazy, so that the "s" is left to the optional plural; 40 of the
# default corpus's 304 acronyms were defined only in the plural, and so never matched).
_PARENTHESIS = re.compile(r"\(([A-Za-z][A-Za-z0-9&/-]{1,9}?)s?\)")
_WORD = re.compile(r"[^\W_][\w'’-]*")


def find_definitions(text: str) -> Iterable[tuple[str, str]]:
    """(short, long) pairs defined in the text."""
    for match in _PARENTHESIS.finditer(text):
        short = match.group(1)
        if sum(ch.isupper() for ch in short) < 2:
            continue
        words = _words_before(text, match.start(), min(len(short) + 5, 2 * len(short)))
        long = _long_form(short, words)
        if long:
            yield short, long


def _words_before(text: str, end: int, count: int) -> list[str]:
    """The last `count` words of text[:end], reading back only as far as they reach. Reading
    the whole of text[:end] at every parenthesis made a document's definitions quadratic in
    its length (0.8 s for the default corpus; a build reads them three times). A window
    holding more than `count` words holds them whole: only its first word can be cut."""
    width = 16 * count
    while True:
        start = max(0, end - width)
        words = _WORD.findall(text, start, end)
        if len(words) > count or start == 0:
            return words[-count:]
        width *= 2


def _long_form(short: str, words: list[str]) -> str | None:
    """The tail of `words` that spells `short` (letters in order, the first one starting the
    tail), preferring the tail whose word initials match most letters, then the shortest."""
    letters = [ch.lower() for ch in short if ch.isalnum()]
    best: tuple[int, int] | None = None
    found = None
    for start in range(len(words) - 1, -1, -1):
        candidate = words[start:]
        if len(candidate) > len(letters) + 2:
            break
        if candidate[0][0].lower() != letters[0] or not _spells(letters, " ".join(candidate).lower()):
            continue
        matched = _initials_matched(letters, candidate)
        if matched < max(2, math.ceil(0.6 * len(letters))):
            continue  # "class 2 ch3con (CH3)": letters found, but not as the words' initials
        rank = (matched, -len(candidate))
        if best is None or rank > best:
            best, found = rank, " ".join(candidate)
    return found


def _initials_matched(letters: list[str], words: list[str]) -> int:
    """How many letters, in order, start a word (hyphenated parts count as words)."""
    matched = 0
    for word in re.split(r"[\s-]+", " ".join(words)):
        if word and matched < len(letters) and word[0].lower() == letters[matched]:
            matched += 1
    return matched


def _spells(letters: list[str], text: str) -> bool:
    position = 0
    for letter in letters:
        position = text.find(letter, position)
        if position < 0:
            return False
        position += 1
    return True


@dataclass(frozen=True)
class Acronym:
    short: str
    long: str  # lower case
    documents: int  # documents using the short form: one in most of them explains nothing


def collect(documents: Iterable[str]) -> list[Acronym]:
    """Every acronym defined in the documents (each a whole document's text), with its most
    frequent long form."""
    texts = list(documents)
    seen: dict[str, Counter] = {}
    for text in texts:
        _count_definitions(text, seen)
    return [
        Acronym(short, forms.most_common(1)[0][0], sum(1 for text in texts if _uses(text, short)))
        for short, forms in sorted(seen.items())
    ]


def _count_definitions(text: str, seen: dict[str, Counter]) -> None:
    for short, long in find_definitions(text):
        seen.setdefault(short, Counter())[long.lower()] += 1


def glossary(text: str) -> dict[str, str]:
    """Short form → the long form (lower case) a document's text defines for it most often,
    in the order the text first defines them."""
    seen: dict[str, Counter] = {}
    _count_definitions(text, seen)
    return {short: forms.most_common(1)[0][0] for short, forms in seen.items()}


def gloss(text: str, terms: Mapping[str, str]) -> str:
    """The long forms of the acronyms in `terms` (a glossary) that the text uses without
    spelling them out, "; "-joined; "" when there are none."""
    words = " ".join(_WORD.findall(text.lower()))
    return "; ".join(long for short, long in terms.items() if _uses(text, short) and long not in words)


def glossed(text: str, long_forms: str) -> str:
    """The text as it is embedded: followed by its gloss (`gloss`) in parentheses, if any."""
    return f"{text} ({long_forms})" if long_forms else text


def _uses(text: str, short: str) -> bool:
    # The substring test first: most acronyms are absent from most documents, and a regex
    # scan of every document for every acronym cost the build ~27 s on the shared corpus.
    return short in text and re.search(rf"(?<![\w-]){re.escape(short)}s?(?![\w-])", text) is not None


def expand(query: str, acronyms: Iterable[Acronym]) -> str:
    """The query plus the other form of every acronym or long form it uses."""
    additions: list[str] = []
    lowered = " ".join(_WORD.findall(query.lower()))
    for acronym in acronyms:
        used_short = _uses(query, acronym.short)
        used_long = f" {acronym.long} " in f" {lowered} "
        if used_short and not used_long:
            additions.append(acronym.long)
        elif used_long and not used_short:
            additions.append(acronym.short)
    return f"{query} ({'; '.join(additions)})" if additions else query
