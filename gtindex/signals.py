"""SIGTERM and SIGHUP unwind like Ctrl-C, so that the cleanup on the way out runs.

A process ended on the spot by SIGTERM (`kill`, a job scheduler's timeout) or SIGHUP (a
closed terminal) leaves what it was writing: a half-staged generation (`gen-new-*`), an
unpublished one, a `.fetch-*.part` download. Raised as `Terminated`, a KeyboardInterrupt,
the signal takes the path Ctrl-C takes: staged files removed, the live index untouched, one
line on stderr, and the shell's exit code for the signal (128 + its number).
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

UNWOUND = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread was."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@contextmanager
def unwind_on_termination() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise Terminated. Only the main thread can set
    a signal handler: elsewhere the block runs as it is. A signal ignored when the process
    started (`nohup` ignores SIGHUP) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated(signum)

    previous = {}
    for signum in UNWOUND:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
