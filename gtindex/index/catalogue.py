"""Document names: the catalogue of an index's file names, and the one resolver of a name
a user gives (`gtindex show`, `search --doc`, `versions`, `remove`).

A name stands for the file of that name, with or without its extension (.pdf, .html),
or given as a path; in another case, Unicode normal form or without another extension when
only one name is so spelled; or, six hex digits and more, for every name of the content
whose sha256 starts with it. A name that matches nothing is an error naming the close ones.
"""
from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from ..errors import GtindexError

SHA256_PREFIX_MIN = 6  # hex digits a sha256 prefix needs to stand for a document


@dataclass(frozen=True)
class Entry:
    """One file name of an indexed document."""

    name: str
    doc_id: int
    sha256: str
    path: str  # absolute path the file was read from


def catalogue(conn: sqlite3.Connection) -> dict[str, Entry]:
    """Every file name of the generation behind `conn`, by name."""
    rows = conn.execute(
        "SELECT doc_names.name, doc_names.doc_id, documents.sha256, doc_names.path"
        " FROM doc_names JOIN documents USING (doc_id)"
    )
    return {name: Entry(name, doc_id, sha256, path) for name, doc_id, sha256, path in rows}


def resolve(names: Mapping[str, str], name: str, index_dir: Path) -> set[str]:
    """The file names `name` stands for, among `names` ({file name: sha256}): itself (with or
    without extension, or as a path), or every name of the content whose sha256 starts
    with it. A second copy of a file is a second name of its document."""
    for candidate in (name, f"{name}.pdf", f"{name}.html", Path(name).name):
        if candidate in names:
            return {candidate}
    alike = _alike(names, name)
    if len(alike) == 1:
        return alike
    if len(alike) > 1:
        raise GtindexError(f"{name!r} could be {', '.join(sorted(alike))}; give the whole file name")
    prefix = name.casefold()
    if len(prefix) >= SHA256_PREFIX_MIN and all(c in "0123456789abcdef" for c in prefix):
        matches = {sha for sha in names.values() if sha.startswith(prefix)}
        if len(matches) > 1:
            raise GtindexError(f"sha256 prefix {name} matches {len(matches)} documents; give more digits")
        if matches:
            return {n for n, sha in names.items() if sha in matches}
    # A name typed short ("fda-gt-rare") is too unlike the whole one for difflib: names it
    # begins come first.
    begun = sorted(n for n in names if n.casefold().startswith(name.casefold()))
    close = list(dict.fromkeys(begun + get_close_matches(name, sorted(names), n=5, cutoff=0.5)))[:5]
    hint = f"; did you mean {', '.join(close)}?" if close else f"; `gtindex list --index {index_dir}` shows the names"
    raise GtindexError(f"no document named {name!r} in {index_dir}{hint}")


def _alike(names: Mapping[str, str], name: str) -> set[str]:
    """The names `name` spells another way: another case ("UPPER" for "UPPER.PDF"), another
    extension left out ("page" for "page.htm"), another Unicode normal form ("café" typed
    with a combining accent)."""
    def key(text: str) -> str:
        return unicodedata.normalize("NFC", text).casefold()

    wanted = key(Path(name).name)
    return {n for n in names if wanted in (key(n), key(Path(n).stem))}


def find(conn: sqlite3.Connection, name: str, index_dir: Path) -> Entry:
    """The document `name` stands for (see `resolve`), as the first of its matching names."""
    entries = catalogue(conn)
    return entries[min(resolve({n: e.sha256 for n, e in entries.items()}, name, index_dir))]
