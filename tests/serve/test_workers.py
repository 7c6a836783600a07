"""`stepladder serve --workers N`: refused without shared state; N processes on one port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config import load_project
from stepladder.serve.workers import POSTGRES_VARIABLE, check_workers, shared_state
from tests.conftest import write_project
from tests.serve.helpers import URL, serving
from tests.serve.projects import GREET, STEPS

runner = CliRunner()
WAIT_S = 60
# The parent process, with the state taken as shared (what a Postgres setting makes true).
SHARED = (
    "import sys; import stepladder.serve.workers as workers; "
    "workers.shared_state = lambda project: True; "
    "from stepladder.cli import app; sys.argv[0] = 'stepladder'; app()"
)


def _project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", {"flows/greet.yaml": GREET, "flows/steps.py": STEPS})


def test_more_than_one_worker_is_refused_without_shared_state(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = runner.invoke(app, ["--project", str(project), "serve", "--workers", "2"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--workers 2: several processes need shared state" in message
    assert '`state: {postgres: "postgresql://..."}` in stepladder.yaml' in message
    assert POSTGRES_VARIABLE in message and "--workers 1" in message
    assert "Traceback" not in result.stderr


def test_one_worker_is_the_plain_service(tmp_path: Path) -> None:
    with serving(_project(tmp_path), "--workers", "1") as server, server.client() as client:
        answer = client.post("/flows/greet/runs", json={"name": "Ada"})
        assert answer.status_code == 200 and answer.json()["status"] == "finished"
        assert "workers:" not in server.stderr


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    project = _project(tmp_path)
    command = [sys.executable, "-c", SHARED, "--project", str(project), "serve"]
    parent = subprocess.Popen(
        [*command, "--port", "0", "--workers", "2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=project,
    )  # fmt: skip
    assert parent.stderr is not None
    try:
        lines = []
        for line in parent.stderr:
            lines.append(line)
            if URL.search(line):
                break
        match = URL.search("".join(lines))
        assert match is not None, "".join(lines)
        with httpx.Client(base_url=match.group(1), timeout=WAIT_S) as client:
            for _ in range(WAIT_S * 10):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            workers = _children(parent.pid)
            assert len(workers) == 2
            answers = [client.post("/flows/greet/runs", json={"name": f"n{i}"}) for i in range(6)]
        assert all(a.status_code == 200 and a.json()["status"] == "finished" for a in answers)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(WAIT_S) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_a_postgres_state_makes_the_state_shared(tmp_path: Path) -> None:
    project_root = _project(tmp_path)
    plain = load_project(root=project_root)
    assert not shared_state(plain)
    (project_root / "stepladder.yaml").write_text(
        (project_root / "stepladder.yaml").read_text(encoding="utf-8")
        + '\nstate: {postgres: "postgresql://stepladder@127.0.0.1:5432/stepladder"}\n',
        encoding="utf-8",
    )
    shared = load_project(root=project_root)
    assert shared_state(shared)
    check_workers(shared, 2)  # allowed: no error
