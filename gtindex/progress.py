"""Build progress: the caller's callback, a rich bar on the terminal, or nothing; and stage timing."""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

# (stage, done, total): stages are "parse" (files) and "embed" (texts).
ProgressFn = Callable[[str, int, int], None]


@contextmanager
def progress_reporter(progress: bool | ProgressFn):
    """Yields a ProgressFn: the caller's, a rich bar, or a no-op."""
    if callable(progress):
        yield progress
    elif progress:
        yield from _rich_bar()
    else:
        yield lambda stage, done, total: None


def _rich_bar():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    labels = {"parse": "files parsed", "embed": "texts embedded"}
    tasks: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False, console=Console(stderr=True),  # stdout is the report's, which may be redirected
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@contextmanager
def timed_stage(seconds: dict[str, float], name: str):
    """Adds the wall time of the block to seconds[name] (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
