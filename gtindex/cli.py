"""Command-line interface: a thin layer over the library.

Import nothing heavy at module level: `gtindex --help`, `show` and `search` must start
fast, so each command imports what it needs inside its body (no torch on the query path).

Exit codes follow ripgrep: 0 found / done, 1 nothing found, 2 error.
`build`, `add` and `fetch` exit 3 when they finished but skipped some bad files.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

import click

EXIT_FOUND = 0
EXIT_NOTHING = 1
EXIT_ERROR = 2
EXIT_PARTIAL = 3  # build finished, some files skipped (each reported)

DEFAULT_INDEX = "indexes/default"
# Commands that only print what they read: a reader that stops reading (`| head`) got what it
# asked for, so that ends them with 0 as it ends ripgrep, not with click's 1 ("nothing found").
PRINTING_COMMANDS = frozenset({"parse", "list", "versions", "search", "show", "eval"})


OUTPUT_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})  # writing stdout failed


def _quiet_stdout() -> None:
    """Later writes to stdout (the interpreter's final flush) go nowhere instead of failing again."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class GtindexGroup(click.Group):
    """Turns expected errors into one clear line and exit 2, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        """The group's own options (`gtindex --bogus`) are parsed here, before `invoke`:
        their usage errors are one line too."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `gtindex`: the help, as click prints it
                raise
            from .render import sanitize_text

            click.echo(f"gtindex: error: {sanitize_text(exc.format_message())} (see `gtindex --help`)", err=True)
            sys.exit(EXIT_ERROR)

    def invoke(self, ctx):
        import sqlite3

        from .errors import GtindexError
        from .render import sanitize_text
        from .signals import Terminated, unwind_on_termination

        try:
            with unwind_on_termination():  # a build killed by SIGTERM cleans up as one stopped by Ctrl-C
                return super().invoke(ctx)
        except click.UsageError as exc:  # click's own form is three lines (Usage, Try, Error)
            command = f"gtindex {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "gtindex"
            click.echo(f"gtindex: error: {sanitize_text(exc.format_message())} (see `{command} --help`)", err=True)
            sys.exit(EXIT_ERROR)
        except GtindexError as exc:
            # messages quote file names and file content: never let them drive the terminal
            click.echo(f"gtindex: error: {sanitize_text(str(exc))}", err=True)
            sys.exit(EXIT_ERROR)
        except sqlite3.DatabaseError as exc:  # damaged pages surface only when a query reads them
            click.echo(f"gtindex: error: the index database is damaged ({sanitize_text(str(exc))}); "
                       "`gtindex doctor` checks it, `gtindex build --rebuild` rebuilds it", err=True)
            sys.exit(EXIT_ERROR)
        except Terminated as exc:
            click.echo(f"gtindex: terminated ({exc.name})", err=True)
            sys.exit(128 + exc.signum)
        except KeyboardInterrupt:
            click.echo("gtindex: interrupted", err=True)
            sys.exit(130)
        except UnicodeEncodeError as exc:  # PYTHONIOENCODING=ascii, LC_ALL=C: the text cannot be printed
            char = exc.object[exc.start] if isinstance(exc.object, str) else "?"
            _quiet_stdout()
            click.echo(f"gtindex: error: the output encoding ({exc.encoding}) cannot show {ascii(char)}; "
                       "use a UTF-8 locale (LANG=C.UTF-8) or PYTHONIOENCODING=utf-8, or --json", err=True)
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            if ctx.invoked_subcommand not in PRINTING_COMMANDS:
                raise
            _quiet_stdout()
            sys.exit(EXIT_FOUND)
        except OSError as exc:
            if exc.errno in OUTPUT_FAULTS and exc.filename is None:  # a write to stdout names no file
                _quiet_stdout()  # `> /dev/full`: the index was only read; the output could not be written
                click.echo(f"gtindex: error: cannot write the output ({exc.strerror}); free space where it goes",
                           err=True)
                sys.exit(EXIT_ERROR)
            # A fault no command foresaw (--index under a file, a folder where LOCK should be):
            # still one line naming the path, not a traceback with exit 1 ("nothing found").
            where = f"{sanitize_text(os.fsdecode(exc.filename))}: " if exc.filename is not None else ""
            click.echo(f"gtindex: error: {where}{exc.strerror or exc}; check that path and its permissions", err=True)
            sys.exit(EXIT_ERROR)


@click.group(cls=GtindexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gtindex")
def main() -> None:
    """Citation-precise search over FDA guidance PDFs and resource pages."""


_skip_teardown = False  # set by a command whose process holds nothing that needs cleaning up


def run() -> None:
    """The `gtindex` console command: `main`, and after a search, exit without the
    interpreter's teardown. Unloading onnxruntime, FAISS and numpy takes 60-100 ms of a
    fresh `gtindex search` (measured: 0.58 -> 0.43 s wall), and a read-only query has
    nothing to clean up: output is flushed first. Tests and scripts call `main`."""
    try:
        main()
    except SystemExit as done:
        if not _skip_teardown or not (done.code is None or isinstance(done.code, int)):
            raise
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe (`| head`) must not change the exit code
                stream.flush()
        os._exit(done.code or 0)


@contextlib.contextmanager
def _report_to_a_reader_that_may_stop():
    """A report printed once the work is done (an update, doctor): a reader that stops reading
    (`gtindex build | head -1`) must not change the exit code, which says how the work went
    (it was 1, "nothing found", with no message)."""
    try:
        yield
    except BrokenPipeError:
        _quiet_stdout()


def _once(ctx, param, values: tuple):
    """Callback of an option given at most once: `--doc A --doc B` searched B alone, without a word."""
    if len(values) > 1:
        raise click.BadParameter(f"give it once, not {len(values)} times ({', '.join(values)})", param=param)
    return values[0] if values else None


def index_option(func):
    return click.option(
        "--index",
        "index_dir",
        default=DEFAULT_INDEX,
        show_default=True,
        envvar="GTINDEX_INDEX",
        type=click.Path(file_okay=False),
        help="Index directory.",
    )(func)


# ------------------------------------------------------------------ parse


@main.command()
@click.argument("file", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the parsed document as one JSON object.")
def parse(file, as_json):
    """Parse one PDF or web page and print its lines as the index will store them."""
    from .documents import ParseError
    from .errors import GtindexError
    from .sources.ingest import parse_many
    from .render import render_document, sanitize_text, terminal_safe_json

    # In a worker process under the build's limits (CPU time, memory): a PDF that inflates to
    # gigabytes is skipped with the build's reason instead of taking the machine's memory.
    [(_path, document)] = parse_many([file], workers=1)
    if isinstance(document, ParseError):
        raise GtindexError(sanitize_text(str(document))) from None
    if as_json:
        click.echo(terminal_safe_json(document.to_json()))
    else:
        from .render import console

        # rich colours only a terminal and honours NO_COLOR; highlight=False keeps it from
        # colouring numbers and URLs inside document text.
        render_document(console(highlight=False), document)
    sys.exit(EXIT_FOUND)


# ------------------------------------------------------------------ build / search / show / eval

DEFAULT_CORPUS = Path("corpus")
# The development gold set the repository ships (eval/README.md gives its format).
DEFAULT_GOLD = Path("eval/dev.jsonl")


def _default_sources() -> list[Path]:
    """corpus/ (the repository's default corpus) when it holds documents."""
    from .sources.ingest import discover

    if DEFAULT_CORPUS.is_dir() and discover([DEFAULT_CORPUS]):
        return [DEFAULT_CORPUS]
    raise click.UsageError(f"no documents in {DEFAULT_CORPUS}/; give the folders or files to index")


def _update_options(func):
    """--no-wait and --json, shared by build, add and remove."""
    func = click.option("--json", "as_json", is_flag=True, help="Print the update report as one JSON object.")(func)
    return click.option("--no-wait", is_flag=True,
                        help="Refuse (exit 2) instead of waiting while another update of this index runs.")(func)


def _say_waiting(message: str) -> None:
    click.echo(f"gtindex: {message}", err=True)


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@index_option
@click.option("--workers", type=click.IntRange(min=1), help="Parallel parser processes [default: CPU count].")
@click.option("--rebuild", is_flag=True, help="Start afresh: reuse nothing from the existing index "
              "(needed after a change of model or index format).")
@_update_options
def build(sources, index_dir, workers, rebuild, no_wait, as_json):
    """Index PDFs and web pages (folders are searched recursively), or bring the index up to date.

    Without SOURCES an existing index is updated from the sources it was built from.
    Only new and changed files are parsed and embedded; files gone from the sources
    leave the index; documents taken out with `gtindex remove` stay out.
    """
    from .build import build_index, recorded_sources
    from .errors import GtindexError
    from .index import generations

    index_dir = Path(index_dir)
    if not sources:
        recorded = recorded_sources(index_dir)
        if not recorded and generations.holds_generations(index_dir):
            # a damaged index: corpus/ is the default for a new index, never for this one
            raise GtindexError(f"{index_dir} records no sources that can be read (its CURRENT or manifest is damaged); "
                               f"give them: `gtindex build --rebuild SOURCES --index {index_dir}`")
        # None: build_index reuses (and checks) the live generation's recorded sources
        sources = (recorded if rebuild else None) if recorded else _default_sources()
    report = build_index(sources, index_dir, progress=not as_json and sys.stderr.isatty(), workers=workers,
                         rebuild=rebuild, wait=not no_wait, on_wait=_say_waiting)
    _print_update(report, index_dir, as_json)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@click.option("--workers", type=click.IntRange(min=1), help="Parallel parser processes [default: CPU count].")
@_update_options
def add(files, index_dir, workers, no_wait, as_json):
    """Add PDFs or web pages to the index (a file named like an indexed one replaces it).

    The files join the index's recorded sources, so a later plain `gtindex build` keeps them.
    """
    from .build import add_documents

    report = add_documents(list(files), Path(index_dir), progress=not as_json and sys.stderr.isatty(),
                           workers=workers, wait=not no_wait, on_wait=_say_waiting)
    _print_update(report, Path(index_dir), as_json)


@main.command()
@click.argument("docs", nargs=-1, required=True)
@index_option
@_update_options
def remove(docs, index_dir, no_wait, as_json):
    """Take documents out of the index (by file name, name without extension, or sha256 prefix).

    The document stays out of later `gtindex build` runs over the same folders;
    `gtindex add FILE` brings it back.
    """
    from .build import remove_documents

    report = remove_documents(list(docs), Path(index_dir), wait=not no_wait, on_wait=_say_waiting)
    _print_update(report, Path(index_dir), as_json)


def _print_update(report, index_dir: Path, as_json: bool) -> None:
    """The build/add/remove report, and exit 3 when files were skipped."""
    with _report_to_a_reader_that_may_stop():
        _print_update_report(report, index_dir, as_json)
    sys.exit(EXIT_PARTIAL if report.skipped else EXIT_FOUND)


def _print_update_report(report, index_dir: Path, as_json: bool) -> None:
    import dataclasses

    from .render import sanitize_text, terminal_safe_json

    if as_json:
        click.echo(terminal_safe_json(dataclasses.asdict(report)))
    else:
        _print_update_text(report, index_dir)
    for name, reason in report.skipped:  # on stderr with --json too: a person reads these
        click.echo(f"skipped {sanitize_text(name)}: {sanitize_text(reason)}", err=True)


def _print_update_text(report, index_dir: Path) -> None:
    from .render import sanitize_text

    for label, names in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for name in names:
            click.echo(f"{label:8} {sanitize_text(name)}")
    for name, indexed_as in report.duplicates:
        click.echo(f"same content: {sanitize_text(name)} is indexed as {sanitize_text(indexed_as)}")
    if report.excluded:
        click.echo(f"left out {len(report.excluded)} documents taken out with `gtindex remove` "
                   f"({sanitize_text(', '.join(report.excluded[:3]))}{', ...' if len(report.excluded) > 3 else ''}); "
                   "`gtindex add FILE` brings one back")
    state = "up to date, nothing written" if report.up_to_date else f"{report.embedded} texts embedded, {report.reused} reused"
    click.echo(
        f"indexed {report.documents} documents, {report.pages} pages, {report.passages} passages "
        f"({state}) in {report.seconds:.1f}s -> {index_dir} ({report.generation})"
    )


@main.command(name="list")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"documents\": [...]}.")
def list_command(index_dir, as_json):
    """What the index holds: document, title, status, date, center, pages, line numbering, version role."""
    from .render import terminal_safe_json
    from .versions import indexed_documents

    entries = indexed_documents(Path(index_dir))
    if as_json:
        click.echo(terminal_safe_json({"documents": [entry.to_json() for entry in entries]}))
    else:
        from .render import console, render_document_list

        render_document_list(console(highlight=False), entries)
    sys.exit(EXIT_FOUND if entries else EXIT_NOTHING)


@main.command()
@click.argument("doc")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"doc\", \"versions\": [...]}.")
def versions(doc, index_dir, as_json):
    """The versions of a guidance side by side: draft, final, proposed revision, and which is current."""
    from .render import terminal_safe_json
    from .versions import document_versions

    name, entries = document_versions(Path(index_dir), doc)
    if as_json:
        click.echo(terminal_safe_json({"doc": name, "versions": [entry.to_json() for entry in entries]}))
    else:
        from .render import console, render_document_list

        render_document_list(console(highlight=False), entries, versions_of=name)
    sys.exit(EXIT_FOUND)


@main.command()
@click.argument("query", required=False)
@index_option
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="Number of hits.")
@click.option("--json", "as_json", is_flag=True, help='One JSON object {"query", "hits": [...]}.')
@click.option("--doc", callback=_once, multiple=True,
              help="Only this document (file name, with or without extension).")
@click.option("--status", type=click.Choice(["draft", "final"]), help="Only draft or only final guidances.")
@click.option("--since", type=click.IntRange(1900, 2100), help="Only documents dated this year or later.")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(["hybrid", "dense", "lexical"]),
              help="Retrieval used (dense and lexical alone are for measuring).")
@click.option("--include-superseded", is_flag=True,
              help="Also cite the text of a replaced version (a draft whose final is indexed) that its "
                   "final restates; by default only what the final lacks is cited from it, marked "
                   "[superseded by ...]. --doc always searches the document named.")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON lines {"id", "query"}; prints one JSON line {"id", "query", "hits"} per query.')
def search(query, index_dir, k, as_json, doc, status, since, mode, include_superseded, batch):
    """Search the index; every hit cites document, section, page and lines."""
    global _skip_teardown
    from .render import terminal_safe_json
    from .serve import served_search

    if (query is None) == (batch is None):
        raise click.UsageError("give a QUERY or --batch FILE (not both)")
    _skip_teardown = True
    filters = {"k": k, "doc": doc, "status": status, "since": since, "mode": mode,
               "include_superseded": include_superseded}
    hits = served_search(index_dir, query, filters) if batch is None else None  # `gtindex serve`, if running
    if hits is None:
        hits = _search_in_process(index_dir, query, filters, batch)
    if as_json:
        click.echo(terminal_safe_json({"query": query, "hits": [hit.to_json() for hit in hits]}))
        if not hits and batch is None:  # for the person running the script, as without --json
            click.echo("no matches" + _spelling_hint(index_dir, query), err=True)
    elif hits:
        from .lexical import build_query
        from .render import console, render_hits

        render_hits(console(), hits, build_query(query).words)
    else:
        click.echo("no matches" + (_spelling_hint(index_dir, query) if batch is None else ""), err=True)
    sys.exit(EXIT_FOUND if hits else EXIT_NOTHING)


def _spelling_hint(index_dir, query: str) -> str:
    """'; not in the index: "stoping" (did you mean "stopping"?)' for the query's words that
    no document holds; "" when every word stands somewhere (a filter left nothing)."""
    from .lexical import STOPWORDS, build_query, tokenize
    from .search.index import misspelled

    if build_query(query).empty:  # nothing a document could hold was typed
        common = [f'"{word}"' for word in dict.fromkeys(tokenize(query)) if word in STOPWORDS]
        if common:
            return f"; only words too common to search for ({', '.join(common[:5])}): add what to find"
        return "; no words to search for"
    unknown = misspelled(index_dir, query)
    if not unknown:
        return ""
    words = [f'"{word}"' + (f" (did you mean {_alternatives(near)}?)" if near else "") for word, near in unknown.items()]
    return "; not in the index: " + ", ".join(words)


def _alternatives(words: list[str]) -> str:
    quoted = [f'"{word}"' for word in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


@main.command()
@index_option
def serve(index_dir):
    """Keep the index loaded and answer `gtindex search` from it until Ctrl-C.

    While it runs, `gtindex search` on this index no longer loads numpy, FAISS and the
    query model in every process. Only the same user's searches use it; a rebuilt index
    is picked up by the next search.
    """
    from .serve import serve as run_server

    def ready(path) -> None:
        click.echo(f"gtindex: serving {index_dir} on {path}; Ctrl-C stops", err=True)

    run_server(Path(index_dir), ready=ready)
    sys.exit(EXIT_FOUND)

def _search_in_process(index_dir, query, filters: dict, batch: Path | None) -> list:
    """Open the index here; a --batch prints one JSON line per query and exits."""
    from .render import terminal_safe_json
    from .search import Index

    # One query per process: load the query model the cheapest way (a batch amortises it).
    with Index.open(index_dir, fast_start=batch is None) as index:
        if batch is not None:
            from .errors import GtindexError

            records = _batch_queries(batch)
            if filters["doc"] is not None:  # a mistake on the command line, not on a line of the file
                index.find_document(filters["doc"])
            found = False
            for record in records:
                try:
                    hits = index.search(record["query"], **filters)
                except GtindexError as exc:  # a bad query (empty, not UTF-8): say which line holds it
                    raise GtindexError(f"{batch}:{record['line']}: {exc}") from None
                found = found or bool(hits)
                click.echo(terminal_safe_json({"id": record["id"], "query": record["query"],
                                               "hits": [hit.to_json() for hit in hits]}, indent=None))
            sys.exit(EXIT_FOUND if found else EXIT_NOTHING)
        return index.search(query, **filters)


def _batch_queries(path: Path) -> list[dict]:
    """All records of a --batch file, checked before any search runs."""
    import json

    from .errors import GtindexError

    records = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GtindexError(f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                               "save the file as UTF-8") from None
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("query"), str):
                raise ValueError("no string field 'query'")
        except ValueError as exc:
            raise GtindexError(f'{path}:{number}: expected a JSON object {{"id", "query"}} ({exc})') from None
        records.append({"id": record.get("id", number), "query": record["query"], "line": number})
    return records


MAX_LINE_NUMBER = 10**9  # far beyond any document; SQLite cannot even compare numbers past 2**63


def _line_range(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        # "348–351" as a citation prints it (en dash), pasted back
        first, _, last = value.replace("\u2013", "-").replace("\u2014", "-").partition("-")
        low, high = int(first), int(last or first)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a line range like 348-354 or 12") from None
    if low < 1 or high < low:
        raise click.BadParameter(f"{value!r}: give A-B with 1 <= A <= B")
    if high > MAX_LINE_NUMBER:
        from .errors import GtindexError

        raise GtindexError(f"--lines {value}: no document has a line {high}; line numbers go up to {MAX_LINE_NUMBER:,}")
    return low, high


@main.command()
@click.argument("doc")
@click.option("--lines", "numbers", callback=_line_range, metavar="A-B",
              help="Printed line numbers; paragraph numbers on web pages; with --page, lines on that page "
                   "for PDFs without printed numbers.")
@click.option("--page", type=click.IntRange(min=1), help="Physical PDF page (1-based).")
@click.option("--footnote", type=click.IntRange(min=1), metavar="N",
              help="Footnote N, as a citation names it (\"p. 9, footnote 6\").")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the lines as one JSON object.")
def show(doc, numbers, page, footnote, index_dir, as_json):
    """Print exactly the cited lines of a document, with page label and section."""
    from .render import sanitize_text, terminal_safe_json
    from .search import Index

    if footnote is not None and numbers is not None:
        raise click.UsageError("give --footnote N or --lines A-B, not both")
    with Index.open(index_dir) as index:
        info, rows = index.footnote(doc, footnote, page) if footnote is not None else index.lines(doc, numbers, page)
        short = index.beyond(info, numbers, page) if numbers is not None else None
    if as_json:
        keys = ("page", "page_label", "line", "line_on_page", "kind", "section", "text", "footnote")
        click.echo(terminal_safe_json({"doc": info.doc, "title": info.title, "line_kind": info.line_kind,
                                       "lines": [{key: row[key] for key in keys} for row in rows]}))
    else:
        from .render import console, render_lines

        render_lines(console(), info, rows)
    if short:  # the lines that exist are printed; the exit code says the range was not all there
        click.echo(f"gtindex: warning: {sanitize_text(short)}", err=True)
        sys.exit(EXIT_PARTIAL)
    sys.exit(EXIT_FOUND)


@main.command(name="eval")
@click.argument("gold", required=False, default=DEFAULT_GOLD,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@index_option
@click.option("--mode", "modes", multiple=True, type=click.Choice(["hybrid", "dense", "lexical"]),
              help="Retrieval to score; repeat to compare [default: hybrid].")
@click.option("--json", "as_json", is_flag=True, help="Print scores and misses as JSON.")
def eval_command(gold, index_dir, modes, as_json):
    """Score search against a gold set (default eval/dev.jsonl): hit@1, hit@5, MRR@10, exact lines@1, per query style."""
    from .evaluate import evaluate, unheld_documents
    from .render import sanitize_text, terminal_safe_json
    from .search import Index

    with Index.open(index_dir) as index:
        reports = [evaluate(index, gold, mode) for mode in (modes or ("hybrid",))]
        unheld = unheld_documents(index, [result.query for result in reports[0].results])
    if unheld:
        shown = ", ".join(sanitize_text(name) for name in unheld[:3]) + (", ..." if len(unheld) > 3 else "")
        click.echo(f"gtindex: warning: {gold} names {len(unheld)} document{'s' if len(unheld) > 1 else ''} "
                   f"{index_dir} does not hold ({shown}); "
                   "their queries score as misses", err=True)
    if as_json:
        payload = [report.to_json() for report in reports]
        click.echo(terminal_safe_json(payload[0] if len(payload) == 1 else payload))
    else:
        from .render import console, render_eval

        render_eval(console(), reports)
    sys.exit(EXIT_FOUND)


DEFAULT_FETCH_CORPUS = "corpus/pdf"
DEFAULT_URL_LIST = "corpus/urls.txt"


@main.command()
@click.option("--page", "pages", multiple=True, metavar="HTML_FILE_OR_URL",
              help="Resource page whose guidance links (.pdf, /media/<id>/download) are fetched. Repeatable.")
@click.option("--urls", "url_lists", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"File with one URL per line, # comments (default {DEFAULT_URL_LIST} when no --page).")
@click.option("--from", "mirror", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Mirror folder for air-gapped sites: URLs are resolved to files here, no network.")
@click.option("--corpus", default=DEFAULT_FETCH_CORPUS, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder the PDFs are written to.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds to connect and for each read.")
@click.option("--deadline", default=600.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds one download may take in all (a server sending a byte at a time never hits --timeout).")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10),
              help="Extra attempts after a timeout, dropped connection or 5xx.")
@click.option("--max-mb", default=100.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest file accepted, in MB.")
@click.option("--build/--no-build", default=None,
              help="Update the index afterwards [default: when the index exists and something was downloaded].")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: downloaded, skipped, failed, ignored.")
def fetch(pages, url_lists, mirror, corpus, timeout, deadline, retries, max_mb, build, index_dir, as_json):
    """Download new or revised guidances into the corpus, then update the index."""
    from .fetch_update import build_after_fetch
    from .render import terminal_safe_json
    from .sources.fetch import FetchOptions
    from .sources.fetch import fetch as fetch_documents
    from .sources.transport import MB

    if not pages and not url_lists:
        if not Path(DEFAULT_URL_LIST).is_file():
            raise click.UsageError(f"nothing to fetch: give --page HTML_FILE_OR_URL or --urls FILE (or create {DEFAULT_URL_LIST})")
        url_lists = (Path(DEFAULT_URL_LIST),)
    options = FetchOptions(corpus=corpus, timeout=timeout, deadline=deadline, retries=retries,
                           max_bytes=int(max_mb * MB), mirror=mirror)
    with _fetch_progress(enabled=not as_json and sys.stderr.isatty()) as progress:
        report = fetch_documents(options, pages, url_lists, progress)
    result = report.to_json()
    result["build"] = build_after_fetch(build, Path(index_dir), corpus, bool(report.downloaded), quiet=as_json)
    with _report_to_a_reader_that_may_stop():
        if as_json:
            click.echo(terminal_safe_json(result))
        else:
            _print_fetch_report(result, corpus)
    build = result["build"]
    index_incomplete = bool(build and (not build["updated"] or build["skipped"]))
    sys.exit(EXIT_PARTIAL if report.failed or index_incomplete else EXIT_FOUND)


@contextlib.contextmanager
def _fetch_progress(enabled: bool):
    """A rich progress bar on stderr (terminals only); yields the fetch progress callback or None."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    from .render import sanitize_text

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("fetching", total=None)

        def update(done: int, total: int, url: str) -> None:
            bar.update(task, completed=done, total=total, description=sanitize_text(url[-60:]) or "done")

        yield update


def _print_fetch_report(result: dict, corpus: Path) -> None:
    from .render import sanitize_text

    for item in result["downloaded"]:
        click.echo(f"downloaded  {item['file']}  ({item['bytes'] / 1024:,.0f} KiB)  {item['url']}")
    for item in result["skipped"]:
        click.echo(f"skipped     {item['file']}  ({item['reason']})  {item['url']}")
    for item in result["failed"]:
        click.echo(f"failed      {item['url']}: {sanitize_text(item['reason'])}")
    if result["ignored"]:
        click.echo(f"ignored     {len(result['ignored'])} links that are not guidance documents (--json lists them)")
    click.echo(f"{len(result['downloaded'])} downloaded, {len(result['skipped'])} skipped, "
               f"{len(result['failed'])} failed -> {corpus}")
    build = result["build"]
    if build and build["updated"]:
        click.echo(f"index updated: {build['documents']} documents ({build['generation']})")
        for item in build["skipped"]:
            click.echo(f"index skipped {item['file']}: {sanitize_text(item['reason'])}")
    elif build:
        click.echo(f"index not updated: {build['reason']}", err=True)


# ------------------------------------------------------------------ doctor


@main.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as one JSON object.")
@click.option("--no-build-model", is_flag=True, help="Skip loading the bundled build model (no torch; faster).")
def doctor(index_dir, as_json, no_build_model):
    """Check an index: files against the manifest, SQLite and FTS5 integrity, vectors, models."""
    from .doctor import diagnose

    report = diagnose(Path(index_dir), build_model=not no_build_model)
    with _report_to_a_reader_that_may_stop():
        _print_report(report, index_dir, as_json)
    sys.exit(EXIT_FOUND if report.ok else EXIT_ERROR)


def _print_report(report, index_dir, as_json: bool) -> None:
    from .render import sanitize_text, terminal_safe_json

    if as_json:
        click.echo(terminal_safe_json(report.to_json()))
    else:
        for check in report.checks:
            click.echo(f"{'ok' if check.ok else 'FAIL':<4}  {check.name}: {sanitize_text(check.detail)}")
        failed = len(report.failed)
        click.echo(f"{index_dir}: " + (f"{failed} of {len(report.checks)} checks failed" if failed else "healthy"))


if __name__ == "__main__":  # pragma: no cover
    main()
