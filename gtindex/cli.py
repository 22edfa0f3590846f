"""Command-line interface: a thin layer over the library.

Import nothing heavy at module level: `gtindex --help`, `show` and `search` must start
fast, so each command imports what it needs inside its body (no torch on the query path).

Exit codes follow ripgrep: 0 found / done, 1 nothing found, 2 error.
`build`, `add` and `fetch` exit 3 when they finished but skipped some bad files.
"""
from __future__ import annotations

import sys

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


if __name__ == "__main__":  # pragma: no cover
    main()
