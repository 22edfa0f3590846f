"""manifest.json of a generation: what built it, its counts, its files' sizes and
sha256, and the sources and exclusions the next plain `gtindex build` starts from."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..errors import IndexError_
from .schema import INDEX_FORMAT

MANIFEST_FILE = "manifest.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()



def read_manifest(generation: Path) -> dict:
    manifest_path = Path(generation) / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexError_(f"{manifest_path} is missing; rebuild with `gtindex build --rebuild`") from None
    except (OSError, ValueError):
        raise IndexError_(f"{manifest_path} is damaged; rebuild with `gtindex build --rebuild`") from None
    if not isinstance(manifest, dict):
        raise IndexError_(f"{manifest_path} is damaged; rebuild with `gtindex build --rebuild`")
    problem = _manifest_shape_problem(manifest)
    if problem:
        raise IndexError_(f"{manifest_path} is damaged ({problem}); rebuild with `gtindex build --rebuild`")
    return manifest


# What readers take from a manifest, by key: the JSON type each must have when present.
MANIFEST_SHAPE = {"files": dict, "sha256": dict, "counts": dict, "sources": list, "excluded": list, "skipped": list}


def _manifest_shape_problem(manifest: dict) -> str:
    """Why the manifest's fields cannot be read as this gtindex writes them ("" if they can)."""
    for key, kind in MANIFEST_SHAPE.items():
        if key in manifest and not isinstance(manifest[key], kind):
            found = type(manifest[key]).__name__.replace("dict", "object").replace("list", "array")
            return f"its {key!r} is a JSON {found}, not {'an object' if kind is dict else 'an array'}"
    for name, size in manifest.get("files", {}).items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"its 'files' gives {name!r} a size that is not a number of bytes"
    return ""


def incompatibility(manifest: dict, model_name: str, dim: int) -> str:
    """Why an index with this manifest cannot be read or extended by this gtindex ("" if it can).

    Vectors of two models (or dimensions) must never be mixed in one index, and an older
    format lacks tables this version reads, so either means a rebuild from the sources.
    """
    expected = {"index_format": INDEX_FORMAT, "model": model_name, "dim": dim}
    found = {key: manifest.get(key) for key in expected}
    if found == expected:
        return ""
    built = ", ".join(f"{key} {value}" for key, value in found.items())
    wanted = ", ".join(f"{key} {value}" for key, value in expected.items())
    return f"was built with {built}; this gtindex needs {wanted}; rebuild with `gtindex build --rebuild`"


def sources(manifest: dict) -> list[str]:
    """The sources a generation was built from, as recorded (the next plain build's)."""
    return [s for s in manifest.get("sources", []) if isinstance(s, str)]


def excluded(manifest: dict) -> list[str]:
    """File names taken out with `gtindex remove` that a build over the sources leaves out."""
    return [s for s in manifest.get("excluded", []) if isinstance(s, str)]


def generation_manifest(built_with: Mapping, documents: Sequence, passages: int, spans: int,
                        skipped: Sequence[tuple[str, str]], sources: list[str], excluded: list[str],
                        fingerprint: str) -> dict:
    """The manifest a build publishes: `built_with` (model, dim, onnx_file, parser_version),
    counts, skipped files, sources, exclusions and fingerprint; write_manifest adds the rest."""
    return {
        **built_with,
        "counts": {
            "documents": len(documents),
            "pages": sum(doc.pages for doc in documents),
            "lines": sum(len(doc.lines) for doc in documents),
            "passages": passages,
            "spans": spans,
        },
        "skipped": [{"file": name, "reason": reason} for name, reason in skipped],
        "sources": sources,
        "excluded": excluded,
        "fingerprint": fingerprint,
    }


def fingerprint(header: Mapping, documents: Sequence, names: Mapping[str, dict[str, str]],
                passages: Sequence, spans: Sequence, links: Mapping) -> str:
    """sha256 of everything a generation holds, to skip writing one identical to the live one.

    `header`: what it was built with and from (model, parser, sources, excluded, skipped);
    then each document's name, sha256 and file names, each passage's and sentence's place
    and content hash, and each version link.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({**header, "format": INDEX_FORMAT}, sort_keys=True).encode())
    for doc in documents:
        digest.update(json.dumps([doc.doc, doc.sha256, names[doc.doc]], sort_keys=True).encode())
    for p in passages:
        digest.update(f"{p.doc}\0{p.seq_start}\0{p.seq_end}\0{int(p.footnote)}\0{p.content_hash}\n".encode())
    for s in spans:
        digest.update(f"{s.doc}\0{s.seq_start}\0{s.seq_end}\0{s.content_hash}\0{s.context_hash}\n".encode())
    for link in links.values():
        digest.update(f"{link.doc}\0{link.family}\0{link.role}\0{link.related}\n".encode())
    return digest.hexdigest()


def verified_sha256(generation: Path, manifest: dict, keys: Iterable[str]) -> dict[str, str]:
    """{key: sha256} of these files of `generation` if every one matches its manifest, else {}."""
    recorded = manifest.get("sha256", {})
    verified = {}
    for key in keys:
        path = generation / key
        if not path.is_file() or recorded.get(key) != file_sha256(path):
            return {}
        verified[key] = recorded[key]
    return verified


def write_manifest(gen_dir: Path, manifest: dict, known_sha256: dict[str, str] | None = None) -> dict:
    """Record every file's size and sha256, then write manifest.json.

    `known_sha256`: hashes of files hard-linked from a verified previous generation, so
    that the 90 MB query model is not hashed again by every update.
    """
    files = sorted(p for p in gen_dir.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    known = known_sha256 or {}
    manifest = dict(manifest)
    manifest["index_format"] = INDEX_FORMAT
    manifest["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest["files"] = {str(p.relative_to(gen_dir)): p.stat().st_size for p in files}
    manifest["sha256"] = {
        str(p.relative_to(gen_dir)): known.get(str(p.relative_to(gen_dir))) or file_sha256(p) for p in files
    }
    (gen_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
