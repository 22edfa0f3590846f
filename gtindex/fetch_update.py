"""The index update after `gtindex fetch`: rebuild from the sources the index records plus the corpus.

Application layer (beside cli.py): it reads index/ and runs build, so sources/ never has to.
"""
from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

from .index import catalogue, generations, schema
from .index.manifest import read_manifest
from .index.manifest import sources as recorded_sources


def index_update_sources(index_dir: Path, corpus: Path) -> tuple[list[Path], list[str]]:
    """Sources to rebuild `index_dir` from after fetching into `corpus`, and indexed names they lack.

    `build_index` indexes exactly the sources it is given, so rebuilding from the corpus folder
    alone would drop documents the index got from elsewhere (e.g. ~/guidances). The sources
    are the ones the live manifest records (if it records any) plus the corpus folder; the caller
    must not rebuild while the second list is non-empty.
    """
    from .sources.ingest import discover  # bs4 and the parsers: only when an update runs

    generation = generations.current_generation(index_dir)
    if generation is None:
        return [corpus], []
    recorded = [Path(s) for s in recorded_sources(read_manifest(generation)) if Path(s).exists()]
    sources = list(dict.fromkeys([*recorded, corpus]))
    found = {path.name for path in discover(sources)}
    with closing(schema.connect_readonly(generation / generations.SQLITE_FILE)) as conn:
        indexed = set(catalogue.catalogue(conn))
    return sources, sorted(indexed - found)


def build_after_fetch(build: bool | None, index_dir: Path, corpus: Path, downloaded: bool, quiet: bool) -> dict | None:
    """Run the index update `--build/--no-build` asks for; None when none ran."""
    if build is None:
        build = downloaded and generations.current_generation(index_dir) is not None
    if not build:
        return None
    sources, dropped = index_update_sources(index_dir, corpus)
    if dropped:
        shown = ", ".join(dropped[:3]) + (", ..." if len(dropped) > 3 else "")
        return {"updated": False, "skipped": [], "reason": f"the index also holds {len(dropped)} documents not under {corpus} "
                f"({shown}); run `gtindex build {corpus} <your other sources> --index {index_dir}`"}
    from .build import build_index

    result = build_index(sources, index_dir, progress=not quiet and sys.stderr.isatty())
    skipped = [{"file": name, "reason": reason} for name, reason in result.skipped]
    return {"updated": True, "generation": result.generation, "documents": result.documents,
            "embedded": result.embedded, "reused": result.reused, "skipped": skipped}
