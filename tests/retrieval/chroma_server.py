"""A real `chroma run` server on a free loopback port with its data in a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serve.helpers import closed_port

START_TIMEOUT_S = 60.0


@dataclass
class ChromaServer:
    """A running Chroma server: where it listens, its process and its log file."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def settings(self) -> str:
        """The `chroma:` line of a `stepladder.yaml` that points at this server."""
        return f"chroma: {{host: {self.host}, port: {self.port}}}\n"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def chroma_command() -> str:
    """The `chroma` CLI of the environment running the tests (it comes with chromadb)."""
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if found is None:
        pytest.fail(
            "the `chroma` command is missing: install chromadb (`pip install chromadb`) in the "
            "environment running the tests; the Chroma server tests need a real server.",
            pytrace=False,
        )
    return found


@contextmanager
def chroma_server(folder: Path) -> Iterator[ChromaServer]:
    """Run `chroma run` with its data under `folder`; fail (not skip) when it cannot start."""
    folder.mkdir(parents=True, exist_ok=True)
    port = closed_port()
    log = folder / "chroma.log"
    command = [chroma_command(), "run", "--path", str(folder / "data"), "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    environment = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   env=environment)  # fmt: skip
    server = ChromaServer("127.0.0.1", port, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        server.stop()


def _wait_ready(server: ChromaServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    url = f"http://{server.host}:{server.port}/api/v2/heartbeat"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(
        f"the Chroma server did not start (`{' '.join(map(str, server.process.args))}`, exit "
        f"{server.process.returncode}); its log:\n{server.log.read_text(errors='replace')}",
        pytrace=False,
    )
