"""`stepladder serve --workers N`: N processes answering on one listening socket.

Each worker is the same `stepladder serve` command in a child process that inherits the socket
(its descriptor in `FD_VARIABLE`) instead of binding one; the kernel hands each connection to
one of them. The workers share nothing in memory: a run started on one is read, resumed or
answered through another only when the state (checkpoints, the runs registry, reviews) is in
one database that every process sees. Until then more than one worker is refused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from stepladder.config import Project
from stepladder.errors import ConfigError

__all__ = [
    "FD_VARIABLE",
    "POSTGRES_VARIABLE",
    "check_workers",
    "inherited_socket",
    "run_workers",
    "shared_state",
]

FD_VARIABLE = "STEPLADDER_SERVE_FD"
POSTGRES_VARIABLE = "STEPLADDER_POSTGRES_URL"


def shared_state(project: Project) -> bool:
    """Whether every process sees the same runs, checkpoints and reviews (a Postgres state).

    The project folder's SQLite database and the in-memory run registry are one process's.
    """
    return project.settings.state.postgres is not None


def check_workers(project: Project, workers: int) -> None:
    """Refuse more than one worker when the state is not shared.

    Raises:
        ConfigError: `workers` > 1 and the state is the project folder's.
    """
    if workers > 1 and not shared_state(project):
        raise ConfigError(
            f"--workers {workers}: several processes need shared state, and this project keeps "
            "its runs, checkpoints and reviews in its own folder (SQLite, one process's "
            "memory), so a run started by one worker could not be read, resumed or reviewed "
            "through another. Put the state in Postgres (`state: {postgres: "
            f'"postgresql://..."}}` in stepladder.yaml, or {POSTGRES_VARIABLE}), or serve with '
            "--workers 1 and run replicas behind a load balancer only once the state is shared."
        )


def inherited_socket() -> socket.socket | None:
    """The listening socket a worker inherited from `run_workers`, if this process is one."""
    descriptor = os.environ.pop(FD_VARIABLE, None)
    return None if descriptor is None else socket.socket(fileno=int(descriptor))


def run_workers(sock: socket.socket, workers: int, argv: Sequence[str] | None = None) -> int:
    """Run `workers` copies of this command on `sock` until they stop; Ctrl-C stops them all.

    Args:
        sock: The listening socket (inheritable).
        workers: How many processes.
        argv: The command's arguments (default: this process's); `--workers` is dropped.

    Returns:
        The exit status of the first worker that failed, else 0.
    """
    command = [sys.executable, "-m", "stepladder", *_without_workers(argv or sys.argv[1:])]
    env = {**os.environ, FD_VARIABLE: str(sock.fileno())}
    children = [
        subprocess.Popen(command, env=env, pass_fds=(sock.fileno(),)) for _ in range(workers)
    ]

    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for child in children:
            if child.poll() is None:
                child.kill()
        sock.close()
    # uvicorn ends a worker it stopped by raising the signal again: a requested stop, not a crash
    failed = [code for code in codes if code and not (stopping and code == -signal.SIGTERM)]
    code = next(iter(failed), 0)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says


def _without_workers(argv: Sequence[str]) -> list[str]:
    """The arguments without `--workers N` / `--workers=N`."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--workers":
            skip = True
        elif not argument.startswith("--workers="):
            kept.append(argument)
    return kept
