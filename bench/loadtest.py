"""Concurrent query load: several processes search one index at the same time.

Each worker is a fresh `python -c` process (no fork of a parent that may hold torch
threads, and JSON rather than pickle over the pipes) that opens the index, loads the
query model, reports ready, waits for "go", answers its share of the queries and
reports each query's latency or error. Throughput is counted from "go" to the last answer.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

_WORKER_COMMAND = "from bench.loadtest import worker_main; worker_main()"
MAX_ERROR_SAMPLES = 5


@dataclass
class LoadReport:
    processes: int
    queries: int  # queries sent
    answered: int  # searches that returned (with or without hits)
    with_hits: int
    errors: int
    seconds: float  # from "go" to the last answer
    median_ms: float | None  # None when nothing was answered
    p95_ms: float | None
    throughput_qps: float
    error_samples: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


# Used when the caller brings no queries: keyword, question and citation-style searches.
DEFAULT_QUERIES = (
    "stopping rules",
    "long-term follow-up of gene therapy recipients",
    "What potency assays are expected for a cell therapy product?",
    "replication competent retrovirus testing",
    "21 CFR 312.32 safety reports",
    "informal conference after refuse to file",
    "donor eligibility screening",
    "chemistry manufacturing and controls information in an IND",
)


def run_load(index_dir: Path, n_queries: int = 1000, processes: int = 4, queries: list[str] | None = None,
             k: int = 5) -> dict:
    """`n_queries` searches (`queries` repeated in order) spread over `processes` workers;
    the LoadReport as a dict."""
    return load(Path(index_dir), list(queries or DEFAULT_QUERIES), n_queries, processes, k).to_json()


def load(index_dir: Path, queries: list[str], total: int, processes: int, k: int = 5) -> LoadReport:
    if not queries:
        raise ValueError("no queries to run")
    sent = [queries[i % len(queries)] for i in range(total)]
    shares = [sent[i::processes] for i in range(processes)]
    workers = [_start_worker(Path(index_dir), share, k) for share in shares if share]
    try:
        ready = [_read_message(worker) for worker in workers]
        going = [start.get("status") == "ready" for start in ready]
        started = time.perf_counter()
        for worker, go in zip(workers, going):
            if go:
                worker.stdin.write(b"go\n")
                worker.stdin.flush()
        results = [_read_message(worker) if go else {} for worker, go in zip(workers, going)]
        seconds = time.perf_counter() - started
    finally:
        for worker in workers:
            try:
                worker.stdin.close()
            except BrokenPipeError:
                pass
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
    return _report(len(sent), len(workers), ready, results, seconds)


def _start_worker(index_dir: Path, share: list[str], k: int) -> subprocess.Popen:
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    worker = subprocess.Popen([sys.executable, "-c", _WORKER_COMMAND], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    worker.stdin.write(json.dumps({"index": str(index_dir), "queries": share, "k": k}).encode() + b"\n")
    worker.stdin.flush()
    return worker


def _read_message(worker: subprocess.Popen) -> dict:
    line = worker.stdout.readline()
    try:
        return json.loads(line)
    except ValueError:
        return {"status": "crashed", "reason": f"worker exited ({worker.poll()}) without an answer"}


def _report(sent: int, processes: int, ready: list[dict], results: list[dict], seconds: float) -> LoadReport:
    latencies: list[float] = []
    errors: list[str] = []
    answered = with_hits = 0
    for start, result in zip(ready, results):
        if start.get("status") != "ready" or result.get("status") != "done":
            reason = start.get("reason") or result.get("reason") or "worker failed"
            errors += [reason] * start.get("queries", 0)
            continue
        latencies += [answer["ms"] for answer in result["answers"] if "ms" in answer]
        errors += [answer["error"] for answer in result["answers"] if "error" in answer]
        answered += sum(1 for answer in result["answers"] if "ms" in answer)
        with_hits += sum(1 for answer in result["answers"] if answer.get("hits"))
    missing = sent - answered - len(errors)
    errors += ["no answer"] * max(0, missing)
    ordered = sorted(latencies)
    return LoadReport(
        processes=processes, queries=sent, answered=answered, with_hits=with_hits, errors=len(errors),
        seconds=seconds,
        median_ms=statistics.median(ordered) if ordered else None,
        p95_ms=ordered[max(0, -(-95 * len(ordered) // 100) - 1)] if ordered else None,
        throughput_qps=answered / seconds if seconds > 0 else 0.0,
        error_samples=sorted(set(errors))[:MAX_ERROR_SAMPLES],
    )


# --------------------------------------------------------------------------- worker side


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main() -> None:
    """Open the index, say ready, wait for go, answer every query, report."""
    job = json.loads(sys.stdin.readline())
    queries = job["queries"]
    try:
        from gtindex.search import Index

        index = Index.open(job["index"])
        index.search(queries[0], k=job["k"])  # load the query model before the clock starts
    except Exception as exc:  # any failure to open is this worker's answer, not a traceback
        _send({"status": "failed", "reason": f"{type(exc).__name__}: {exc}", "queries": len(queries)})
        return
    _send({"status": "ready", "queries": len(queries)})
    if sys.stdin.readline().strip() != "go":
        return
    answers = []
    for query in queries:
        start = time.perf_counter()
        try:
            hits = index.search(query, k=job["k"])
            answers.append({"ms": 1000 * (time.perf_counter() - start), "hits": len(hits)})
        except Exception as exc:
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    index.close()
    _send({"status": "done", "answers": answers})
