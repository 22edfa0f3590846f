"""Sources → a new index generation (documents, lines, passages, FTS5, vectors, query model).

Three ways to update an index, all ending in the same `_build`:

- `build_index(sources)`: the index holds exactly the files found under `sources`
  (less those taken out with `remove_documents`); `sources=None` reuses the sources
  recorded in the live generation's manifest.
- `add_documents(files)`: the live documents plus these files (a file named like an
  indexed one replaces it); the files join the recorded sources.
- `remove_documents(names)`: the live documents less these; the names are recorded as
  excluded, so a later `build_index` over the same folders does not bring them back
  (`add_documents` does).

Work already done is reused from the live generation: a file whose sha256 is unchanged
(and was parsed by the same parser version) is not parsed again, and a passage or
sentence whose text is unchanged is not embedded again (embeddings are cached under the
sha256 of the embedded text). Rows are written in document-name order, so any sequence
of updates writes the same rows, vectors and FTS5 statistics as a fresh build of the same
files. A build that would write what the live generation already holds writes nothing.

One bad file is reported and skipped; it never costs the rest of the build. A build that
fails or is killed leaves the live index as it was (see index/generations.py; rows are
written through index/staging.py, the one writer of an index).
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .documents import Document, ParseError
from .errors import GtindexError, IndexError_
from .index import catalogue, generations, lock, schema
from .index import manifest as manifests
from .index.staging import StagedGeneration
from .passages import Passage, Reading, Span, make_passages, make_spans, read_in
from .progress import ProgressFn, progress_reporter, timed_stage
from .versions import Edition, VersionLink, link_versions

if TYPE_CHECKING:  # torch is imported only when something is embedded
    from .embedding import SentenceTransformerEncoder

@dataclass
class BuildReport:
    documents: int = 0
    pages: int = 0
    passages: int = 0
    spans: int = 0
    embedded: int = 0  # texts embedded by this build
    reused: int = 0  # texts whose embedding came from the cache
    reparsed: int = 0  # files parsed by this build (the rest reused their parsed lines)
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    generation: str = ""
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (name, indexed as)
    added: list[str] = field(default_factory=list)  # file names new to the index
    changed: list[str] = field(default_factory=list)  # file names whose content changed
    removed: list[str] = field(default_factory=list)  # file names no longer indexed
    unchanged: int = 0  # file names indexed before and after with the same content
    excluded: list[str] = field(default_factory=list)  # found in the sources but removed earlier
    up_to_date: bool = False  # nothing to write: the live generation already holds this
    recovered: list[str] = field(default_factory=list)  # leftovers of killed builds removed


@dataclass(frozen=True)
class SourceFile:
    """One file to index: its name (the document's identity in citations) and content hash."""

    name: str
    path: Path  # absolute; a document kept by add/remove may no longer exist here
    sha256: str


@dataclass
class _Target:
    """What the new generation must hold."""

    files: list[SourceFile]
    sources: list[str]  # recorded in the manifest for the next plain `build`
    excluded: list[str]  # names `build` leaves out (taken out with `remove`)
    adding: list[str] = field(default_factory=list)  # `add`: its files' names; one at least must be indexed


@dataclass
class _Previous:
    """The live generation, the one the new generation reuses work from."""

    path: Path
    manifest: dict
    conn: sqlite3.Connection
    files: dict[str, SourceFile]  # every indexed name

    @property
    def sources(self) -> list[str]:
        return manifests.sources(self.manifest)

    @property
    def excluded(self) -> list[str]:
        return manifests.excluded(self.manifest)


Plan = Callable[["_Previous | None", BuildReport], _Target]


def parser_version() -> str:
    """Parsed lines are reused only from a build by the same parser version."""
    from .sources.ingest import PARSER_VERSION

    return PARSER_VERSION


# --------------------------------------------------------------------------- public


def build_index(
    sources: list[Path] | None,
    index_dir: Path,
    progress: bool | ProgressFn = False,
    workers: int | None = None,
    *,
    rebuild: bool = False,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> BuildReport:
    """Bring the index at `index_dir` in line with the files under `sources`.

    `sources=None`: the sources recorded by the previous build. `rebuild`: start afresh,
    reusing nothing (also the way out of an index built by another model or format).
    `wait`: wait for another update of this index to finish instead of refusing.
    """

    def plan(previous: _Previous | None, report: BuildReport) -> _Target:
        if sources is None:
            if previous is None or not previous.sources:
                raise GtindexError(f"{index_dir} records no sources to rebuild from; give the folders or files to index")
            missing = [s for s in previous.sources if not Path(s).exists()]
            if missing:
                raise GtindexError(_missing_source(Path(missing[0]), previous, index_dir))
            wanted = [Path(s) for s in previous.sources]
        else:
            wanted = list(map(Path, sources))
        excluded = previous.excluded if previous is not None else []
        files = _discover(wanted, report)
        report.excluded = sorted(f.name for f in files if f.name in excluded)
        files = [f for f in files if f.name not in excluded]
        if not files:
            _refuse_if_all_skipped(report)
            shown = ", ".join(str(s) for s in wanted)
            raise GtindexError(f"no PDF or HTML files found in {shown}; point `gtindex build` at a folder of guidances")
        return _Target(files, _absolute(wanted), excluded)

    return _update(Path(index_dir), plan, progress, workers, rebuild=rebuild, wait=wait, on_wait=on_wait)


def add_documents(
    files: list[Path],
    index_dir: Path,
    progress: bool | ProgressFn = False,
    workers: int | None = None,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> BuildReport:
    """Add (or replace, by file name) these files in the index; other documents stay as they are."""

    def plan(previous: _Previous | None, report: BuildReport) -> _Target:
        new = _discover(list(map(Path, files)), report)
        if not new:
            _refuse_if_all_skipped(report)
            raise GtindexError(f"no PDF or HTML files in {', '.join(map(str, files))}")
        kept = previous.files if previous is not None else {}
        by_name = {**kept, **{f.name: f for f in new}}
        recorded = previous.sources if previous is not None else []
        sources = list(dict.fromkeys(recorded + [s for s in _absolute(files) if not _inside(s, recorded)]))
        excluded = [name for name in (previous.excluded if previous else []) if name not in by_name]
        return _Target(sorted(by_name.values(), key=lambda f: f.name), sources, excluded, [f.name for f in new])

    return _update(Path(index_dir), plan, progress, workers, rebuild=False, wait=wait, on_wait=on_wait)


def remove_documents(
    names: list[str],
    index_dir: Path,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> BuildReport:
    """Take documents out of the index, by file name or sha256 prefix (all names of that content)."""
    if not generations.holds_generations(index_dir):  # before the lock: it would make the folder and a LOCK
        raise IndexError_(f"no index at {index_dir}; nothing to remove")

    def plan(previous: _Previous | None, report: BuildReport) -> _Target:
        if previous is None:
            raise IndexError_(f"no index at {index_dir}; nothing to remove")
        doomed: set[str] = set()
        for name in names:
            doomed |= catalogue.resolve({n: f.sha256 for n, f in previous.files.items()}, name, index_dir)
        kept = [f for name, f in sorted(previous.files.items()) if name not in doomed]
        if not kept:
            raise GtindexError(f"that would leave {index_dir} empty; delete the index directory instead")
        dropped = [f for f in previous.files.values() if f.name in doomed]
        sources = [s for s in previous.sources if s not in {str(f.path) for f in dropped}]
        # only a file that a later build would find again needs remembering as excluded
        found_again = {f.name for f in dropped if _inside(str(f.path), sources)}
        return _Target(kept, sources, sorted(set(previous.excluded) | found_again))

    return _update(Path(index_dir), plan, progress=False, workers=None, rebuild=False, wait=wait, on_wait=on_wait)


def _missing_source(source: Path, previous: _Previous, index_dir: Path) -> str:
    """What to do about a recorded source that is gone: its document can be taken out alone
    (a build given other sources would drop every document added from elsewhere)."""
    if previous.files.get(source.name) is not None and str(previous.files[source.name].path) == str(source):
        return (f"recorded source {source} no longer exists; put it back, or take its document out: "
                f"`gtindex remove {source.name} --index {index_dir}`")
    return (f"recorded source {source} no longer exists; put it back (a drive not mounted?), or give the "
            f"sources to index: `gtindex build SOURCES --index {index_dir}` (documents not under them leave the index)")


def recorded_sources(index_dir: Path) -> list[Path]:
    """The sources the live generation was built from ([] when none are recorded)."""
    try:
        live = generations.current_generation(index_dir)
        manifest = manifests.read_manifest(live) if live is not None else {}
    except IndexError_:
        return []  # a damaged index records nothing usable; `build --rebuild SOURCES` replaces it
    return [Path(s) for s in manifests.sources(manifest)]


# --------------------------------------------------------------------------- planning


def _discover(sources: list[Path], report: BuildReport) -> list[SourceFile]:
    """Files under `sources`, hashed, one per file name (sorted by name).

    Two different files with one name cannot both be cited by that name: a file named as a
    source wins over one found in a folder (without a word: that is how `add` replaces a
    document), else the first by path is indexed and the other reported as skipped.
    Identical files with one name (the same guidance in two folders) are one file. An entry that is not a readable
    regular file (a FIFO, a device, a dangling link, a link loop, an unreadable file or
    folder) is reported as skipped before anything opens it.
    """
    from .sources.ingest import discover, resolved_path, source_sha256

    def unlistable(folder: Path, reason: str) -> None:
        report.skipped.append((f"{folder}/", reason))

    # A file named as a source is the one its name means: `gtindex add other/x.html` replaces
    # the x.html of a recorded folder, in this update and in every later `gtindex build`.
    named = {resolved_path(Path(source)) for source in sources if not Path(source).is_dir()}
    found = [(path, resolved_path(path)) for path in discover(sources, on_skip=unlistable)]
    by_name: dict[str, SourceFile] = {}
    for path, resolved in sorted(found, key=lambda item: (item[0].name, item[1] not in named, str(item[1]))):
        try:
            sha256 = source_sha256(path)
        except ParseError as exc:
            report.skipped.append((path.name, exc.reason))
            continue
        file = SourceFile(path.name, resolved, sha256)
        first = by_name.get(file.name)
        if first is None:
            by_name[file.name] = file
        elif first.sha256 != file.sha256 and not (first.path in named and file.path not in named):
            report.skipped.append((str(path), f"another file named {file.name} ({first.path}) is indexed; rename one"))
    return sorted(by_name.values(), key=lambda f: f.name)


def _absolute(paths: list[Path]) -> list[str]:
    return list(dict.fromkeys(str(Path(p).resolve()) for p in paths))


def _inside(path: str, folders: list[str]) -> bool:
    return any(Path(path).is_relative_to(folder) for folder in folders)


# --------------------------------------------------------------------------- the update


def _update(
    index_dir: Path,
    plan: Plan,
    progress: bool | ProgressFn,
    workers: int | None,
    *,
    rebuild: bool,
    wait: bool,
    on_wait: Callable[[str], None] | None,
) -> BuildReport:
    report = BuildReport()
    started = time.perf_counter()
    with lock.write_faults(index_dir, lambda: report.passages + report.spans), lock.writer_lock(index_dir, wait=wait, on_wait=on_wait), \
            progress_reporter(progress) as report_progress:
        report.recovered = _recover(index_dir, rebuild)
        previous = None if rebuild else _open_previous(index_dir)
        try:
            with timed_stage(report.stage_seconds, "discover"):
                target = plan(previous, report)
            _build(index_dir, target, previous, report, report_progress, workers)
        finally:
            if previous is not None:
                previous.conn.close()
    report.skipped.sort()
    report.seconds = time.perf_counter() - started
    return report


def _recover(index_dir: Path, rebuild: bool) -> list[str]:
    try:
        return generations.recover(index_dir)
    except IndexError_:
        if rebuild:
            return []  # CURRENT itself is damaged: the rebuild replaces it
        raise


def _open_previous(index_dir: Path) -> _Previous | None:
    """The live generation, if there is one; an incompatible or damaged one is an error."""
    from .embedding import DIM, MODEL_NAME

    path = generations.current_generation(index_dir)
    if path is None:
        return None
    manifest = manifests.read_manifest(path)
    problem = manifests.incompatibility(manifest, MODEL_NAME, DIM)
    if problem:
        raise IndexError_(f"index {index_dir} {problem}")
    conn = schema.connect_readonly(path / generations.SQLITE_FILE)
    files = {name: SourceFile(name, Path(entry.path), entry.sha256) for name, entry in catalogue.catalogue(conn).items()}
    return _Previous(path, manifest, conn, files)


def _build(
    index_dir: Path,
    target: _Target,
    previous: _Previous | None,
    report: BuildReport,
    progress: ProgressFn,
    workers: int | None,
) -> None:
    with timed_stage(report.stage_seconds, "parse"):
        documents, names = _load_documents(target.files, previous, progress, workers, report)
    indexed = {name for doc_names in names.values() for name in doc_names}
    if not documents or (target.adding and not indexed & set(target.adding)):
        _refuse_if_all_skipped(report)
        raise GtindexError("none of the files could be indexed; the index was left unchanged")
    _forget_failed_additions(target, previous, indexed)
    _keep_what_failed(previous, documents, names, report)
    _count_changes(previous, documents, names, report)
    generations.pause_point("parsed")
    with timed_stage(report.stage_seconds, "split"):
        passages = [p for doc in documents for p in make_passages(doc)]
        spans = [s for doc in documents for s in make_spans(doc)]
        spans, places = read_in(passages, spans)
    with timed_stage(report.stage_seconds, "versions"):
        links = link_versions(
            Edition(doc.doc, doc.title, doc.status, doc.date, doc.center) for doc in documents
        )
    report.documents = len(documents)
    report.pages = sum(doc.pages for doc in documents)
    report.passages = len(passages)
    report.spans = len(spans)

    report.skipped.sort()
    report.duplicates.sort()
    fingerprint = manifests.fingerprint(_fingerprint_header(target, report), documents, names, passages, spans, links)
    # The same rows over intact files: nothing to write. A damaged live generation (a file
    # missing or cut short) is written afresh from the same rows, its vectors from the cache.
    if (previous is not None and previous.manifest.get("fingerprint") == fingerprint
            and not generations.damaged_file(previous.path, previous.manifest)):
        report.up_to_date = True
        report.reused = len(_texts_to_embed(passages, spans)) + len(_readings(spans, places))
        report.generation = previous.path.name
        return

    with timed_stage(report.stage_seconds, "embed"):
        vectors = _embeddings(passages, spans, places, previous, progress, report)
    generations.pause_point("embedded")
    with _staged_generation(index_dir) as staged:
        with timed_stage(report.stage_seconds, "write"):
            _write_rows(staged, documents, names, passages, spans, vectors, links, _added_at(previous))
        generations.pause_point("written")
        with timed_stage(report.stage_seconds, "model"):
            known_sha256 = _install_query_model(staged, previous)
        with timed_stage(report.stage_seconds, "publish"):
            final = staged.publish(_manifest(report, documents, passages, spans, target, fingerprint), known_sha256)
    report.generation = final.name


def _forget_failed_additions(target: _Target, previous: _Previous | None, indexed: set[str]) -> None:
    """A file `add` named for the first time and could not index is not recorded as a source:
    every later plain build would skip it again (exit 3), and `remove` could not take it out,
    since it is no document. (One recorded before stays: a tracked file that broke.)"""
    if not target.adding:
        return
    recorded = set(previous.sources) if previous is not None else set()
    target.sources = [s for s in target.sources
                      if s in recorded or Path(s).is_dir() or Path(s).name in indexed]


def _fingerprint_header(target: _Target, report: BuildReport) -> dict:
    """What a generation is built with and from, besides its rows (see manifest.fingerprint)."""
    from .embedding import MODEL_NAME

    return {"model": MODEL_NAME, "parser": parser_version(), "sources": target.sources,
            "excluded": target.excluded, "skipped": report.skipped}


def _refuse_if_all_skipped(report: BuildReport) -> None:
    """Every file given failed: nothing is written (exit 2), and the one line says why."""
    if report.skipped:
        raise GtindexError(
            "no source file could be indexed; the index was left unchanged: "
            + "; ".join(f"{name}: {reason}" for name, reason in sorted(report.skipped))
        )


def _keep_what_failed(previous: _Previous | None, documents: list[Document], names: dict[str, dict[str, str]],
                      report: BuildReport) -> None:
    """A file the index held that this update could not read or parse (a truncated download,
    a link whose target went) keeps the document indexed before, with exit 3 saying so: one
    bad file never loses what the index held. A file that is gone, not broken, still leaves."""
    if previous is None:
        return
    indexed = {name for doc_names in names.values() for name in doc_names}
    held = {sha: doc_id for sha, doc_id, _version in schema.parsed_documents(previous.conn)}
    for number, (name, reason) in enumerate(report.skipped):
        old = previous.files.get(name)
        if old is None or name in indexed or old.sha256 not in held:
            continue
        same = next((document for document in documents if document.sha256 == old.sha256), None)
        if same is not None:  # its content is indexed under another name now: one more name of it
            names[same.doc][name] = str(old.path)
            indexed.add(name)
            continue
        document = schema.load_document(previous.conn, held[old.sha256])
        document.doc, document.sha256 = name, old.sha256
        documents.append(document)
        names[name] = {name: str(old.path)}
        indexed.add(name)
        report.skipped[number] = (name, f"{reason}; the version indexed before is kept")
    documents.sort(key=lambda d: d.doc)


def _count_changes(previous: _Previous | None, documents: list[Document], names: dict[str, dict[str, str]],
                   report: BuildReport) -> None:
    """What the new generation adds, changes and removes (a name that was skipped is not added)."""
    before = {name: f.sha256 for name, f in previous.files.items()} if previous is not None else {}
    after = {name: document.sha256 for document in documents for name in names[document.doc]}
    report.added = sorted(set(after) - set(before))
    report.removed = sorted(set(before) - set(after))
    report.changed = sorted(name for name in set(after) & set(before) if after[name] != before[name])
    report.unchanged = sum(1 for name in set(after) & set(before) if after[name] == before[name])


# --------------------------------------------------------------------------- parse or reuse


def _load_documents(
    files: list[SourceFile],
    previous: _Previous | None,
    progress: ProgressFn,
    workers: int | None,
    report: BuildReport,
) -> tuple[list[Document], dict[str, dict[str, str]]]:
    """One Document per distinct content, and each document's file names ({name: path}).

    Files with identical content are indexed once, under the name the index knew it by, else
    the first name in sort order.
    Documents come sorted by name so that a rebuild over the same files writes the same
    rows in the same order.
    """
    from .sources.ingest import parse_many

    by_hash: dict[str, list[SourceFile]] = {}
    for file in sorted(files, key=lambda f: f.name):
        by_hash.setdefault(file.sha256, []).append(file)

    reusable = _reusable_documents(previous, by_hash)
    documents_by_hash = {sha: schema.load_document(previous.conn, doc_id) for sha, doc_id in reusable.items()}
    to_parse = [group[0].path for sha, group in by_hash.items() if sha not in documents_by_hash]
    sha_of = {group[0].path: sha for sha, group in by_hash.items()}
    total = len(by_hash)
    done = len(documents_by_hash)
    progress("parse", done, total)
    for path, result in parse_many(to_parse, workers=workers):
        done += 1
        progress("parse", done, total)
        if isinstance(result, ParseError):
            report.skipped.append((Path(path).name, result.reason))
            continue
        documents_by_hash[sha_of[Path(path)]] = result
    report.reparsed = len(to_parse)

    # The name a document was indexed under stays its name when a copy comes in under a name
    # that sorts first: citations, --json's "doc" and scripts keyed on it must not change.
    indexed_as = dict(previous.conn.execute("SELECT sha256, doc FROM documents")) if previous is not None else {}
    documents, names = [], {}
    for sha, document in documents_by_hash.items():
        group = sorted(by_hash[sha], key=lambda f: f.name != indexed_as.get(sha))  # stable: else by name
        document.doc = group[0].name
        document.sha256 = sha
        names[document.doc] = {f.name: str(f.path) for f in group}
        report.duplicates += [(f.name, document.doc) for f in group[1:]]
        documents.append(document)
    return sorted(documents, key=lambda d: d.doc), names


def _reusable_documents(previous: _Previous | None, by_hash: dict[str, list[SourceFile]]) -> dict[str, int]:
    """sha256 → doc_id of documents the previous generation parsed that need no new parse.

    A document parsed by an older parser is parsed again, unless its file can no longer
    be read (a document kept by add/remove whose file has gone): its old lines are kept.
    """
    if previous is None:
        return {}
    version = parser_version()
    rows = schema.parsed_documents(previous.conn)
    return {
        sha: doc_id
        for sha, doc_id, parsed_by in rows
        if sha in by_hash and (parsed_by == version or not _readable(by_hash[sha][0]))
    }


def _readable(file: SourceFile) -> bool:
    from .sources.ingest import source_sha256

    try:
        return source_sha256(file.path) == file.sha256
    except ParseError:
        return False


def _added_at(previous: _Previous | None) -> dict[str, str]:
    """sha256 → when that content was first indexed (kept across updates)."""
    if previous is None:
        return {}
    return schema.added_at(previous.conn)


# --------------------------------------------------------------------------- embed


def _embeddings(
    passages: list[Passage],
    spans: list[Span],
    places: list[Reading | None],
    previous: _Previous | None,
    progress: ProgressFn,
    report: BuildReport,
) -> dict[str, np.ndarray]:
    """content_hash → vector for every passage and span, computing only what is new. A
    passage to embed, or holding a sentence whose vector is new, goes through the model
    once (encoder.read): its vector and its sentences' vectors come from that one pass."""
    texts = _texts_to_embed(passages, spans)
    reads = _readings(spans, places)
    vectors = schema.cached_vectors(previous.conn, [*texts, *reads]) if previous is not None else {}
    missing = [key for key in texts if key not in vectors]
    unread = [key for key in reads if key not in vectors]
    report.reused = len(texts) + len(reads) - len(missing) - len(unread)
    report.embedded = len(missing) + len(unread)
    if not (missing or unread):
        return vectors
    from .embedding import load_build_encoder

    encoder = load_build_encoder()
    passage_index = {p.content_hash: i for i, p in enumerate(passages)}
    to_read: dict[int, list[str]] = {passage_index[key]: [] for key in missing if key in passage_index}
    for key in unread:
        to_read.setdefault(reads[key].passage, []).append(key)
    alone = [key for key in missing if key not in passage_index]  # sentences no passage holds
    advance = _counter(progress, "embed", len(to_read) + len(alone))
    cut_off = _read_passages(encoder, passages, to_read, reads, vectors, advance)
    # A sentence the model does not reach in its passage (cut off at its word-piece limit:
    # rare, passages are sized to fit) is embedded after its heading, under the same key.
    context = {s.context_hash: s.context_text for s in spans}
    fallback = alone + cut_off
    vectors.update(zip(fallback, encoder.encode([context[key] for key in fallback], progress=advance)))
    return vectors


def _read_passages(encoder: SentenceTransformerEncoder, passages: list[Passage], to_read: dict[int, list[str]],
                   reads: dict[str, Reading], vectors: dict[str, np.ndarray], advance: Callable[[int], None],
                   ) -> list[str]:
    """Each passage of `to_read` through the model once: its vector, and the vectors of the
    sentences read in it, go into `vectors`. Returns the keys of sentences it did not reach."""
    order = list(to_read)
    ranges = [[(reads[key].start, reads[key].end) for key in to_read[i]] for i in order]
    whole, read = encoder.read([passages[i].embed_text for i in order], ranges, progress=advance)
    cut_off: list[str] = []
    for i, vector, sentence_vectors in zip(order, whole, read):
        vectors[passages[i].content_hash] = vector
        for key, sentence_vector in zip(to_read[i], sentence_vectors):
            if sentence_vector is None:
                cut_off.append(key)
            else:
                vectors[key] = sentence_vector
    return cut_off


def _counter(progress: ProgressFn, stage: str, total: int) -> Callable[[int], None]:
    """progress(stage, done, total) after each batch of n."""
    done = 0
    progress(stage, 0, total)

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(stage, done, total)

    return advance


def _texts_to_embed(passages: list[Passage], spans: list[Span]) -> dict[str, str]:
    """content_hash → text of what a generation embeds whole: each passage, and each
    sentence no passage's text holds (after its heading)."""
    texts = {p.content_hash: p.embed_text for p in passages}
    texts.update({s.context_hash: s.context_text for s in spans if not s.reading_key})
    return texts


def _readings(spans: list[Span], places: list[Reading | None]) -> dict[str, Reading]:
    """reading key → where that sentence vector is read."""
    return {span.reading_key: place for span, place in zip(spans, places) if place is not None}


# --------------------------------------------------------------------------- write


def _staged_generation(index_dir: Path) -> StagedGeneration:
    from .embedding import DIM, MODEL_NAME

    return StagedGeneration.open(index_dir, model=MODEL_NAME, dim=DIM, parser_version=parser_version())


def _write_rows(
    staged: StagedGeneration,
    documents: list[Document],
    names: dict[str, dict[str, str]],
    passages: list[Passage],
    spans: list[Span],
    vectors: dict[str, np.ndarray],
    links: dict[str, VersionLink],
    added_at: dict[str, str],
) -> None:
    staged.write_documents(documents, names, added_at)
    staged.write_passages(passages, spans)
    staged.write_versions(links.values())
    staged.write_vectors(vectors)
    staged.commit()


def _install_query_model(staged: StagedGeneration, previous: _Previous | None) -> dict[str, str]:
    """Hard-link the previous generation's ONNX model when it is intact, else export it.

    Returns the sha256 of the linked files (already verified), so they are not hashed again.
    """
    from .embedding import MODEL_FILES, MODEL_NAME, export_onnx

    if previous is not None and previous.manifest.get("model") == MODEL_NAME:
        verified = manifests.verified_sha256(previous.path, previous.manifest,
                                             [f"{generations.MODEL_DIR}/{name}" for name in MODEL_FILES])
        if verified:
            staged.link_model(previous.path / generations.MODEL_DIR)
            return verified
    export_onnx(staged.model_dir)
    return {}


def _manifest(
    report: BuildReport,
    documents: list[Document],
    passages: list[Passage],
    spans: list[Span],
    target: _Target,
    fingerprint: str,
) -> dict:
    from .embedding import DIM, MODEL_NAME, ONNX_FILE

    built_with = {"model": MODEL_NAME, "dim": DIM, "onnx_file": f"{generations.MODEL_DIR}/{ONNX_FILE}",
                  "parser_version": parser_version()}
    return manifests.generation_manifest(built_with, documents, len(passages), len(spans), report.skipped,
                                         target.sources, target.excluded, fingerprint)
