"""Cost does not move with load: identical runs pass the gate when one ran on a busy machine."""

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.config.price_table import PRICE_TABLE_FILE
from stepladder.evalsets.results import load_run
from tests.conftest import write_project
from tests.fake_chat import chat_server

runner = CliRunner()
BURN = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"


@contextmanager
def busy_cpus(processes: int = 2) -> Iterator[None]:
    """Keep `processes` CPU-bound subprocesses spinning (each ends by itself after 2 min)."""
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def reply_project(root: Path, port: int) -> Path:
    """A one-node generate flow on a self-hosted tier served by the fake server; 4 cases."""
    token = uuid.uuid4().hex
    cases = [{"id": f"c{i}", "inputs": {"message": f"{token} {i}"}, "expected": {"reply": "ok"}}
             for i in range(4)]  # fmt: skip
    table = (
        "self_hosted:\n  small: {model: m, runtime: openai-compatible, usd_per_hour: 3.6, "
        "prompt_tokens_per_second: 1000, completion_tokens_per_second: 100}\n"
    )
    write_project(
        root,
        {
            "flows/reply.yaml": "name: reply\nstate:\n  message: {type: str, input: true}\n"
            "  reply: str\nnodes:\n  - {id: reply, kind: generate, reads: [message], "
            "output: reply, retries: 0}\n",
            "evalsets/reply.yaml": "name: reply\nflow: reply\ncases: reply.jsonl\n"
            "metrics:\n  reply: exact\n",
            "evalsets/reply.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
            PRICE_TABLE_FILE: table,
        },
        "name: load\ntiers:\n  small: {runtime: openai-compatible, "
        f'base_url: "http://127.0.0.1:{port}/v1", model: m}}\n',
    )
    return root / "evalsets/reply.yaml"


def eval_run(root: Path, spec: Path) -> str:
    """Run the eval with the CLI; the new run's id."""
    before = set((root / ".stepladder/evals").glob("*"))
    result = runner.invoke(app, ["--project", str(root), "eval", "run", str(spec)])
    assert result.exit_code == 0, result.output
    assert "cost of tier small: $3.6/h machine at 1000 prompt + 100 completion" in result.output
    (folder,) = set((root / ".stepladder/evals").glob("*")) - before
    return folder.name


def test_the_gate_passes_identical_runs_when_one_ran_under_cpu_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delay = {"seconds": 0.0}

    def answer(request: dict[str, Any]) -> str:
        time.sleep(delay["seconds"])
        return '{"reply": "ok"}'

    root = tmp_path / "p"
    with chat_server(answer) as (port, requests):
        spec = reply_project(root, port)
        monkeypatch.chdir(root)
        quiet = eval_run(root, spec)
        delay["seconds"] = 0.3  # a busy server: every call takes far longer
        with busy_cpus():
            loaded = eval_run(root, spec)
        assert len(requests) == 8
    runs = [load_run(root / ".stepladder/evals" / run_id) for run_id in (quiet, loaded)]
    # Each call: 3 prompt tokens at 1000/s + 5 completion tokens at 100/s = 0.053 s at $0.001/s.
    for run in runs:
        assert [case.cost_usd for case in run.results] == [pytest.approx(0.053 * 0.001)] * 4
        report = (root / ".stepladder/evals" / run.manifest.run_id / "report.html").read_text()
        assert "cost of tier small: $3.6/h machine at 1000 prompt" in report
        assert run.manifest.pricing == {
            "small": "$3.6/h machine at 1000 prompt + 100 completion tokens/s "
            "(the price table, prices.yaml)"
        }
    gate = runner.invoke(app, ["--project", str(root), "eval", "compare", quiet, loaded, "--gate"])
    assert gate.exit_code == 0, gate.output
    assert "priced differently" not in gate.output
