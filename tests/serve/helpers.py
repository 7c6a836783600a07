"""A real `stepladder serve` process on a free loopback port, and reading its answers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TOKEN_VARIABLE = "STEPLADDER_API_TOKEN"
START_TIMEOUT_S = 90.0
URL = re.compile(r" at (http://[^\s]+) ")


@dataclass
class Server:
    """A running server: its base URL, process and what it wrote on stderr."""

    url: str
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def client(self, token: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def async_client(self, token: str | None = None, timeout: float = 60.0) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, limits=limits)

    @property
    def stderr(self) -> str:
        return "".join(self.log)


@contextmanager
def serving(
    project: Path, *args: str, env: dict[str, str | None] | None = None
) -> Iterator[Server]:
    """Start `stepladder serve --port 0` for `project`; stop it (SIGTERM) afterwards."""
    command = [sys.executable, "-m", "stepladder", "--project", str(project), "serve"]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    environment.pop(TOKEN_VARIABLE, None)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    process = subprocess.Popen(
        [*command, "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=project,
    )
    log: list[str] = []
    found = threading.Event()
    threading.Thread(target=_pump, args=(process, log, found), daemon=True).start()
    try:
        server = Server(_wait_for_url(process, log, found), process, log)
        _wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pump(process: subprocess.Popen[str], log: list[str], found: threading.Event) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        log.append(line)
        if URL.search(line):
            found.set()
    found.set()


def _wait_for_url(process: subprocess.Popen[str], log: list[str], found: threading.Event) -> str:
    found.wait(START_TIMEOUT_S)
    for line in log:
        if match := URL.search(line):
            return match.group(1)
    process.kill()
    raise AssertionError("the server did not start:\n" + "".join(log))


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError("the server exited:\n" + server.stderr)
        try:
            if httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never answered /healthz:\n" + server.stderr)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sse_events(text: str) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
