"""Command-line interface: a thin layer over the library.

Import nothing heavy at module level: `gtindex --help`, `show` and `search` must start
fast, so each command imports what it needs inside its body (no torch on the query path).

Exit codes follow ripgrep: 0 found / done, 1 nothing found, 2 error.
`build`, `add` and `fetch` exit 3 when they finished but skipped some bad files.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

EXIT_FOUND = 0
EXIT_NOTHING = 1
EXIT_ERROR = 2
EXIT_PARTIAL = 3  # build finished, some files skipped (each reported)

DEFAULT_INDEX = "indexes/default"


class GtindexGroup(click.Group):
    """Turns expected errors into one clear line and exit 2, never a traceback."""

    def invoke(self, ctx):
        from .errors import GtindexError

        try:
            return super().invoke(ctx)
        except GtindexError as exc:
            click.echo(f"gtindex: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("gtindex: interrupted", err=True)
            sys.exit(130)


@click.group(cls=GtindexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gtindex")
def main() -> None:
    """Citation-precise search over FDA guidance PDFs and resource pages."""


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
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10),
              help="Extra attempts after a timeout, dropped connection or 5xx.")
@click.option("--max-mb", default=100.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest file accepted, in MB.")
@click.option("--build/--no-build", default=None,
              help="Update the index afterwards [default: when the index exists and something was downloaded].")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: downloaded, skipped, failed, ignored.")
def fetch(pages, url_lists, mirror, corpus, timeout, retries, max_mb, build, index_dir, as_json):
    """Download new or revised guidances into the corpus, then update the index."""
    import json

    from .fetch import MB, FetchOptions
    from .fetch import fetch as fetch_documents

    if not pages and not url_lists:
        if not Path(DEFAULT_URL_LIST).is_file():
            raise click.UsageError(f"nothing to fetch: give --page HTML_FILE_OR_URL or --urls FILE (or create {DEFAULT_URL_LIST})")
        url_lists = (Path(DEFAULT_URL_LIST),)
    options = FetchOptions(corpus=corpus, timeout=timeout, retries=retries, max_bytes=int(max_mb * MB), mirror=mirror)
    with _fetch_progress(enabled=not as_json and sys.stderr.isatty()) as progress:
        report = fetch_documents(options, pages, url_lists, progress)
    result = report.to_json()
    result["build"] = _build_after_fetch(build, Path(index_dir), corpus, bool(report.downloaded), quiet=as_json)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_fetch_report(result, corpus)
    build_skipped = bool(result["build"] and result["build"].get("skipped"))
    sys.exit(EXIT_PARTIAL if report.failed or build_skipped else EXIT_FOUND)


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


def _build_after_fetch(build: bool | None, index_dir: Path, corpus: Path, downloaded: bool, quiet: bool) -> dict | None:
    """Run the index update `--build/--no-build` asks for; None when none ran."""
    from . import store
    from .fetch import index_update_sources

    if build is None:
        build = downloaded and store.current_generation(index_dir) is not None
    if not build:
        return None
    sources, dropped = index_update_sources(index_dir, corpus)
    if dropped:
        shown = ", ".join(dropped[:3]) + (", ..." if len(dropped) > 3 else "")
        return {"updated": False, "reason": f"the index also holds {len(dropped)} documents not under {corpus} "
                f"({shown}); run `gtindex build {corpus} <your other sources> --index {index_dir}`"}
    from .build import build_index

    result = build_index(sources, index_dir, progress=not quiet and sys.stderr.isatty())
    skipped = [{"file": name, "reason": reason} for name, reason in result.skipped]
    return {"updated": True, "generation": result.generation, "documents": result.documents,
            "embedded": result.embedded, "reused": result.reused, "skipped": skipped}


def _print_fetch_report(result: dict, corpus: Path) -> None:
    from .render import sanitize_text

    for item in result["downloaded"]:
        click.echo(f"downloaded  {item['file']}  ({item['bytes'] / 1e6:.1f} MB)  {item['url']}")
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


if __name__ == "__main__":  # pragma: no cover
    main()
