"""The parent side of the fuzz suite: run cases in a worker, bounded in time and memory.

`FuzzWorker.run(case)` sends a case to the worker process and classifies what came back:

- `ok`: exit 0; `clear`: exit 2 with a message and no traceback;
- `traceback`: any other exit, a traceback or "internal error" in the output, or an exception
  that escaped the CLI;
- `hang`: no answer within the per-case timeout (the worker is killed and replaced);
- `memory`: the worker grew past its memory bound during the case (killed and replaced);
- `crash`: the worker died.

Whatever the outcome, `code_executed` says whether the case's canary file appeared.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fuzz.cases import FuzzCase

__all__ = ["CASE_TIMEOUT_S", "MEMORY_BOUND_MB", "FuzzWorker", "Outcome"]

REPOSITORY = Path(__file__).resolve().parents[2]
CASE_TIMEOUT_S = 60.0
"""A case with no answer by then has hung (a few seconds is normal; this allows a busy machine)."""
MEMORY_BOUND_MB = 512
"""How far the worker's resident memory may grow above its size after start-up."""
POLL_S = 0.05
BAD_WORDS = ("Traceback (most recent call last)", "internal error")


@dataclass(frozen=True)
class Outcome:
    """What one case did.

    Attributes:
        status: ok, clear, traceback, hang, memory or crash.
        code_executed: Whether the canary file appeared.
        exit_code: The CLI's exit code (None when the worker did not answer).
        output: stdout, stderr and an escaped traceback, for failure messages.
    """

    status: str
    code_executed: bool = False
    exit_code: int | None = None
    output: str = ""

    @property
    def acceptable(self) -> bool:
        """Exit 0 or a clear exit 2, and no code ran that the flow file had no right to run."""
        return self.status in ("ok", "clear") and not self.code_executed


class FuzzWorker:
    """A worker process that runs cases, replaced when one hangs or runs out of bounds."""

    def __init__(self, timeout_s: float = CASE_TIMEOUT_S, memory_mb: int = MEMORY_BOUND_MB):
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._folder = tempfile.TemporaryDirectory(prefix="stepladder-fuzz-")
        self._process: subprocess.Popen[str] | None = None
        self._baseline_kb = 0

    def __enter__(self) -> FuzzWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker and remove its folder."""
        self._kill()
        self._folder.cleanup()

    def run(self, case: FuzzCase) -> Outcome:
        """Run one case and classify it."""
        process = self._started()
        assert process.stdin is not None
        try:
            process.stdin.write(case.to_json() + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            self._kill()
            return Outcome("crash")
        status, answer = self._answer(process)
        if answer is None:
            self._kill()
            return Outcome(status)
        return _classify(answer)

    def _started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.worker", self._folder.name],
            cwd=REPOSITORY,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        status, ready = self._answer(self._process, startup=True)
        if ready is None:
            raise RuntimeError(f"the fuzz worker did not start ({status})")
        self._baseline_kb = _rss_kb(self._process.pid)
        return self._process

    def _answer(
        self, process: subprocess.Popen[str], startup: bool = False
    ) -> tuple[str, dict[str, Any] | None]:
        """Wait for the worker's next line, watching the clock and its memory."""
        assert process.stdout is not None
        deadline = time.monotonic() + self.timeout_s * (3 if startup else 1)
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(POLL_S):
                    line = process.stdout.readline()
                    return ("answered", json.loads(line)) if line else ("crash", None)
                if not startup and _rss_kb(process.pid) - self._baseline_kb > self.memory_mb * 1024:
                    return "memory", None
        return "hang", None

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _classify(answer: dict[str, Any]) -> Outcome:
    output = "\n".join(
        part for part in (answer["stdout"], answer["stderr"], answer["escaped"]) if part
    )
    code = answer["exit_code"]
    bad = answer["escaped"] or any(word in output for word in BAD_WORDS)
    if code == 0 and not bad:
        status = "ok"
    elif code == 2 and not bad and answer["stderr"].strip():
        status = "clear"
    else:
        status = "traceback"
    return Outcome(status, answer["canary"], code, output)


def _rss_kb(pid: int) -> int:
    """Resident memory of a process in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
