"""References a user types ("21 CFR 107.240", "506(c)", "Q3C"): which sentences cite them."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace

from .. import lexical
from .candidates import Span


def stated(conn: sqlite3.Connection, query: lexical.LexicalQuery, title_tokens: dict[int, list[str]], limit: int,
           doc_ids: list[int] | None) -> tuple[dict[tuple[str, ...], lexical.Citing], dict[int, tuple]]:
    """Where each of the query's references stands (lexical.citing), and doc_id → the
    references its title states ("Q3C(R8)"; `title_tokens`: doc_id → its title, tokenized).
    A reference that stands nowhere stands where the provision holding it does (lexical.provisions): "21 CFR
    107.240(a)" where the text says only "107.240", "21 CFR 50.25" where only other sections
    of part 50 stand, "ICH E6(R3)" where only E6(R2) is indexed.
    Without this, "21 CFR <section>(a)" found only "21 CFR" (in footnotes listing other
    sections) for 109 of the 111 sections of Title 21 that one document states."""
    if not query.references:
        return {}, {}
    cited: dict[tuple[str, ...], lexical.Citing] = {}
    titled: dict[int, tuple] = {}
    for phrase in query.references:
        for provision in lexical.provisions(phrase, query.title_21, query.says_section):
            found = lexical.citing(conn, provision, limit, doc_ids)
            docs = [doc_id for doc_id, tokens in title_tokens.items() if lexical.holds(tokens, provision)]
            if found.spans or found.headed_passages or docs:
                break
        cited[phrase] = found if provision == phrase else replace(found, exact=False)
        for doc_id in docs:
            titled[doc_id] = titled.get(doc_id, ()) + (phrase,)
    return cited, titled


def headed_passages(references: dict[tuple[str, ...], lexical.Citing]) -> set[int]:
    """The passages under a heading that holds one of the references."""
    return set().union(*(found.headed_passages for found in references.values()))


@dataclass
class Judged:
    """What the query's references say of each candidate sentence (span_id →)."""

    shares: dict[int, float] = field(default_factory=dict)  # share of them it cites
    placed: dict[int, float] = field(default_factory=dict)  # share of them its place holds
    by_provision: set[int] = field(default_factory=set)  # citing them only through a provision holding them


def judged(spans: dict[int, Span], references: dict[tuple[str, ...], lexical.Citing],
           titled: dict[int, tuple], footnotes: frozenset[int] = frozenset()) -> Judged:
    """Each candidate sentence against each typed reference, in one pass.

    - `shares`: the share of the query's references ("314.101(d)(5)", "3.3", "Q3C") that the
      sentence states, that head its section or that its document's title states. A user who
      types a section number means that place, which a sentence under the heading "3.3 Class
      2 Solvents" is, though it never says so, and "Q3C" means the guideline titled so.
    - `placed`: the share that its place holds: its section's heading ("4.1 Adequate
      Resources" for "ICH E6(R2) 4.1") or its document's title ("… Q10" for "ICH Q10 1.1").
      Among sentences citing as many references, those in the place a reference names come
      before those that mention it elsewhere ("see 4.1", a table of contents line, "ICH Q10"
      in another guideline's section 1.1). Not for a reference found only as a provision
      holding it: a heading naming 21 CFR 314.99(b) is not the place of "21 CFR 314.900",
      which nothing states.
    - `by_provision`: the sentences that cite the references only through a provision holding
      them ("21 CFR part 50" for "21 CFR 50.25", which nothing states): their hits say so."""
    result = Judged()
    for span_id, span in spans.items():
        # A query naming a document by its title ("ICH Q7 1.3") names its places in that
        # document: Q10's "1.3 Relationship of ICH Q10 to … ICH Q7" names both, and is not it.
        elsewhere = bool(titled) and span.doc_id not in titled
        cites, place, exact = 0, 0, []
        for phrase, found in references.items():
            headed = _headed(span, found, footnotes)
            named = phrase in titled.get(span.doc_id, ())
            if span.span_id in found.spans or headed or named:
                cites += 1
                exact.append(found.exact)
            place += found.exact and (headed or named) and not elsewhere
        if cites:
            result.shares[span_id] = cites / len(references)
            if not any(exact):
                result.by_provision.add(span_id)
        if place:
            result.placed[span_id] = place / len(references)
    return result


def _headed(span: Span, found: lexical.Citing, footnotes: frozenset[int]) -> bool:
    """Under a heading holding the reference. Not a footnote (`footnotes`: span ids): it sits
    under its page's section but is about its own anchor. The footnote "21 CFR 312.32(a)."
    under "Waiver Requests Under 21 CFR 314.99(b)" was the second hit for that query."""
    return span.span_id not in footnotes and any(p in found.headed_passages for p in span.passages)
