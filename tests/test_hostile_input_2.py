"""Hostile input, round two (issue 14): nothing hangs, nothing ends in a traceback, nothing
bad is kept.

Every case runs the real CLI against real files on disk and a real index (a copy of the
`small_index` fixture). Entries a source folder can hold that are not readable files (a
FIFO, a link to /dev/zero, dangling links, link loops, unreadable files and folders) are
each skipped with one line; faults of the index's own files and of the disk holding it
(non-UTF-8 CURRENT, a manifest of the wrong shape, a path SQLite's URIs would misread, a
read-only index or file system, a full disk) are one line and exit 2, the index kept.

The tests run as root in CI, and root reads files whatever their mode: the cases that need
"permission denied" run the CLI in a child without the capabilities that let root ignore
file modes (`setpriv`), and the read-only and full-disk cases mount a read-only bind mount
and a small tmpfs (skipped where mounting is not allowed).
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import HTML_DIR, PDF_DIR
from gtindex.index import lock, schema
from gtindex.cli import main
from pdf_factory import Page, Text, make_image_only_pdf, make_pdf
from test_index_faults import assert_one_line_error, copy_index, live, own_file

RARE = "fda-gt-rare-diseases-draft-2018.pdf"
PAGE = "asgct-strategic-plan.html"
QUERY = "stopping rules"
DROP_ROOT = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def gtindex(*args, drop_root: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real entry point in a child process; `drop_root`: without root's power to read
    and write files whatever their mode, so that chmod means for root what it means for anyone."""
    prefix = []
    if drop_root and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = DROP_ROOT
    return subprocess.run([*prefix, sys.executable, "-m", "gtindex", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def skipped_lines(stderr: str) -> dict[str, str]:
    """{name: reason} of the `skipped NAME: reason` lines; any other line fails the test."""
    found = {}
    for line in stderr.splitlines():
        match = re.fullmatch(r"skipped (.+?): (.+)", line)
        assert match, f"unexpected line on stderr: {line!r}"
        assert match.group(1) not in found, f"{match.group(1)} reported twice"
        found[match.group(1)] = match.group(2)
    return found


def indexed_names(index_dir: Path) -> set[str]:
    result = run("list", "--index", index_dir, "--json")
    assert result.exit_code == 0, result.output
    return {name for doc in json.loads(result.stdout)["documents"] for name in doc["names"]}


def index_state(index_dir: Path) -> tuple[str, list[str]]:
    """CURRENT and the directory listing: what must not change when an update fails."""
    return (index_dir / "CURRENT").read_text(), sorted(p.name for p in index_dir.iterdir())


@pytest.fixture
def index_copy(small_index, tmp_path) -> Path:
    return copy_index(small_index, tmp_path / "index")


@pytest.fixture
def sources(tmp_path) -> Path:
    """A folder holding the small index's two documents (so that building over it reuses
    every parsed line and embedding: no model is loaded)."""
    folder = tmp_path / "sources"
    folder.mkdir()
    shutil.copy(PDF_DIR / RARE, folder / RARE)
    shutil.copy(HTML_DIR / PAGE, folder / PAGE)
    return folder


# --------------------------------------------------------------------------- 1: nothing hangs


def test_a_fifo_and_a_link_to_dev_zero_are_skipped_at_once_by_build_and_add(index_copy, sources, tmp_path):
    """Both used to be hashed before anything checked that they are files: the build
    blocked on the FIFO (or read /dev/zero forever) while holding LOCK."""
    os.mkfifo(sources / "x.pdf")
    (sources / "zero.pdf").symlink_to("/dev/zero")
    started = time.monotonic()
    built = gtindex("build", sources, "--index", index_copy, timeout=60)
    assert built.returncode == 3, built.stderr
    assert skipped_lines(built.stderr) == {"x.pdf": "not a regular file: a FIFO (named pipe)",
                                           "zero.pdf": "not a regular file: a device"}
    shutil.copy(PDF_DIR / RARE, tmp_path / "rare-copy.pdf")
    added = gtindex("add", sources / "x.pdf", sources / "zero.pdf", tmp_path / "rare-copy.pdf",
                    "--index", index_copy, "--no-wait", timeout=60)  # --no-wait: LOCK was released
    assert added.returncode == 3, added.stderr
    assert set(skipped_lines(added.stderr)) == {"x.pdf", "zero.pdf"}
    assert "added    rare-copy.pdf" in added.stdout
    assert time.monotonic() - started < 30


# ----------------------------------------------------------------- 2, 8: a folder of hostile entries


def test_a_folder_of_hostile_entries_is_skipped_entry_by_entry_and_the_build_goes_on(index_copy, sources):
    """Unreadable file, dangling link, link loop (RuntimeError from resolve() in
    ingest.discover), unreadable subfolder (used to be skipped silently), FIFO, device and
    an empty file: each is one `skipped NAME: reason` line, the rest is indexed, exit 3,
    never a traceback."""
    shutil.copy(PDF_DIR / RARE, sources / "rare-copy.pdf")  # a new name: the one file added
    shutil.copy(PDF_DIR / RARE, sources / "unreadable.pdf")
    (sources / "unreadable.pdf").chmod(0)
    (sources / "dangling.pdf").symlink_to("nowhere.pdf")
    (sources / "a.pdf").symlink_to("b.pdf")
    (sources / "b.pdf").symlink_to("a.pdf")
    locked = sources / "locked"
    locked.mkdir()
    shutil.copy(HTML_DIR / PAGE, locked / "inside.html")
    locked.chmod(0)
    os.mkfifo(sources / "fifo.pdf")
    (sources / "zero.pdf").symlink_to("/dev/zero")
    (sources / "empty.pdf").write_bytes(b"")
    try:
        result = gtindex("build", sources, "--index", index_copy, drop_root=True, timeout=60)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    skipped = skipped_lines(result.stderr)
    assert skipped == {
        "unreadable.pdf": "could not read: permission denied; make it readable",
        "dangling.pdf": "dangling symbolic link (its target nowhere.pdf does not exist); fix or delete the link",
        "a.pdf": "symbolic link loop; fix or delete the link",
        "b.pdf": "symbolic link loop; fix or delete the link",
        f"{locked}/": "folder cannot be read: permission denied; make it readable",
        "fifo.pdf": "not a regular file: a FIFO (named pipe)",
        "zero.pdf": "not a regular file: a device",
        "empty.pdf": "empty file",
    }
    assert [line for line in result.stdout.splitlines() if line.startswith(("added", "changed", "removed"))] == [
        "added    rare-copy.pdf"]
    assert indexed_names(index_copy) == {RARE, PAGE, "rare-copy.pdf"}


# --------------------------------------------------------------------------- 3: the index path


def test_an_index_path_with_uri_characters_works_and_creates_no_stray_file(small_index, tmp_path):
    """`#`, `?` and `%` used to cut SQLite's `file:` URI short: the index could not be read,
    and search created an empty file at the truncated path."""
    parent = tmp_path / "odd #1 ?x=y %41 dir"
    parent.mkdir()
    index_dir = copy_index(small_index, parent / "index")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = run("search", QUERY, "--index", index_dir, "--json", "-k", 1)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"][0]["doc"] == RARE
    assert run("show", RARE, "--lines", "348-350", "--index", index_dir).exit_code == 0
    assert indexed_names(index_dir) == {RARE, PAGE}
    assert run("doctor", "--index", index_dir, "--no-build-model").exit_code == 0
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert schema.sqlite_uri(Path("/a#b/c?d/e%f g/index.sqlite")) == "file:/a%23b/c%3Fd/e%25f%20g/index.sqlite?mode=ro"


# --------------------------------------------------------------------------- 6: the index's own files


def test_current_holding_bytes_that_are_not_text_is_one_line_and_rebuild_repairs_it(index_copy, tmp_path):
    (index_copy / "CURRENT").unlink()
    (index_copy / "CURRENT").write_bytes(b"\xff\xfegen-\x80\x81\n")
    assert_one_line_error(run("search", QUERY, "--index", index_copy), "rebuild")
    doctor = run("doctor", "--index", index_copy, "--no-build-model")
    assert doctor.exit_code == 2 and "Traceback" not in doctor.output
    assert doctor.stdout.startswith("FAIL  live generation: ") and "not text" in doctor.stdout.splitlines()[0]
    # the advised repair runs
    pdf = make_pdf(tmp_path / "memo.pdf", [Page(label="1", items=[
        Text("Sponsors should describe the stopping rules for each cohort."),
        Text("The monitoring committee reviews every serious adverse event.")])])
    rebuilt = run("build", "--rebuild", pdf, "--index", index_copy)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert indexed_names(index_copy) == {"memo.pdf"}


def test_a_manifest_whose_files_is_a_list_is_one_line_and_doctor_says_so(index_copy):
    manifest_path = own_file(live(index_copy) / "manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = sorted(manifest["files"])
    manifest_path.write_text(json.dumps(manifest))
    assert_one_line_error(run("search", QUERY, "--index", index_copy), "manifest.json is damaged")
    assert_one_line_error(run("show", RARE, "--lines", "348-350", "--index", index_copy), "manifest.json is damaged")
    doctor = run("doctor", "--index", index_copy, "--no-build-model")
    assert doctor.exit_code == 2 and "Traceback" not in doctor.output
    line = next(line for line in doctor.stdout.splitlines() if line.startswith("FAIL  manifest:"))
    assert "'files' is a JSON array, not an object" in line


# --------------------------------------------------------------------------- 7: read-only, full disk


@pytest.fixture
def mount(tmp_path):
    """mount(*args, target): run `mount`, unmounted after the test; skip where not allowed."""
    mounted: list[Path] = []

    def do(*args: str, target: Path) -> Path:
        target.mkdir(exist_ok=True)
        done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount here: {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield do
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_add_to_an_index_on_a_read_only_file_system_is_one_line_and_keeps_the_index(index_copy, mount, tmp_path):
    ro = mount("--bind", str(index_copy), target=tmp_path / "ro")
    remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True, text=True)
    if remounted.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remounted.stderr.strip()}")
    state = index_state(index_copy)
    shutil.copy(PDF_DIR / RARE, tmp_path / "rare-copy.pdf")
    result = run("add", tmp_path / "rare-copy.pdf", "--index", ro)
    assert_one_line_error(result, "read-only file system")
    assert "left unchanged" in result.stderr
    assert index_state(index_copy) == state
    assert run("search", QUERY, "--index", ro, "-k", 1).exit_code == 0


def test_add_to_a_read_only_index_is_one_line_and_keeps_the_index(small_index, tmp_path):
    """The index's files and folders without write permission (used to be a PermissionError
    traceback on LOCK)."""
    index_copy = shutil.copytree(small_index, tmp_path / "index")  # not hard links: modes are per file
    shutil.copy(PDF_DIR / RARE, tmp_path / "rare-copy.pdf")
    paths = [index_copy, *index_copy.rglob("*")]
    modes = {path: path.stat().st_mode for path in paths}
    for path in paths:
        path.chmod(modes[path] & ~0o222)
    try:
        state = index_state(index_copy)
        result = gtindex("add", tmp_path / "rare-copy.pdf", "--index", index_copy, drop_root=True, timeout=60)
    finally:
        for path in paths:
            path.chmod(modes[path])
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"gtindex: error: permission denied writing {index_copy}/LOCK")
    assert index_state(index_copy) == state


@pytest.mark.parametrize("free_bytes", [1_500_000, 300_000])
def test_add_on_a_full_disk_says_how_much_is_needed_and_keeps_the_index(small_index, mount, tmp_path, free_bytes):
    """With SQLite's file fitting but not FAISS's (~1.5 MB free: the generation is ~1.3 MB of
    SQLite and ~0.5 MB of FAISS files) FAISS failed with a traceback; with ~0.3 MB SQLite's
    "disk is full" was called a damaged index. Either is now: disk full, so much free, about
    so much needed, and the index as it was."""
    disk = mount("-t", "tmpfs", "-o", "size=112m", "tmpfs", target=tmp_path / "disk")
    index_dir = disk / "index"
    shutil.copytree(small_index, index_dir)
    stats = os.statvfs(disk)
    filler_size = stats.f_bavail * stats.f_frsize - free_bytes
    assert filler_size > 0, "the tmpfs is too small for the index"
    with open(disk / "filler", "wb") as filler:
        filler.write(b"\0" * filler_size)
    state = index_state(index_dir)
    shutil.copy(PDF_DIR / RARE, tmp_path / "rare-copy.pdf")
    result = run("add", tmp_path / "rare-copy.pdf", "--index", index_dir)
    assert_one_line_error(result, "no space left")
    match = re.search(r"\(([\d.]+) MB free, this update needs about ([\d.]+) MB\); the index was left unchanged",
                      result.stderr)
    assert match, result.stderr
    assert abs(float(match.group(1)) - free_bytes / 1e6) < 0.2
    generation_data = sum(p.stat().st_size for p in live(index_dir).rglob("*") if p.is_file() and "model" not in p.parts)
    assert 0.8 < float(match.group(2)) / (generation_data / 1e6) < 1.5
    assert index_state(index_dir) == state
    (disk / "filler").unlink()  # room again: the same index takes the same file
    assert run("search", QUERY, "--index", index_dir, "-k", 1).exit_code == 0
    assert run("add", tmp_path / "rare-copy.pdf", "--index", index_dir).exit_code == 0


def test_write_faults_from_the_os_sqlite_and_faiss_each_become_their_one_line():
    """The translation the end-to-end tests go through, for every way the fault is raised."""
    cases = [
        (OSError(errno.EROFS, os.strerror(errno.EROFS), "idx/LOCK"), lock.READ_ONLY),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "idx/LOCK"), lock.NO_PERMISSION),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), lock.DISK_FULL),
        (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), lock.DISK_FULL),
        (sqlite3.OperationalError("database or disk is full"), lock.DISK_FULL),
        (sqlite3.OperationalError("attempt to write a readonly database"), lock.READ_ONLY),
        (RuntimeError("Error: 'ret == (n)' failed: write error in idx/gen-new-x/vectors.faiss: 28 "
                      "(No space left on device)"), lock.DISK_FULL),
        (OSError(errno.ENOENT, os.strerror(errno.ENOENT)), None),
        (sqlite3.DatabaseError("database disk image is malformed"), None),
        (RuntimeError("something else"), None),
    ]
    for exc, fault in cases:
        assert lock.write_fault(exc) == fault, exc
    index_dir = Path("/nonexistent/index")
    assert lock.write_fault_message(lock.READ_ONLY, index_dir).startswith(f"{index_dir} is on a read-only file system;")
    assert "permission denied writing idx/LOCK;" in lock.write_fault_message(lock.NO_PERMISSION, index_dir, "idx/LOCK")
    full = lock.write_fault_message(lock.DISK_FULL, index_dir, needed=2_500_000)
    assert "no space left on the disk holding /nonexistent/index (" in full and "needs about 2.5 MB" in full


# ------------------------------------------------------------- 8: the report, and an add that fails


def test_files_skipped_by_a_build_are_not_reported_as_added(index_copy, sources):
    (sources / "empty.pdf").write_bytes(b"")
    make_image_only_pdf(sources / "scan.pdf")
    shutil.copy(PDF_DIR / RARE, sources / "rare-copy.pdf")
    text = run("build", sources, "--index", index_copy)
    assert text.exit_code == 3, text.output
    assert [line for line in text.stdout.splitlines() if line.startswith("added")] == ["added    rare-copy.pdf"]
    assert set(skipped_lines(text.stderr)) == {"empty.pdf", "scan.pdf"}
    as_json = run("build", sources, "--index", index_copy, "--json")
    assert as_json.exit_code == 3
    report = json.loads(as_json.stdout)
    assert report["added"] == [] and report["up_to_date"]
    assert {name for name, _reason in report["skipped"]} == {"empty.pdf", "scan.pdf"}


def test_an_add_in_which_every_file_fails_exits_2_and_writes_nothing(index_copy, tmp_path):
    (tmp_path / "empty.pdf").write_bytes(b"")
    make_image_only_pdf(tmp_path / "scan.pdf")
    (tmp_path / "dangling.pdf").symlink_to("nowhere.pdf")
    state = index_state(index_copy)
    result = run("add", tmp_path / "empty.pdf", tmp_path / "scan.pdf", tmp_path / "dangling.pdf", "--index", index_copy)
    assert_one_line_error(result, "no source file could be indexed; the index was left unchanged")
    for name in ("empty.pdf", "scan.pdf", "dangling.pdf"):
        assert name in result.stderr
    assert index_state(index_copy) == state
    # a file named like an indexed one that fails replaces nothing
    (tmp_path / RARE).write_bytes(b"")
    assert_one_line_error(run("add", tmp_path / RARE, "--index", index_copy), "left unchanged")
    assert index_state(index_copy) == state
    assert indexed_names(index_copy) == {RARE, PAGE}
