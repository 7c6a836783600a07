"""One writer per checkpoint thread (across processes), threads that belong to one flow, and a
loop whose exit is never taken stopping with a clear error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.errors import StepLimitError, ThreadConflictError
from stepladder.flows import compile_project_flow, run_flow
from stepladder.flows.project import checkpoint_path
from stepladder.flows.threads import flow_of_thread, lock_path
from stepladder.nodes.function import SYNC_NODE_EXECUTOR
from tests.conftest import write_project
from tests.serve.projects import HARD_LOOP

STEPS = """
import time
from pathlib import Path

HERE = Path(__file__).parent


def log(line: str) -> None:
    with open(HERE / "log.txt", "a") as f:
        f.write(line + "\\n")


def first(n: int) -> int:
    log("first")
    return n + 1


def hold(a: int) -> int:
    log("hold")
    (HERE / "holding").touch()
    deadline = time.monotonic() + 120
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return a * 10


def last(b: int) -> str:
    log("last")
    return f"done {b}"


def other(n: int) -> int:
    return n


def again(turns: int) -> dict:
    return {"turns": turns + 1, "done": "no"}
"""
SLOW = """
name: slow
state:
  n: {type: int, input: true}
  a: int
  b: int
  c: str
nodes:
  - {id: first, kind: function, call: "flows.steps:first", reads: [n], writes: [a]}
  - {id: hold, kind: function, call: "flows.steps:hold", reads: [a], writes: [b]}
  - {id: last, kind: function, call: "flows.steps:last", reads: [b], writes: [c]}
"""
OTHER = """
name: other
state:
  n: {type: int, input: true}
  m: int
nodes:
  - {id: other, kind: function, call: "flows.steps:other", reads: [n], writes: [m]}
"""
TIMEOUT_S = 120


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {"flows/steps.py": STEPS, "flows/slow.yaml": SLOW, "flows/other.yaml": OTHER,
             "flows/loop.yaml": HARD_LOOP}  # fmt: skip
    return write_project(tmp_path / "proj", files)


def stepladder(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stepladder", "--project", str(project), *args]


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_a_second_run_on_a_running_thread_is_refused_across_processes(project: Path) -> None:
    flows = project / "flows"
    command = stepladder(project, "run", "slow", "--input", '{"n": 1}', "--thread", "conc-1")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(flows / "holding", first)
        second = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert second.returncode == 2, second.stderr
        assert "thread 'conc-1' has a run in progress (pid " in second.stderr
        assert "Traceback" not in second.stderr and second.stdout == ""
        (flows / "go").touch()
        out, err = first.communicate(timeout=TIMEOUT_S)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert '"c": "done 20"' in out
    assert (flows / "log.txt").read_text().split() == ["first", "hold", "last"]
    assert not lock_path(checkpoint_path(load_project(project)), "conc-1").exists()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert rerun.returncode == 0, rerun.stderr  # the thread is free again


def test_a_thread_belongs_to_the_flow_of_its_first_run(project: Path) -> None:
    done = subprocess.run(
        stepladder(project, "run", "other", "--input", '{"n": 1}', "--thread", "mine"),
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (project / "flows" / "go").touch()
    refused = subprocess.run(
        stepladder(project, "run", "slow", "--input", '{"n": 1}', "--thread", "mine"),
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "thread 'mine' belongs to flow 'other'" in refused.stderr
    assert "--thread" in refused.stderr and "Traceback" not in refused.stderr
    assert not (project / "flows" / "log.txt").exists()  # no node of `slow` ran
    assert flow_of_thread(checkpoint_path(load_project(project)), "mine") is not None


async def test_in_one_process_a_second_run_on_the_thread_is_refused(project: Path) -> None:
    loaded = load_project(project)
    flow = compile_project_flow(loaded, "slow")
    db = checkpoint_path(loaded)
    pool = ThreadPoolExecutor(2)  # the blocking node runs off the loop, as the service runs it
    SYNC_NODE_EXECUTOR.set(pool)
    first = asyncio.create_task(run_flow(flow, {"n": 2}, thread_id="t-1", checkpoint_db=db))
    holding = project / "flows" / "holding"
    for _ in range(TIMEOUT_S * 20):
        if holding.exists():
            break
        await asyncio.sleep(0.05)
    with pytest.raises(ThreadConflictError, match="has a run in progress") as refused:
        await run_flow(flow, {"n": 3}, thread_id="t-1", checkpoint_db=db)
    assert refused.value.reason == "running" and refused.value.thread_id == "t-1"
    (project / "flows" / "go").touch()
    result = await asyncio.wait_for(first, TIMEOUT_S)
    assert result.state["c"] == "done 30"
    other = compile_project_flow(loaded, "other")
    with pytest.raises(ThreadConflictError, match="belongs to flow 'slow'") as wrong:
        await run_flow(other, {"n": 1}, thread_id="t-1", checkpoint_db=db)
    assert wrong.value.reason == "other_flow"
    pool.shutdown()


async def test_a_loop_that_never_exits_stops_at_its_step_limit(project: Path) -> None:
    flow = compile_project_flow(load_project(project), "loop")
    with pytest.raises(StepLimitError) as stopped:
        await run_flow(flow, {}, max_steps=7)
    message = str(stopped.value)
    assert "flow 'loop' took 7 steps without reaching its end" in message
    assert "The last nodes run: again, again" in message and "--max-steps N" in message
    assert stopped.value.max_steps == 7 and stopped.value.partial_state["done"] == "no"


def test_the_cli_reports_the_step_limit_with_exit_2(project: Path) -> None:
    stopped = subprocess.run(
        stepladder(project, "run", "loop", "--input", "{}", "--max-steps", "5"),
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert stopped.returncode == 2
    assert "error: flow 'loop' took 5 steps without reaching its end" in stopped.stderr
    assert "internal error" not in stopped.stderr and "Traceback" not in stopped.stderr
