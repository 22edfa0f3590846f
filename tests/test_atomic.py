"""Updates are all or nothing: killed builds, concurrent searches, concurrent writers, foreign indexes."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import HTML_DIR, PDF_DIR
from gtindex.index import generations, schema
from gtindex.build import add_documents, build_index, remove_documents
from gtindex.cli import main
from gtindex.errors import GtindexError
from gtindex.search import Index

NEEDLESTICKS = "fda-cdrh-needlesticks-mdr-2002.pdf"  # 7 pages
STABILITY = "fda-andas-stability-testing-qa-2013.pdf"  # 5 pages: a real new document for one update
PLAN = "asgct-strategic-plan.html"
GTINDEX = str(Path(sys.executable).with_name("gtindex"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
BEFORE = {NEEDLESTICKS, PLAN}  # file names in the index before an update
AFTER = {NEEDLESTICKS, PLAN, STABILITY}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    sources = tmp_path_factory.mktemp("sources")
    shutil.copy(PDF_DIR / NEEDLESTICKS, sources / NEEDLESTICKS)
    shutil.copy(HTML_DIR / PLAN, sources / PLAN)
    index_dir = tmp_path_factory.mktemp("base") / "idx"
    build_index([sources], index_dir)
    return sources, index_dir


@pytest.fixture
def index_copy(base, tmp_path):
    _sources, index_dir = base
    work = tmp_path / "idx"
    shutil.copytree(index_dir, work)
    return work


class _Process:
    """A `gtindex` subprocess whose stderr is collected line by line (to wait for a message)."""

    def __init__(self, args: list[str], pause_at: str | None = None):
        env = dict(ENV, GTINDEX_TEST_PAUSE_AT=pause_at) if pause_at else ENV
        self.popen = subprocess.Popen([GTINDEX, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.popen.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"exited {self.popen.returncode} before {text!r}: {''.join(self.lines)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout}s: {''.join(self.lines)}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def finish(self, timeout: float = 600) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code


def _leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-new-") or p.name == generations.POINTER_TMP)


def _generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if generations.GENERATION.match(p.name))


# --------------------------------------------------------------------------- generations on disk


def test_recover_removes_what_killed_writers_left_and_publish_keeps_the_previous_generation(tmp_path):
    index_dir = tmp_path / "idx"
    for number in range(1, 5):
        (index_dir / f"gen-00000{number}").mkdir(parents=True)
        (index_dir / f"gen-00000{number}" / "data").write_text(str(number))
    (index_dir / "CURRENT").write_text("gen-000003\n")
    (index_dir / "gen-new-x1y2").mkdir()  # a staging directory of a killed writer
    (index_dir / generations.POINTER_TMP).write_text("gen-000004\n")  # killed between rename and replace
    removed = generations.recover(index_dir)
    # gen-000004 was renamed but never published: no reader can have it open
    assert removed == sorted([generations.POINTER_TMP, "gen-new-x1y2", "gen-000004", "gen-000001"])
    assert _generations(index_dir) == ["gen-000002", "gen-000003"]

    staged = generations.new_generation_dir(index_dir)
    (staged / "data").write_text("new")
    final = generations.publish_generation(index_dir, staged)
    assert final.name == "gen-000004" and (index_dir / "CURRENT").read_text() == "gen-000004\n"
    # the generation CURRENT named until now is kept for searches still opening it
    assert _generations(index_dir) == ["gen-000003", "gen-000004"]


# --------------------------------------------------------------------------- killed builds
#
# Most updates below add a second name for an indexed web page: nothing to parse or embed,
# but a complete new generation to write and publish, so a kill can be placed at every step
# of the switch without paying for the model. The random-delay test adds a real new PDF.


def _names_answering(index_dir: Path) -> set[str]:
    """Every file name the live generation knows, after checking that it answers a query."""
    with Index.open(index_dir) as index:
        hits = index.search("needlestick injuries reported by user facilities", k=3)
        assert hits and hits[0].doc == NEEDLESTICKS
        return {row[0] for row in index.conn.execute("SELECT name FROM doc_names")}


def test_builds_killed_at_each_step_of_the_switch_leave_a_searchable_index(index_copy, tmp_path):
    copy = tmp_path / "zz-plan-copy.html"
    shutil.copy(HTML_DIR / PLAN, copy)
    add_copy = ["add", str(copy), "--index", str(index_copy)]
    left_behind = {
        "written": lambda d: any(p.name.startswith("gen-new-") for p in d.iterdir()),
        "renamed": lambda d: _generations(d)[-1] > (d / "CURRENT").read_text().strip(),
        "pointer-written": lambda d: (d / generations.POINTER_TMP).exists(),
        "published": lambda d: (d / "CURRENT").read_text().strip() == _generations(d)[-1],
    }
    for stage, leftover in left_behind.items():
        process = _Process(add_copy, pause_at=stage)
        process.wait_for(f"paused at {stage}")
        process.kill()
        assert leftover(index_copy), (stage, sorted(os.listdir(index_copy)))
        # the previous generation answers until CURRENT names the new one
        expected = BEFORE | {copy.name} if stage == "published" else BEFORE
        assert _names_answering(index_copy) == expected, stage
    rerun = _Process(add_copy)
    assert rerun.finish() == 0, "".join(rerun.lines)
    assert _names_answering(index_copy) == BEFORE | {copy.name}
    assert _leftovers(index_copy) == [] and len(_generations(index_copy)) == 2


@pytest.mark.parametrize(("stage", "signum"), [("parsed", signal.SIGTERM), ("written", signal.SIGTERM),
                                              ("renamed", signal.SIGTERM), ("pointer-written", signal.SIGHUP)])
def test_an_update_ended_by_sigterm_or_sighup_cleans_up_as_ctrl_c_does(index_copy, tmp_path, stage, signum):
    """A scheduler's `kill` (SIGTERM) or a closed terminal (SIGHUP) ended the update on the
    spot with no word, exit 143, leaving a staged or unpublished generation on disk."""
    copy = tmp_path / "zz-plan-copy.html"
    shutil.copy(HTML_DIR / PLAN, copy)
    live = (index_copy / "CURRENT").read_text()
    process = _Process(["add", str(copy), "--index", str(index_copy)], pause_at=stage)
    process.wait_for(f"paused at {stage}")
    process.popen.send_signal(signum)

    assert process.finish(timeout=60) == 128 + signum
    assert process.lines[-1].strip() == f"gtindex: terminated ({signal.Signals(signum).name})", process.lines
    assert "Traceback" not in "".join(process.lines)
    assert _leftovers(index_copy) == [] and (index_copy / "CURRENT").read_text() == live
    assert _generations(index_copy) == [live.strip()]
    assert _names_answering(index_copy) == BEFORE


def test_builds_killed_after_random_delays_never_break_the_index(base, index_copy, tmp_path):
    sources, _index_dir = base
    grown = tmp_path / "grown"
    shutil.copytree(sources, grown)
    shutil.copy(PDF_DIR / STABILITY, grown / STABILITY)
    rng = random.Random(20240611)
    for delay in (0.5, 3.0, rng.uniform(5.0, 20.0)):
        process = _Process(["build", str(grown), "--index", str(index_copy)])
        time.sleep(delay)
        process.kill()
        assert _names_answering(index_copy) in (BEFORE, AFTER), f"killed after {delay:.1f}s"
    final = _Process(["build", str(grown), "--index", str(index_copy)])
    assert final.finish() == 0, "".join(final.lines)
    assert _names_answering(index_copy) == AFTER
    assert _leftovers(index_copy) == [] and len(_generations(index_copy)) <= 2


# --------------------------------------------------------------------------- concurrency

_READER = """
import json, sys
from pathlib import Path
from gtindex.search import Index
index_dir, stop, out = map(Path, sys.argv[1:4])
searches, failures, seen = 0, [], set()
while not stop.exists():
    try:
        with Index.open(index_dir) as index:
            hits = index.search("needlestick injuries reported by user facilities", k=3)
            seen.add(",".join(sorted(row[0] for row in index.conn.execute("SELECT name FROM doc_names"))))
            if not hits:
                failures.append("no hits")
        searches += 1
    except Exception as exc:
        failures.append(repr(exc))
    # written whole, then renamed: the test polls the file and must never read it half-written
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps({"searches": searches, "failures": failures, "seen": sorted(seen)}))
    partial.replace(out)
"""


def test_searches_during_updates_see_the_old_or_the_new_index_and_never_fail(index_copy, tmp_path):
    copy = tmp_path / "zz-plan-copy.html"
    shutil.copy(HTML_DIR / PLAN, copy)
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(index_copy), str(stop), str(out)], env=ENV)
    try:
        deadline = time.monotonic() + 300
        while not out.exists() or json.loads(out.read_text())["searches"] < 1:
            assert reader.poll() is None and time.monotonic() < deadline, "the reader never searched"
            time.sleep(0.1)
        before = json.loads(out.read_text())["searches"]
        for _ in range(2):  # four generation switches while it reads: old generations get deleted
            add_documents([copy], index_copy)
            remove_documents([copy.name], index_copy)
        time.sleep(1)
    finally:
        stop.touch()
        reader.wait(120)
    result = json.loads(out.read_text())
    assert result["failures"] == []
    assert result["searches"] > before
    assert set(result["seen"]) <= {",".join(sorted(BEFORE)), ",".join(sorted(BEFORE | {copy.name}))}


def test_a_search_on_a_generation_deleted_under_it_starts_over_on_the_live_one(index_copy, tmp_path):
    """Vectors and the query model load on a search's first use; two updates in between
    delete the generation the index was opened on. The search answers from the live one."""
    copy = tmp_path / "zz-plan-copy.html"
    shutil.copy(HTML_DIR / PLAN, copy)
    with Index.open(index_copy) as index:
        opened = index.generation.path
        add_documents([copy], index_copy)
        remove_documents([copy.name], index_copy)
        assert not opened.exists()
        hits = index.search("needlestick injuries reported by user facilities", k=3)
        assert hits and index.generation.path != opened
        assert index.generation.path == generations.current_generation(index_copy)


def test_a_second_writer_waits_or_with_no_wait_refuses(index_copy, tmp_path):
    first_copy, second_copy = tmp_path / "zz-first.html", tmp_path / "zz-second.html"
    shutil.copy(HTML_DIR / PLAN, first_copy)
    shutil.copy(HTML_DIR / PLAN, second_copy)
    first = _Process(["add", str(first_copy), "--index", str(index_copy)], pause_at="written")
    first.wait_for("paused at written")

    refused = subprocess.run([GTINDEX, "add", str(second_copy), "--index", str(index_copy), "--no-wait"],
                             capture_output=True, text=True, env=ENV, timeout=300)
    assert refused.returncode == 2
    assert f"process {first.popen.pid} is updating" in refused.stderr and "--no-wait" in refused.stderr

    second = _Process(["add", str(second_copy), "--index", str(index_copy)])
    second.wait_for("waiting for it to finish")
    time.sleep(1)
    assert second.popen.poll() is None, "the second writer must wait while the first holds the lock"
    first.kill()  # a dead holder's flock is released by the kernel: no stale lock
    assert second.finish() == 0, "".join(second.lines)
    assert _names_answering(index_copy) == BEFORE | {second_copy.name}
    assert _leftovers(index_copy) == []


# --------------------------------------------------------------------------- foreign indexes


def test_index_of_another_model_or_format_is_refused_until_rebuilt(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "tiny.html").write_text("<html><body><main><h1>Tiny</h1><p>Stopping rules for a trial.</p></main></body></html>")
    index_dir = tmp_path / "idx"
    build_index([sources], index_dir)
    manifest_path = index_dir / "gen-000001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for changed in ({"index_format": 1}, {"model": "other/model", "dim": 768}):
        manifest_path.write_text(json.dumps({**manifest, **changed}))
        with pytest.raises(GtindexError, match=r"was built with .*rebuild with `gtindex build --rebuild`"):
            build_index([sources], index_dir)
        with pytest.raises(GtindexError, match=r"rebuild with `gtindex build --rebuild`"):
            Index.open(index_dir)
    result = CliRunner().invoke(main, ["build", "--rebuild", "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    rebuilt = json.loads((index_dir / (index_dir / "CURRENT").read_text().strip() / "manifest.json").read_text())
    assert rebuilt["index_format"] == schema.INDEX_FORMAT and rebuilt["sources"] == [str(sources.resolve())]
    with Index.open(index_dir) as index:
        assert index.search("stopping rules", k=1)[0].doc == "tiny.html"
