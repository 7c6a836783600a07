"""The eval runner: concurrency, failures recorded, traces per case, resume after a kill."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.config.retrieval import EmbeddingSettings
from stepladder.errors import UserError
from stepladder.evalsets import load_run
from stepladder.evalsets.runner import EvalOptions, evals_dir, prepare_eval
from stepladder.evalsets.spec import load_eval_spec
from stepladder.predictors.classifier.data import read_examples
from stepladder.predictors.classifier.model import save_classifier
from stepladder.predictors.classifier.train import train_classifier
from stepladder.testing import arun_eval
from tests.evalsets.eval_project import eval_project
from tests.tracing.spans_helpers import attrs, in_memory

TEXTS = ["hello", "boom", "quiet", "loud", "calm", "storm", "rain", "sun"]


async def test_cases_run_concurrently_and_a_failure_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.log"
    monkeypatch.setenv("EVAL_TEST_DELAY", "0.3")
    monkeypatch.setenv("EVAL_TEST_EVENTS", str(events))
    spec = eval_project(tmp_path, TEXTS)
    result = await arun_eval(spec, concurrency=8)
    assert most_at_once(events.read_text().splitlines()) > 1  # cases overlapped
    by_id = {r.case_id: r for r in result.record.results}
    assert len(by_id) == 8
    assert not by_id["c1"].ok and "boom is not allowed" in (by_id["c1"].error or "")
    assert by_id["c1"].scores["loud"].value == 0.0
    assert by_id["c0"].outputs == {"loud": "HELLO"} and by_id["c0"].scores["loud"].value == 1.0
    assert [r.case_id for r in result.failed] == ["c1"]
    assert result.metric("loud").mean == pytest.approx(7 / 8)
    assert result.summary.failed == 1


async def test_each_case_is_its_own_trace_linked_to_the_run(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS[:4])
    tracing, exporter = in_memory()
    result = await arun_eval(spec, tracing=tracing)
    roots = [attrs(s) for s in exporter.get_finished_spans() if s.parent is None]
    assert sorted(r["stepladder.eval.case_id"] for r in roots) == ["c0", "c1", "c2", "c3"]
    assert {r["stepladder.eval.run_id"] for r in roots} == {result.record.manifest.run_id}
    traces = {r.case_id: r.trace_id for r in result.record.results}
    assert len(set(traces.values())) == 4 and all(traces.values())  # the failed case too


async def test_a_split_selects_its_cases_and_unknown_splits_are_refused(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS)
    result = await arun_eval(spec, split="dev")
    assert sorted(r.case_id for r in result.record.results) == ["c0", "c1"]
    with pytest.raises(UserError, match="not a split of this eval"):
        await arun_eval(spec, split="holdout")


def test_a_killed_run_resumes_with_only_the_missing_cases(tmp_path: Path) -> None:
    texts = [f"word{i}" for i in range(12)]
    spec = eval_project(tmp_path, texts)
    log = tmp_path / "executions.log"
    env = {**os.environ, "EVAL_TEST_LOG": str(log), "EVAL_TEST_DELAY": "0.4"}
    command = [sys.executable, "-m", "stepladder", "eval", str(spec), "--concurrency", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    runs = evals_dir(load_project(root=tmp_path))
    deadline = time.time() + 60
    while time.time() < deadline:
        done = [p for p in runs.glob("*/results.jsonl") if len(p.read_text().splitlines()) >= 3]
        if done:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    [folder] = [p.parent for p in runs.glob("*/results.jsonl")]
    finished_before = {r.case_id for r in load_run(folder).results}
    assert 3 <= len(finished_before) < 12
    resumed = subprocess.run(
        [*command, "--resume", folder.name, "--json"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["cases"] == 12 and summary["run_id"] == folder.name
    record = load_run(folder)
    assert sorted(r.case_id for r in record.results) == sorted(f"c{i}" for i in range(12))
    executions = log.read_text().split()
    # Every case ran once, except at most the one cut off by the kill.
    assert len(executions) in (12, 13)
    again = [word for word in set(executions) if executions.count(word) > 1]
    assert all(f"c{texts.index(w)}" not in finished_before for w in again)
    assert record.manifest.finished is not None


def test_resume_refuses_an_unknown_run_or_another_eval(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, TEXTS[:2])
    project = load_project(root=tmp_path)
    with pytest.raises(UserError, match="no such eval run"):
        prepare_eval(project, load_eval_spec(spec), EvalOptions(resume="20990101-000000-abcd"))


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
async def test_the_support_eval_on_the_embedded_model(
    tmp_path: Path, embedded_pool: object
) -> None:
    shutil.copytree(EXAMPLES / "flows", tmp_path / "flows")
    shutil.copytree(EXAMPLES / "evalsets", tmp_path / "evalsets")
    (tmp_path / "stepladder.yaml").write_text("name: support-eval\nladder: [small, human]\n")
    examples = read_examples(EXAMPLES / "data/bitext/category_train.csv", "text", "label")
    report = train_classifier("support-category", examples, EmbeddingSettings())
    save_classifier(report.classifier, tmp_path / ".stepladder")
    result = await arun_eval(tmp_path / "evalsets/support.yaml", models=embedded_pool, limit=3)
    assert len(result.record.results) == 3 and not result.failed
    assert {m.name for m in result.summary.metrics} == {"category", "entity_type", "entity_value"}
    for case in result.record.results:
        assert case.input_tokens > 0 and case.cost_usd > 0 and case.latency_s > 0
        assert case.outputs["category"] is not None
    assert result.summary.cost_total_usd == pytest.approx(
        sum(c.cost_usd for c in result.record.results)
    )


def most_at_once(events: list[str]) -> int:
    """The most cases that had started and not yet ended, from `start X` / `end X` lines."""
    running = most = 0
    for event in events:
        running += 1 if event.startswith("start ") else -1
        most = max(most, running)
    return most
