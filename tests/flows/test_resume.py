"""A checkpointed run whose process is killed mid-flow continues where it stopped."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_project

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


def second(a: int) -> int:
    log("second-start")
    if (HERE / "kill_me").exists():
        (HERE / "ready").touch()
        time.sleep(120)
    log("second")
    return a * 10


def third(a: int, b: int) -> str:
    log("third")
    return f"{a}/{b}"
"""

FLOW = """
name: chain
state:
  n: {type: int, input: true}
  a: int
  b: int
  c: str
nodes:
  - {id: first, kind: function, call: "flows.resume_steps:first", reads: [n], writes: [a]}
  - {id: second, kind: function, call: "flows.resume_steps:second", reads: [a], writes: [b]}
  - {id: third, kind: function, call: "flows.resume_steps:third", reads: [a, b], writes: [c]}
"""


def stepladder(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stepladder", "--project", str(project), *args]


@pytest.mark.slow
def test_killed_run_continues_from_last_completed_node(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj", {"flows/chain.yaml": FLOW, "flows/resume_steps.py": STEPS}
    )
    flows = project / "flows"
    (flows / "kill_me").touch()
    command = stepladder(project, "run", "chain", "--input", '{"n": 4}', "--thread", "t1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (flows / "ready").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the second node"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    assert process.returncode != 0
    assert (flows / "log.txt").read_text().split() == ["first", "second-start"]

    (flows / "kill_me").unlink()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed thread 't1' at second" in resumed.stderr
    assert json.loads(resumed.stdout) == {"n": 4, "a": 5, "b": 50, "c": "5/50"}
    assert (flows / "log.txt").read_text().split() == [
        "first",
        "second-start",
        "second-start",
        "second",
        "third",
    ]
    assert (project / ".stepladder" / "checkpoints.sqlite").is_file()

    again = subprocess.run(
        stepladder(project, "run", "chain", "--thread", "t1"), capture_output=True, text=True
    )
    assert again.returncode == 2
    assert "no unfinished run" in again.stderr
