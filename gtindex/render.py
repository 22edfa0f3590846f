"""Terminal output: sanitising of document text before it reaches a terminal.

Document text comes from files we did not write. A PDF or web page can carry
escape sequences that move the cursor, retitle the window, hide text or, via
bidi overrides, make printed text read differently from what is stored. Every
piece of document text goes through `sanitize_text` before it is printed.
"""
from __future__ import annotations

import re

from .documents import KIND_FOOTNOTE

# ESC-introduced sequences (ECMA-48): CSI "ESC [ params final", OSC/DCS/SOS/PM/APC
# strings terminated by BEL or ST, and two-byte escapes. The 8-bit C1 forms
# (\x9b CSI, \x9d OSC, ...) are matched too. A string without its terminator is not
# swallowed to the end of the text: its introducer alone is removed (below), so stray
# C1 bytes from an odd PDF font never hide the words after them.
_ANSI_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                                    # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)  # OSC/DCS/... string
    | \x1b[ -/]*[0-~]                                                    # ESC c, ESC ( B, ...
    """,
    re.VERBOSE,
)

def console(**options):
    """A rich Console for a command's output. rich ends the process with exit 1 when the
    reader closes the pipe (`gtindex search ... | head`); this one raises BrokenPipeError
    instead, so the CLI decides what a closed pipe means (cli.PRINTING_COMMANDS)."""
    from rich.console import Console

    class PipeAwareConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return PipeAwareConsole(**options)


# C0 controls except \t and \n, DEL, C1 controls, and Unicode bidi controls
# (embeddings, overrides, isolates, marks) that can reorder what the reader sees.
_CONTROL_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]"
)


def sanitize_text(text: str) -> str:
    """Return `text` without terminal escape sequences, control characters or bidi overrides.

    Tabs and newlines are kept; a lone ESC or stray control byte is removed.
    """
    without_sequences = _ANSI_SEQUENCE.sub("", text)
    return _CONTROL_CHARS.sub("", without_sequences)


def sanitize_line(text: str) -> str:
    """`sanitize_text` for what must stay on one line (a file name, a title): newlines, carriage
    returns and tabs are shown as \\n, \\r and \\t, as `ls -b` shows them."""
    return sanitize_text(text).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


# Characters json.dumps(ensure_ascii=False) leaves raw but a terminal acts on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def terminal_safe_json(value, indent: int | None = 2) -> str:
    """JSON with readable non-ASCII text, but C1 controls and bidi overrides \\u-escaped.

    The data is unchanged (a JSON reader gets the exact text back); only the bytes that
    reach the terminal are safe. json already escapes C0 controls, ESC included.
    """
    import json

    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# --------------------------------------------------------------------------- search views
# Hits, shown lines and eval scores on a rich Console. Colour only when the console is a
# terminal (rich decides); every piece of document text passes through sanitize_text.

MARGIN = 6  # width of the line-number margin


def _highlighted(text: str, words: set[str], style: str = "bold yellow"):
    from rich.text import Text

    line = Text(sanitize_text(text))
    for word in sorted(words, key=len, reverse=True):
        # A query word matches its inflections ("rule" → "rules"): stems are at least 4 letters.
        stem = word if len(word) < 5 else word[: max(4, len(word) - 2)]
        line.highlight_regex(rf"(?i)\b{re.escape(stem)}\w*", style)
    return line


def _margin(number: int | None) -> str:
    return f"{number:>{MARGIN}} " if number is not None else " " * (MARGIN + 1)


def _margin_of(line: int | None, line_on_page: int, kind: str, footnote: int | None) -> str:
    """The printed number; a footnote's number ("fn 6", as its citation names it: `gtindex
    show DOC --footnote 6`), not a place on the page that reads like a printed line number."""
    if kind == KIND_FOOTNOTE and footnote is not None:
        return f"{'fn ' + str(footnote):>{MARGIN}} "
    return _margin(line if line is not None else line_on_page)


def render_hits(console, hits, words: set[str]) -> None:
    """Per hit: the citation, the cited lines with their numbers, a dimmed bit of context."""
    from rich.text import Text

    for hit in hits:
        head = Text(f"{hit.rank}. ", style="bold") + Text(sanitize_text(hit.citation), style="bold cyan")
        if hit.superseded_by:
            head += Text(f" [superseded by {sanitize_text(hit.superseded_by)}]", style="bold yellow")
        if hit.by_provision:
            # "In the documents searched": with --doc, another document may state it.
            head += Text(" [the reference as typed is not stated in the documents searched; this states the"
                         " provision holding it]", style="bold yellow")
        console.print(head, soft_wrap=True)  # a citation is copied whole: never broken across lines
        for line in hit.lines:
            margin = _margin_of(line.line, line.line_on_page, line.kind, line.footnote)
            console.print(Text(margin, style="dim") + _highlighted(line.text, words), soft_wrap=True)
        context = _context_after(hit)
        if context:
            console.print(Text(" " * (MARGIN + 1) + "… " + sanitize_text(context), style="dim"), soft_wrap=True)
        console.print()


def _context_after(hit, words: int = 24) -> str:
    """The start of the passage text that follows the cited lines, a hint of what comes next."""
    cited = hit.text
    context = hit.context
    position = context.find(cited)
    rest = context[position + len(cited):] if position >= 0 else ""
    return " ".join(rest.split()[:words])


def render_lines(console, document, rows) -> None:
    """`gtindex show`: the lines with page label and section headers where they change."""
    from rich.text import Text

    console.print(Text(sanitize_text(f"{document.doc} — {document.title}"), style="bold"))
    page = section = None
    for row in rows:
        if row["page"] != page and document.source_type == "pdf":
            page = row["page"]
            label = f"p. {row['page_label']} (PDF p. {page})" if row["page_label"] else f"PDF p. {page}"
            console.print(Text(label, style="cyan"))
        if row["section"] != section:
            section = row["section"]
            if section:
                console.print(Text("§ " + sanitize_text(section), style="dim"))
        margin = _margin_of(row["line"], row["line_on_page"], row["kind"], row["footnote"])
        console.print(Text(margin, style="dim") + Text(sanitize_text(row["text"])), soft_wrap=True)


def render_eval(console, reports) -> None:
    """Scores per mode and per query style, then each mode's misses."""
    from rich.table import Table
    from rich.text import Text

    from .evaluate import DEPTH

    table = Table(title="retrieval quality")
    for column in ("mode", "style", "n", "hit@1", "hit@5", "MRR@10", "exact lines@1", "hit@100"):
        table.add_column(column, justify="right" if column not in ("mode", "style") else "left")
    for report in reports:
        rows = [("all", report.overall)] + sorted(report.by_style.items())
        for style, scores in rows:
            exact = (
                f"{scores.exact_lines_at_1:.2f} (n={scores.line_numbered})"
                if scores.exact_lines_at_1 is not None else "-"
            )
            table.add_row(report.mode, style, str(scores.queries), f"{scores.hit_at_1:.2f}",
                          f"{scores.hit_at_5:.2f}", f"{scores.mrr_at_10:.3f}", exact, f"{scores.hit_at_100:.2f}")
    console.print(table)
    for report in reports:
        if not report.misses:
            continue
        console.print(f"\nmisses ({report.mode}): not in the top 5, or top hit cites lines outside gold ±1")
        for result in report.misses:
            expected = "; ".join(
                f"{g.doc} PDF p. {g.pdf_page}" + (f" lines {g.lines[0]}–{g.lines[1]}" if g.lines else "")
                for g in result.query.gold
            )
            rank = f"rank {result.rank}" if result.rank else f"not in the top {DEPTH}"
            console.print(Text.assemble((result.query.id, "bold"), f" ({result.query.style}, {rank}) ",
                                        sanitize_text(result.query.query)))
            console.print(Text(f"   expected: {expected}", style="green"))
            for citation in result.top:
                console.print(Text(f"   got:      {sanitize_text(citation)}", style="dim"))


# --------------------------------------------------------------------------- parse view


def render_document(console, document) -> None:
    """`gtindex parse`: a header, then per page a marker, section changes, and every line
    with its number in a right-aligned margin (a computed "page.line" marker, dimmed,
    where no number is printed); footnotes are marked."""
    from rich.text import Text

    console.print(Text(sanitize_text(document.title or document.doc), style="bold"), soft_wrap=True)
    console.print(Text(sanitize_text(_document_facts(document)), style="dim"), soft_wrap=True)
    markers = [_line_marker(line) for line in document.lines]
    width = max((len(marker) for marker, _printed in markers), default=1)
    page = section = previous = None
    for line, (marker, printed) in zip(document.lines, markers):
        if document.source_type == "pdf" and line.page != page:
            page = line.page
            console.print()
            console.print(Text(_page_marker(line), style="bold cyan"))
        if line.section != section:
            section = line.section
            if section:
                console.print(Text("§ " + sanitize_text(section), style="magenta"), soft_wrap=True)
        margin = Text(f"{marker:>{width}}  ", style="" if printed else "dim")
        continues_note = previous is not None and previous.kind == "footnote" and previous.footnote == line.footnote
        console.print(margin + _line_text(line, continues_note), soft_wrap=True)
        previous = line


def _document_facts(document) -> str:
    facts = [
        document.doc,
        document.source_type.upper(),
        document.status,
        document.date,
        document.center,
        f"{document.pages} page{'s' if document.pages != 1 else ''}" if document.source_type == "pdf" else "",
        f"{len(document.lines)} lines, {document.line_kind} numbers",
    ]
    return " · ".join(fact for fact in facts if fact)


def _line_marker(line) -> tuple[str, bool]:
    """The number shown in the margin and whether it is printed in the source."""
    if line.line is not None:
        return str(line.line), True
    return f"{line.page}.{line.line_on_page}", False


def _page_marker(line) -> str:
    label = f"printed page {sanitize_text(line.page_label)}" if line.page_label else "no printed page number"
    return f"── PDF page {line.page} · {label} ──"


def _line_text(line, continues_note: bool = False):
    """The line's text; a footnote's first line starts with "[footnote N]", the rest indent."""
    from rich.text import Text

    text = Text(sanitize_text(line.text), style="bold" if line.kind == "heading" else "")
    if line.kind == "footnote":
        note = f"[footnote {line.footnote}] " if line.footnote is not None else "[footnote] "
        return Text(" " * len(note) if continues_note else note, style="italic dim") + text
    return text


def render_document_list(console, entries, versions_of: str | None = None) -> None:
    """`gtindex list` (and `gtindex versions`): per document its facts, title and version role.

    Two or three short lines per document rather than a wide table, so that nothing is
    cut off in an 80-column terminal or a log file.
    """
    from rich.text import Text

    for entry in entries:
        facts = " · ".join([
            entry.status or "status unknown", entry.date or "undated", entry.center or "no center",
            f"{entry.pages} pages" if entry.source_type == "pdf" else "web page", entry.coverage,
            f"added {entry.added_at[:10]}",
        ])
        marker = "▸ " if versions_of == entry.doc else ""
        head = Text(marker + sanitize_line(entry.doc), style="bold")
        head += Text(f"  [{entry.role}]", style="yellow" if entry.role != "current" else "green")
        console.print(head, soft_wrap=True)
        console.print(Text("    " + sanitize_line(entry.title or "(no title)")), soft_wrap=True)
        console.print(Text("    " + sanitize_line(facts), style="dim"), soft_wrap=True)
        if entry.related:
            relation = "superseded by" if entry.role == "superseded" else "proposed revision of"
            console.print(Text(f"    {relation} {sanitize_line(entry.related)}", style="yellow"), soft_wrap=True)
        for name in entry.names[1:]:
            console.print(Text(f"    same content: {sanitize_line(name)}", style="dim"), soft_wrap=True)
