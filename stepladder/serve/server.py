"""Running the application: a listening socket (bound first, so its real port is known), uvicorn.

One process, one event loop (uvloop when installed); runs execute concurrently as tasks on it.
The objects that exist once the app is built (modules, compiled flows, the app) are moved out
of the garbage collector's sight (`gc.freeze`), and its youngest generation is collected less
often: full collections that traversed them took about half the CPU time of a run under load.
"""

from __future__ import annotations

import gc
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI

from stepladder.errors import ConfigError, RunError

__all__ = ["BACKLOG", "GRACE_S", "listen", "run_server", "url_of"]

BACKLOG = 2048
GRACE_S = 30
SWITCH_INTERVAL_S = 0.001
GC_YOUNG_THRESHOLD = 7_000  # CPython's default: 700 allocations


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host:port` (port 0: a free one).

    Raises:
        ConfigError: When it cannot listen there (port taken, unknown address, ...).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = _tcp_socket(family)
    except OSError as error:
        raise ConfigError(f"cannot open a socket for {host}:{port}: {error}.") from error
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); pick another --port, "
            "or --port 0 for a free one."
        ) from error
    sock.set_inheritable(True)
    return sock


def _tcp_socket(family: socket.AddressFamily) -> socket.socket:
    """A TCP socket whose protocol is named, so asyncio sets TCP_NODELAY on its connections.

    With `socket.create_server`'s protocol 0 it does not, and every response after the first on
    a kept-alive connection waited ~40 ms for the client's delayed ACK (Nagle's algorithm).
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def url_of(sock: socket.socket) -> str:
    """The base URL a listening socket answers on."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_server(app: FastAPI, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve `app` on `sock` until interrupted (Ctrl-C or SIGTERM: a graceful shutdown).

    Raises:
        RunError: When the application fails to start.
    """
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level in ("debug", "trace", "info"),
        loop="auto",  # uvloop when installed
        lifespan="on",
        timeout_graceful_shutdown=GRACE_S,
    )
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # the event loop waits less for the GIL
    _calm_gc()
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise RunError("the service did not start (see the messages above).")


def _calm_gc() -> None:
    """Freeze what exists now (never garbage, traversed by each full collection otherwise)."""
    gc.collect()
    gc.freeze()
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
