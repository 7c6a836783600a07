"""`stepladder run` in its own process stops its agents' MCP servers on Ctrl-C and on failure."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import write_project
from tests.tools.mcp.helpers import SHOP, gone

SETTINGS = """
name: interrupted
allow_imports: [flows]
tiers:
  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:9/v1", model: m}}
mcp_servers:
  shop:
    command: [python, {shop}]
    env: {{STARTS_FILE: {starts}}}
"""

STEPS = """
import asyncio
from pathlib import Path

HERE = Path(__file__).parent


async def wait(question: str) -> str:
    if (HERE / "fail").exists():
        raise RuntimeError("the step broke")
    (HERE / "waiting").touch()
    await asyncio.sleep(120)
    return question
"""

FLOW = """
name: ask
state:
  question: {type: str, input: true}
  asked: str
  answer: str
nodes:
  - {id: wait, kind: function, call: "flows.steps:wait", reads: [question], writes: [asked]}
  - id: support
    kind: agent
    instructions: Answer the customer's question.
    reads: [asked]
    output: answer
    tools: [{mcp: shop, include: [order_status]}]
"""


def start_run(tmp_path: Path, *, fail: bool = False) -> tuple[subprocess.Popen[str], Path]:
    """`stepladder run ask` in a project whose agent uses the shop server; the starts file."""
    starts = tmp_path / "starts.txt"
    settings = SETTINGS.format(shop=json.dumps(str(SHOP)), starts=json.dumps(str(starts)))
    project = write_project(
        tmp_path / "proj", {"flows/ask.yaml": FLOW, "flows/steps.py": STEPS}, settings
    )
    if fail:
        (project / "flows" / "fail").touch()
    command = [sys.executable, "-m", "stepladder", "--project", str(project), "run", "ask",
               "--input", '{"question": "Where is order 42?"}']  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, starts


def server_pid(starts: Path, process: subprocess.Popen[str], marker: Path) -> int:
    """The shop server's process id, once it has started and the run reached its node."""
    deadline = time.monotonic() + 120
    while not (starts.exists() and marker.exists()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started its MCP server"
        time.sleep(0.05)
    return int(starts.read_text().split()[0])


def test_ctrl_c_stops_the_run_and_its_mcp_server(tmp_path: Path) -> None:
    process, starts = start_run(tmp_path)
    pid = server_pid(starts, process, tmp_path / "proj" / "flows" / "waiting")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert gone(pid)


def test_a_failed_run_stops_its_mcp_server(tmp_path: Path) -> None:
    process, starts = start_run(tmp_path, fail=True)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert "the step broke" in err
    (pid,) = [int(line) for line in starts.read_text().split()]
    assert gone(pid)
