"""`gtindex serve`: keep an index open so that `gtindex search` answers without loading it.

A fresh `gtindex search` process spends most of its time importing numpy, FAISS and
onnxruntime and loading the query model (~0.5 s CPU on a 2-core machine), not searching.
`gtindex serve --index DIR` does that once and then answers on a Unix socket; while it
runs, `gtindex search QUERY --index DIR` sends the query there and only imports the
standard library and click. The answer is the same as an in-process search.

The socket lives in $XDG_RUNTIME_DIR (else the temp folder), named after the user id and
the index's real path, and is created under umask 077: only its owner can connect, and a client uses
a socket only when it is owned by the same user. Anything unexpected on the client side
(no server, a stale socket, a timeout, a garbled reply) falls back to searching
in-process, so a dead server never costs an answer. The server reopens the index when a
build has published a new generation, so it never answers from a replaced one.

Each client is read in its own thread with a read timeout, so a client that connects and
stalls delays no other search; the searches themselves run one at a time on the open index.

Protocol: one request per connection, one JSON line each way:
    {"query": str, "filters": {...Index.search keyword arguments}}
    {"ok": true, "hits": [Hit fields]} | {"ok": false, "error": "one-line reason"}
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import stat
from pathlib import Path

CLIENT_TIMEOUT_S = 10.0  # a query the server has not answered by then is searched in-process
# A client sends its request line at once; one that sends half a line and waits is dropped
# after this long. Clients are served concurrently, so it delays nobody else meanwhile.
REQUEST_READ_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 1 << 20


def socket_path(index_dir: Path | str, runtime_dir: Path | str | None = None) -> Path:
    """Where the server of this index listens (one per user and index).

    runtime_dir: the socket folder [$XDG_RUNTIME_DIR, else $TMPDIR, else /tmp].
    """
    real = os.path.realpath(index_dir)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    runtime = str(runtime_dir or os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp")
    if not os.path.isdir(runtime):
        runtime = "/tmp"
    return Path(runtime) / f"gtindex-{os.getuid()}-{digest}.sock"


# --------------------------------------------------------------------------- client


def served_search(index_dir: Path | str, query: str, filters: dict) -> list | None:
    """Hits from a running server of this index, or None when there is none to ask.

    A GtindexError the server reports (an unknown --doc, say) is raised here, as an
    in-process search would raise it.
    """
    path = socket_path(index_dir)
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        return None  # not ours: never send a query to a socket another user could have made
    try:
        reply = _exchange(path, {"query": query, "filters": filters})
    except (OSError, ValueError):
        return None
    if not isinstance(reply, dict):
        return None
    if reply.get("ok") is True and isinstance(reply.get("hits"), list):
        return [hit_from_wire(fields) for fields in reply["hits"]]
    if reply.get("ok") is False and isinstance(reply.get("error"), str):
        from .errors import GtindexError

        raise GtindexError(reply["error"])
    return None


def _exchange(path: Path, request: dict) -> object:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(CLIENT_TIMEOUT_S)
        client.connect(str(path))
        client.sendall(json.dumps(request).encode("utf-8") + b"\n")
        return json.loads(_read_line(client))


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_MESSAGE_BYTES * 16:
            raise ValueError("reply too long")
    return data


def hit_to_wire(hit) -> dict:
    """A Hit's constructor fields as JSON-able data."""
    from dataclasses import asdict, fields

    data = asdict(hit)
    return {f.name: data[f.name] for f in fields(hit) if f.init}


def hit_from_wire(data: dict):
    from .citations import CitedLine, Hit

    return Hit(**{**data, "lines": [CitedLine(**line) for line in data["lines"]]})


# --------------------------------------------------------------------------- server


def serve(index_dir: Path | str, ready=None) -> None:
    """Answer searches of `index_dir` until interrupted (SIGINT or SIGTERM)."""
    import signal
    import threading

    from .search import Index

    # absolute: a client in another folder reads the server's messages ("no document named …
    # in IDX; `gtindex list --index IDX` shows the names"), and IDX must work from there too
    index_dir = Path(index_dir).absolute()
    state = {"index": _open_warm(Index, index_dir)}
    searching = threading.Lock()  # one search at a time on the shared index; reading requests is concurrent
    path = socket_path(index_dir)
    _claim(path)

    class Handler(socketserver.StreamRequestHandler):
        timeout = REQUEST_READ_TIMEOUT_S  # on the client's socket: a stalled request cannot hold a thread

        def handle(self) -> None:
            try:
                line = self.rfile.readline(MAX_MESSAGE_BYTES)
            except OSError:  # timed out or reset: the client sent no whole request
                return
            if not line.strip():
                return  # a probe (another server checking the socket) or a client that gave up
            with searching:
                reply = _answer(line, state, Index, index_dir)
            try:
                self.wfile.write(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
            except OSError:
                pass  # the client stopped waiting; nobody to tell

    previous_umask = os.umask(0o077)  # the socket is its owner's only
    try:
        server = _Server(str(path), Handler)
    finally:
        os.umask(previous_umask)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if ready is not None:
            ready(path)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        path.unlink(missing_ok=True)
        state["index"].close()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A thread per client, so that one slow or stalled client delays no other search."""

    daemon_threads = True  # a client thread never keeps a stopping server alive


def _answer(line: bytes, state: dict, Index, index_dir: Path) -> dict:
    """The reply to one request line; failures are one-line errors, never a traceback."""
    import sys

    from .errors import GtindexError

    try:
        request = json.loads(line)
        index = _current(state, Index, index_dir)
        hits = index.search(request["query"], **request.get("filters", {}))
        return {"ok": True, "hits": [hit_to_wire(hit) for hit in hits]}
    except GtindexError as exc:
        return {"ok": False, "error": str(exc)}
    except (ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": f"bad request to gtindex serve: {exc}"}
    except Exception as exc:  # a bug must not stop the server; the client shows the reason
        reason = f"gtindex serve failed: {type(exc).__name__}: {exc}"
        print(f"gtindex: {reason}", file=sys.stderr, flush=True)
        return {"ok": False, "error": reason}


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the server as Ctrl-C does: socket removed, index closed


def _open_warm(Index, index_dir: Path):
    """The index with its query model loaded (the first search pays for it, not a client)."""
    index = Index.open(index_dir)
    index.encoder()
    return index


def _current(state: dict, Index, index_dir: Path):
    """The open index, reopened first when a build has published a newer generation."""
    from .index import generations

    live = generations.current_generation(index_dir)
    if live is not None and live.resolve() != state["index"].generation.path.resolve():
        state["index"].close()
        state["index"] = _open_warm(Index, index_dir)
    return state["index"]


def _claim(path: Path) -> None:
    """Take the socket path: refuse when a live server holds it, remove a stale one."""
    from .errors import GtindexError

    if not os.path.lexists(path):
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.connect(str(path))
    except OSError:
        try:
            path.unlink()  # nobody listens: left by a server that was killed
        except OSError as exc:
            raise GtindexError(f"cannot remove the stale socket {path} ({exc.strerror}); remove it by hand") from None
        return
    raise GtindexError(f"a gtindex server already answers for this index at {path}")
