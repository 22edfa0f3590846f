"""`make bench`: speed, scale and quality figures of gtindex on this machine.

    python -m bench.bench --corpus DIR [--gold FILE] [--work DIR] [--quick]

Prints one table per section and writes every figure to `.bench/results.json`. All
ratios (incremental vs full build, CLI vs pdfgrep) are measured within the same run,
on the same machine state. Wall-clock figures are what a user waits; CPU seconds are
printed beside them because the machine may be shared (the load average is recorded).

Sections: full build (with parsing), incremental updates, query latency (in-process,
fresh CLI process, pdfgrep), eval scores, load (concurrent processes), scale (1x, 10x,
100x synthetic corpora, see scale.py for the method).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

GOAL_ADD_RATIO = 0.10  # adding one guidance: under 10% of a full build
GOAL_NOOP_RATIO = 0.05  # rebuilding with nothing changed: under 5%
GOAL_QUERY_MEDIAN_MS = 20.0  # in-process
GOAL_CLI_S = 0.5  # fresh `gtindex search` process
GOAL_CLI_VS_PDFGREP = 0.25
BENCH_QUERY = "stopping rules"
# The developers' own queries beside the dev set, each set scored apart (quality section):
# own.jsonl (written in the first quality round), unseen.jsonl (written later, from reading
# documents only, to check changes chosen on the other two).
OTHER_GOLDS = {"own": "own.jsonl", "unseen": "unseen.jsonl"}
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers")


# --------------------------------------------------------------------------- helpers


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Stopwatch:
    """Wall and CPU seconds (this process and its finished children) of a block."""

    def __enter__(self) -> "Stopwatch":
        self._wall = time.perf_counter()
        self._cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN) - self._cpu


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory so far: this process, and the largest finished child (parsers)."""
    return {
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "largest_child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine() -> dict:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": usable_cpus(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def generation_mb(index_dir: Path) -> dict[str, float]:
    """Size on disk of the live generation, in total and per part."""
    from gtindex.index import generations
    from bench.scale import directory_mb

    live = generations.current_generation(Path(index_dir))
    model = directory_mb(live / generations.MODEL_DIR) if (live / generations.MODEL_DIR).is_dir() else 0.0
    return {
        "total_mb": directory_mb(live),
        "sqlite_mb": (live / generations.SQLITE_FILE).stat().st_size / 1e6,
        "vectors_mb": (live / generations.VECTORS_FILE).stat().st_size / 1e6,
        "model_mb": model,
    }


def load_queries(gold: Path) -> list[str]:
    return [json.loads(line)["query"] for line in Path(gold).read_text(encoding="utf-8").splitlines() if line.strip()]


def gtindex_command() -> list[str]:
    """The installed `gtindex` script beside this Python, else `python -m gtindex`."""
    script = Path(sys.executable).parent / "gtindex"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gtindex"]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


# --------------------------------------------------------------------------- build


def measure_full_build(corpus: Path, index_dir: Path) -> dict:
    """A fresh build of the corpus in this process; parsing runs in worker processes."""
    from gtindex.build import build_index

    if index_dir.exists():
        shutil.rmtree(index_dir)
    with Stopwatch() as clock:
        report = build_index([corpus], index_dir)
    stages = build_stages(report.stage_seconds, split_write_stage(index_dir, report.stage_seconds.get("write", 0.0)))
    main_stages = {k: v for k, v in stages.items() if k != "other"}
    parse_s = stages.get("parse", 0.0)
    embed_s = stages.get("embed", 0.0)
    return {
        "documents": report.documents,
        "pages": report.pages,
        "passages": report.passages,
        "spans": report.spans,
        "embedded_texts": report.embedded,
        "skipped": report.skipped,
        "seconds": report.seconds,
        "cpu_seconds": clock.cpu,
        "stage_seconds": stages,
        "dominant_stage": max(main_stages, key=main_stages.get) if main_stages else "",
        "parse_pages_per_s": report.pages / parse_s if parse_s else None,
        "parse_workers": min(usable_cpus(), report.documents) if report.reparsed else 0,
        "embed_texts_per_s": report.embedded / embed_s if embed_s else None,
        "embed_passages_per_s": report.passages / embed_s if embed_s else None,
        "peak_memory": peak_rss_mb(),
        "index": generation_mb(index_dir),
    }


def build_stages(timed: dict[str, float], write_parts: dict[str, float]) -> dict[str, float]:
    """The build's stage timings in the bench's terms, in pipeline order.

    passages = split; write = SQLite rows + manifest and fsync (publish); query model =
    ONNX export or copy; other = discovery, hashing, version linking.
    """
    named = {"parse": timed.get("parse", 0.0), "passages": timed.get("split", 0.0), "embed": timed.get("embed", 0.0),
             "lexical": write_parts["lexical"], "dense": write_parts["dense"],
             "write": write_parts["write_rows"] + timed.get("publish", 0.0), "query model": timed.get("model", 0.0)}
    accounted = {"parse", "split", "embed", "write", "publish", "model"}
    named["other"] = sum(v for k, v in timed.items() if k not in accounted)
    return named


def split_write_stage(index_dir: Path, write_seconds: float) -> dict[str, float]:
    """The build times its write stage as a whole; re-time its two index parts on the result.

    lexical: rebuilding the FTS5 index over every passage (a copy of index.sqlite);
    dense: building the FAISS index over every passage vector. write_rows: the rest.
    """
    import sqlite3
    import tempfile

    from gtindex.index import generations
    from gtindex.dense import DenseIndex

    live = generations.current_generation(index_dir)
    with tempfile.TemporaryDirectory(dir=index_dir) as scratch:
        copy = Path(scratch) / "copy.sqlite"
        shutil.copyfile(live / generations.SQLITE_FILE, copy)
        conn = sqlite3.connect(copy)
        try:
            start = time.perf_counter()
            conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
            conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
            conn.commit()
            lexical = time.perf_counter() - start
        finally:
            conn.close()
        matrix = DenseIndex.load(live / generations.VECTORS_FILE, mmap=False).vectors()
        start = time.perf_counter()
        DenseIndex.build(matrix).save(Path(scratch) / generations.VECTORS_FILE)
        dense_s = time.perf_counter() - start
    return {"lexical": lexical, "dense": dense_s, "write_rows": max(0.0, write_seconds - lexical - dense_s)}


def held_out_document(corpus: Path) -> Path:
    """The PDF with the median page count: the 'one guidance' of the incremental figures."""
    from gtindex.sources.ingest import discover

    pdfs = [p for p in discover([corpus]) if p.suffix.lower() == ".pdf"] or discover([corpus])
    sized = sorted(pdfs, key=lambda p: (p.stat().st_size, p.name))
    return sized[len(sized) // 2]


def linked_copy(corpus: Path, target: Path, leave_out: Path | None = None) -> Path:
    """A folder of symlinks to the corpus's source files (one of them left out)."""
    from gtindex.sources.ingest import discover

    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in discover([corpus]):
        if leave_out is not None and path.resolve() == leave_out.resolve():
            continue
        link = target / path.relative_to(corpus)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    return target


def measure_incremental(corpus: Path, index_dir: Path, work: Path, full_seconds: float) -> dict:
    """Remove one guidance, add it back, rebuild unchanged: on a copy of the full index.

    Every step is `build_index` over a folder of links to the corpus; adding the guidance
    back must parse and embed it again (its embeddings left the cache with it).
    """
    from gtindex.build import build_index

    held_out = held_out_document(corpus)
    copy_dir = work / "incremental-index"
    if copy_dir.exists():
        shutil.rmtree(copy_dir)
    shutil.copytree(index_dir, copy_dir, symlinks=True)
    sources = linked_copy(corpus, work / "incremental-corpus", leave_out=held_out)
    removed = build_index([sources], copy_dir)
    (sources / held_out.relative_to(corpus)).symlink_to(held_out.resolve())
    added = build_index([sources], copy_dir)
    unchanged = build_index([sources], copy_dir)
    result = {"document": held_out.name, "full_build_s": full_seconds}
    for name, report, goal in (("remove_one", removed, None), ("add_one", added, GOAL_ADD_RATIO),
                               ("unchanged", unchanged, GOAL_NOOP_RATIO)):
        ratio = report.seconds / full_seconds if full_seconds else None
        result[name] = {
            "seconds": report.seconds, "ratio": ratio, "goal_ratio": goal,
            "pass": None if goal is None or ratio is None else ratio < goal,
            "reparsed": report.reparsed, "embedded": report.embedded, "stage_seconds": report.stage_seconds,
        }
    shutil.rmtree(copy_dir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- queries


def measure_query_latency(index_dir: Path, queries: list[str], repeats: int = 3) -> dict:
    """In-process `Index.search` (hybrid, k=5) over the queries, `repeats` times each."""
    from bench.scale import Latency
    from gtindex.search import Index

    times = []
    with Index.open(index_dir) as index:
        index.search(queries[0])  # load the query model once, outside the timings
        for _ in range(repeats):
            for query in queries:
                start = time.perf_counter()
                index.search(query)
                times.append(time.perf_counter() - start)
    latency = Latency.of(times)
    return {**asdict(latency), "goal_median_ms": GOAL_QUERY_MEDIAN_MS, "pass": latency.median_ms < GOAL_QUERY_MEDIAN_MS}


def _timed_run(command: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds of the child, and the finished process."""
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    wall = time.perf_counter() - start
    return wall, _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, done


def measure_cli_latency(index_dir: Path, runtime_dir: Path, query: str = BENCH_QUERY, runs: int = 10) -> dict:
    """A fresh `gtindex search QUERY --index DIR --json` process, `runs` times (after one
    warm-up), with no `gtindex serve` to ask (`runtime_dir`: an empty socket folder)."""
    command = gtindex_command() + ["search", query, "--index", str(index_dir), "--json"]
    env = _socket_env(runtime_dir)
    figures = _cli_runs(command, runs, env)
    figures["heavy_imports"] = heavy_imports(command, env)
    return figures


def measure_served_cli_latency(index_dir: Path, runtime_dir: Path, query: str = BENCH_QUERY, runs: int = 10) -> dict:
    """The same command while `gtindex serve` keeps the index loaded."""
    from gtindex.serve import socket_path

    env = _socket_env(runtime_dir)
    server = subprocess.Popen(gtindex_command() + ["serve", "--index", str(index_dir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        path = socket_path(index_dir, runtime_dir)
        deadline = time.monotonic() + 600
        while not path.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                return {"available": False, "reason": f"gtindex serve did not start (exit {server.poll()})"}
            time.sleep(0.2)
        command = gtindex_command() + ["search", query, "--index", str(index_dir), "--json"]
        return {"available": True, **_cli_runs(command, runs, env)}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _socket_env(runtime_dir: Path) -> dict:
    """The environment with a private socket folder: no server of the user's is involved."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))


def _cli_runs(command: list[str], runs: int, env: dict) -> dict:
    _timed_run(command, env)  # warm-up: files in the page cache, as for any repeated use
    walls, cpus, exit_codes = [], [], set()
    for _ in range(runs):
        wall, cpu, done = _timed_run(command, env)
        walls.append(wall)
        cpus.append(cpu)
        exit_codes.add(done.returncode)
    return {
        "command": " ".join(command[-6:]),
        "runs": runs,
        "median_s": _median(walls),
        "min_s": min(walls),
        "median_cpu_s": _median(cpus),
        "exit_codes": sorted(exit_codes),
        "goal_s": GOAL_CLI_S,
        "pass": _median(walls) < GOAL_CLI_S,
    }


def heavy_imports(command: list[str], env: dict | None = None) -> list[str]:
    """torch & co. imported by one run of the command (from `python -X importtime`)."""
    args = command[1:] if command[0].endswith("gtindex") else command[3:]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gtindex", *args], capture_output=True, text=True,
                          env=env)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return sorted(name for name in imported if name.split(".")[0] in HEAVY_MODULES)


def measure_pdfgrep(corpus: Path, query: str = BENCH_QUERY, runs: int = 5) -> dict:
    """`pdfgrep -r -i -n QUERY` over the corpus's PDFs: the tool gtindex replaces."""
    pdfgrep = shutil.which("pdfgrep")
    if pdfgrep is None:
        return {"available": False}
    command = [pdfgrep, "-r", "-i", "-n", query, str(corpus)]
    walls, cpus, matches = [], [], 0
    for _ in range(runs):
        wall, cpu, done = _timed_run(command)
        walls.append(wall)
        cpus.append(cpu)
        matches = len(done.stdout.splitlines())
    return {"available": True, "runs": runs, "median_s": _median(walls), "median_cpu_s": _median(cpus),
            "matching_lines": matches}


def compare_cli_pdfgrep(cli: dict, pdfgrep: dict) -> dict:
    if not pdfgrep.get("available"):
        return {"ratio": None, "pass": None}
    ratio = cli["median_s"] / pdfgrep["median_s"]
    return {"ratio": ratio, "cpu_ratio": cli["median_cpu_s"] / pdfgrep["median_cpu_s"],
            "goal_ratio": GOAL_CLI_VS_PDFGREP, "pass": ratio <= GOAL_CLI_VS_PDFGREP}


# --------------------------------------------------------------------------- quality and load


def measure_quality(index_dir: Path, corpus: Path, golds: dict[str, Path]) -> dict:
    """Each search stage on its own, the naive baseline beside it, dev and own sets apart (quality.py)."""
    from .quality import measure_quality as measure

    return measure(index_dir, corpus, golds)


def _print_quality(results: dict, say) -> None:
    from .quality import print_quality

    print_quality(results["quality"], say)


def measure_eval(index_dir: Path, gold: Path) -> dict:
    from gtindex.evaluate import evaluate
    from gtindex.search import Index

    scores = {}
    with Index.open(index_dir) as index:
        for mode in ("hybrid", "dense", "lexical"):
            scores[mode] = evaluate(index, gold, mode).overall.to_json()
    return scores


def measure_load(index_dir: Path, queries: list[str], total: int = 1000, processes: int = 4) -> dict:
    from bench.loadtest import run_load

    return run_load(index_dir, n_queries=total, processes=processes, queries=queries)


# --------------------------------------------------------------------------- scale


EF_SWEEP = (0.25, 0.5, 1)  # HNSW efSearch values reported, as multiples of dense.HNSW_EF_SEARCH (the default)


def measure_scale(index_dir: Path, queries: list[str], work: Path, full: dict, query_latency: dict,
                  factors: tuple[int, ...] = (10, 100)) -> list[dict]:
    """One row per corpus size: 1x is the real build; larger ones are synthetic (scale.py).

    index_mb leaves out the 91 MB query model, which does not grow with the corpus.
    """
    from gtindex.index import generations
    from bench.scale import load_source
    from gtindex.search import Index

    source = load_source(index_dir)
    with Index.open(index_dir) as index:
        encoder = index.encoder()
        query_vectors = encoder.encode(queries)
        live = generations.current_generation(index_dir)
        rows = [{
            "factor": 1, "method": "real build (parse + embed)", "documents": full["documents"],
            "passages": full["passages"], "build_s": full["seconds"],
            "index_mb": full["index"]["total_mb"] - full["index"]["model_mb"],
            "query_ms": query_latency["median_ms"],
            **_retrieval_figures(live, queries, encoder, query_vectors),
        }]
        texts_per_s = full.get("embed_texts_per_s") or 0
        for factor in factors:
            target = work / f"scale-{factor}x"
            row = (_scaled_full_row if factor <= 10 else _scaled_retrieval_row)(
                source, factor, target, index_dir, queries, encoder, query_vectors)
            spans = row.pop("spans") or factor * full["spans"]  # 100x writes no sentences: as many per passage as 1x
            row["embed_estimate_h"] = (row["passages"] + spans) / texts_per_s / 3600 if texts_per_s else None
            rows.append(row)
            shutil.rmtree(target, ignore_errors=True)
    return rows


def _scaled_full_row(source, factor: int, target: Path, index_dir: Path, queries: list[str], encoder,
                     query_vectors) -> dict:
    from gtindex.index import generations
    from bench.scale import directory_mb, write_full_index
    from gtindex.search import Index

    built = write_full_index(source, factor, target, source_index=index_dir)
    live = generations.current_generation(target)
    with Index.open(target) as scaled:
        scaled.search(queries[0])  # load the query model outside the timings
        times = []
        for query in queries:
            start = time.perf_counter()
            scaled.search(query)
            times.append(1000 * (time.perf_counter() - start))
    return {
        "factor": factor, "method": "synthetic, full index (build's write stage)", "documents": built.documents,
        "passages": built.passages, "spans": built.spans, "build_s": built.seconds,
        "stage_seconds": built.stage_seconds, "index_mb": directory_mb(live) - directory_mb(live / generations.MODEL_DIR),
        "query_ms": statistics.median(times), **_retrieval_figures(live, queries, encoder, query_vectors),
    }


def _scaled_retrieval_row(source, factor: int, target: Path, index_dir: Path, queries: list[str], encoder,
                          query_vectors) -> dict:
    from gtindex.index import generations
    from bench.scale import write_retrieval_index

    built = write_retrieval_index(source, factor, target)
    return {
        "factor": factor, "method": "synthetic, retrieval structures only (FTS5 + bm25 postings + FAISS)",
        "documents": built.documents, "passages": built.passages, "spans": 0, "build_s": built.seconds,
        "stage_seconds": built.stage_seconds,
        "index_mb": sum((target / name).stat().st_size for name in (generations.SQLITE_FILE, generations.VECTORS_FILE)) / 1e6,
        "query_ms": None, **_retrieval_figures(target, queries, encoder, query_vectors),
    }


def _retrieval_figures(directory: Path, queries: list[str], encoder, query_vectors) -> dict:
    """Latency of the two retrieval structures, and HNSW recall@10 against exact search."""
    from gtindex.index import generations
    from gtindex.dense import HNSW_EF_SEARCH, DenseIndex
    from bench.scale import exact_top_k, recall_vs_flat, retrieval_latency

    latency = retrieval_latency(directory, queries, encoder)
    dense = DenseIndex.load(Path(directory) / generations.VECTORS_FILE)
    figures = {"retrieval_ms": latency.total_ms, "encode_ms": latency.encode_ms, "dense_ms": latency.dense_ms,
               "lexical_ms": latency.lexical_ms, "dense_kind": dense.kind, "recall_at_10": 1.0, "ef_sweep": []}
    if dense.kind == "flat":
        return figures
    exact = exact_top_k(dense.vectors(), query_vectors, 10)
    for ef in (int(multiple * HNSW_EF_SEARCH) for multiple in EF_SWEEP):
        times = []
        for vector in query_vectors:
            start = time.perf_counter()
            dense.search(vector, 100, ef_search=ef)
            times.append(1000 * (time.perf_counter() - start))
        recall = recall_vs_flat(dense, None, query_vectors, ef_search=ef, exact=exact)
        figures["ef_sweep"].append({"ef_search": ef, "recall_at_10": recall, "dense_ms": statistics.median(times)})
    figures["recall_at_10"] = figures["ef_sweep"][-1]["recall_at_10"]  # at the default efSearch
    return figures


# --------------------------------------------------------------------------- printing


def _f(value, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _print_header(results: dict, say) -> None:
    m = results["machine"]
    say(f"gtindex bench  {m['date']}  {m['cpus']} CPUs  load average at start {m['load_average']}")


def _print_build(results: dict, say) -> None:
    build = results["build"]
    say("\nParsing (stage of the full build)")
    say(f"  {build['pages']} pages in {build['stage_seconds'].get('parse', 0):.1f} s = "
        f"{_f(build['parse_pages_per_s'])} pages/s with {build['parse_workers']} worker processes; "
        f"peak memory of the largest worker {build['peak_memory']['largest_child_mb']:.0f} MB")
    say("\nFull build")
    say(f"  {build['documents']} documents, {build['passages']} passages, {build['spans']} sentences: "
        f"{build['seconds']:.1f} s wall, {build['cpu_seconds']:.1f} s CPU")
    say("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in build["stage_seconds"].items()))
    say(f"  dominant stage: {build['dominant_stage']}; embedding {_f(build['embed_passages_per_s'])} passages/s "
        f"({_f(build['embed_texts_per_s'])} texts/s counting sentences; stage includes loading the model)")
    say(f"  peak memory {build['peak_memory']['self_mb']:.0f} MB (build process); index on disk "
        f"{build['index']['total_mb']:.1f} MB (sqlite {build['index']['sqlite_mb']:.1f}, vectors "
        f"{build['index']['vectors_mb']:.1f}, query model {build['index']['model_mb']:.1f})")


def _print_incremental(results: dict, say) -> None:
    inc = results["incremental"]
    say(f"\nIncremental (build_index on a copy; one guidance = {inc['document']})")
    for name, label in (("remove_one", "remove one guidance"), ("add_one", "add one guidance"),
                        ("unchanged", "nothing changed")):
        row = inc[name]
        goal = f"goal < {row['goal_ratio']:.0%}  {_verdict(row['pass'])}" if row["goal_ratio"] else ""
        say(f"  {label:22s} {row['seconds']:7.1f} s  = {_f(row['ratio'], '.1%')} of full build  {goal}")


def _print_query(results: dict, say) -> None:
    query = results["query"]
    say("\nQuery latency")
    say(f"  in-process hybrid search: median {query['median_ms']:.1f} ms, p95 {query['p95_ms']:.1f} ms over "
        f"{query['runs']} searches (goal median < {GOAL_QUERY_MEDIAN_MS:.0f} ms)  {_verdict(query['pass'])}")


def _print_cli(results: dict, say) -> None:
    cli = results["cli"]
    say(f"  fresh CLI process `gtindex search \"{BENCH_QUERY}\" --json`: median {cli['median_s']:.2f} s "
        f"(min {cli['min_s']:.2f}, CPU {cli['median_cpu_s']:.2f} s) over {cli['runs']} runs "
        f"(goal < {GOAL_CLI_S} s)  {_verdict(cli['pass'])}; heavy imports: {', '.join(cli['heavy_imports']) or 'none'}")
    served = results.get("cli_served", {})
    if served.get("available"):
        say(f"  the same with `gtindex serve` running: median {served['median_s']:.2f} s (min {served['min_s']:.2f}, "
            f"CPU {served['median_cpu_s']:.2f} s)  {_verdict(served['pass'])}")
    elif served:
        say(f"  with `gtindex serve`: not measured ({served['reason']})")
    grep = results["pdfgrep"]
    if grep.get("available"):
        cmp = results["cli_vs_pdfgrep"]
        say(f"  pdfgrep -r -i -n: median {grep['median_s']:.2f} s (CPU {grep['median_cpu_s']:.2f} s) over "
            f"{grep['runs']} runs; CLI / pdfgrep = {cmp['ratio']:.3f} (CPU {cmp['cpu_ratio']:.3f}; goal <= "
            f"{GOAL_CLI_VS_PDFGREP})  {_verdict(cmp['pass'])}")
    else:
        say("  pdfgrep not available")


def _print_eval(results: dict, say) -> None:
    say("\nEval (dev set)          hit@1  hit@5  MRR@10  exact lines@1  hit@100 (ceiling for reordering)")
    for mode, s in results["eval"].items():
        say(f"  {mode:20s} {s['hit_at_1']:6.3f} {s['hit_at_5']:6.3f} {s['mrr_at_10']:7.3f} "
            f"{_f(s['exact_lines_at_1'], '10.3f')}  {s['hit_at_100']:8.3f}")


def _print_load(results: dict, say) -> None:
    load = results["load"]
    say("\nLoad")
    say(f"  {load['queries']} queries from {load['processes']} processes: {load['answered']} answered "
        f"({load['with_hits']} with hits), {load['errors']} errors; latency median {_f(load['median_ms'])} ms, "
        f"p95 {_f(load['p95_ms'])} ms; {load['throughput_qps']:.1f} queries/s over {load['seconds']:.1f} s")
    for sample in load.get("error_samples", []):
        say(f"  error: {sample}")


def _print_scale(results: dict, say) -> None:
    say("\nScale    passages  build s  index MB  query ms  retrieval ms (dense + lexical)  dense  recall@10")
    for row in results["scale"]:
        say(f"  {str(row['factor']) + 'x':5s} {row['passages']:10d} {row['build_s']:8.1f} {row['index_mb']:9.1f} "
            f"{_f(row['query_ms'], '9.1f')} {row['retrieval_ms']:9.1f} ({row['dense_ms']:.1f} + {row['lexical_ms']:.1f})"
            f"{'':9s}{row['dense_kind']:5s} {row['recall_at_10']:9.3f}   {row['method']}")
    say("  index MB without the query model; query ms: Index.search in-process; retrieval ms: FAISS top-100 +"
        " bm25 top-100 (stored postings) + query embedding; recall@10 of the dense index against exact search")
    for row in results["scale"]:
        for point in row.get("ef_sweep", []):
            say(f"  {row['factor']}x HNSW efSearch {point['ef_search']:4d}: recall@10 {point['recall_at_10']:.3f}, "
                f"FAISS top-100 {point['dense_ms']:.1f} ms")
    for row in results["scale"][1:]:
        if row.get("embed_estimate_h"):
            say(f"  embedding the {row['factor']}x texts with MiniLM here would take ~{row['embed_estimate_h']:.1f} h")


PRINTERS = {"machine": _print_header, "build": _print_build, "incremental": _print_incremental,
            "query": _print_query, "cli": _print_cli, "eval": _print_eval, "quality": _print_quality, "load": _print_load, "scale": _print_scale}


def print_results(results: dict, out=sys.stdout, sections: list[str] | None = None) -> None:
    """The human-readable tables of the sections present in `results` (or only `sections`)."""
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    for key, printer in PRINTERS.items():
        if key in results and (sections is None or key in sections):
            printer(results, say)


# --------------------------------------------------------------------------- main


def run(corpus: Path, gold: Path, work: Path, sections: set[str], scale_factors: tuple[int, ...],
        cli_runs: int = 10, pdfgrep_runs: int = 5, load_total: int = 1000,
        on_section: Callable[[dict, str], None] | None = None) -> dict:
    """Run the chosen sections; returns the results dict (also what results.json holds).

    on_section(results, key) is called as each section's figures are in.
    """
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "corpus": str(corpus)}
    index_dir = work / "index"
    queries = load_queries(gold)

    def section(key: str, measure: Callable[[], object]) -> None:
        results[key] = measure()
        announce(key)

    def announce(key: str) -> None:
        if on_section is not None:
            on_section(results, key)

    announce("machine")
    section("build", lambda: measure_full_build(corpus, index_dir))
    full_s = results["build"]["seconds"]
    if "incremental" in sections:
        section("incremental", lambda: measure_incremental(corpus, index_dir, work, full_s))
    section("query", lambda: measure_query_latency(index_dir, queries))
    if "cli" in sections:
        runtime_dir = work / "run"  # a private socket folder: `gtindex serve` only where measured
        results["cli"] = measure_cli_latency(index_dir, runtime_dir, runs=cli_runs)
        results["cli_served"] = measure_served_cli_latency(index_dir, runtime_dir, runs=cli_runs)
        results["pdfgrep"] = measure_pdfgrep(corpus, runs=pdfgrep_runs)
        results["cli_vs_pdfgrep"] = compare_cli_pdfgrep(results["cli"], results["pdfgrep"])
        announce("cli")
    if "eval" in sections:
        section("eval", lambda: measure_eval(index_dir, gold))
    if "quality" in sections:
        golds = {"dev": gold} | {name: gold.parent / file for name, file in OTHER_GOLDS.items()
                                 if (gold.parent / file).is_file()}
        section("quality", lambda: measure_quality(index_dir, corpus, golds))
    if "load" in sections:
        section("load", lambda: measure_load(index_dir, queries, total=load_total))
    if "scale" in sections:
        section("scale", lambda: measure_scale(index_dir, queries, work, results["build"], results["query"],
                                               scale_factors))
    return results


SECTIONS = ("incremental", "cli", "eval", "quality", "load", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="Folder of PDFs and web pages.")
    parser.add_argument("--gold", type=Path, help="Gold queries (JSON lines) [default: CORPUS/../eval/dev.jsonl].")
    parser.add_argument("--work", type=Path, default=Path(".bench"), help="Working folder [default: .bench].")
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="Leave out a section.")
    parser.add_argument("--scale", default="10,100", help="Synthetic corpus factors [default: 10,100].")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gold = args.gold or args.corpus.resolve().parent / "eval" / "dev.jsonl"
    if not gold.is_file():
        parser.error(f"gold queries not found at {gold}; give --gold FILE")
    factors = tuple(int(f) for f in args.scale.split(",") if f.strip())
    out = args.work / "results.json"

    def on_section(results: dict, key: str) -> None:
        print_results(results, sections=[key])
        save_results(results, out)  # after every section: a late failure keeps what was measured

    run(args.corpus, gold, args.work, set(SECTIONS) - set(args.skip), factors, on_section=on_section)
    print(f"\nresults: {out}")
    return 0


def save_results(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
