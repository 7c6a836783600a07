"""`stepladder eval SPEC --remote URL,URL`: cases run on real `stepladder serve` replicas.

Each replica serves its own copy of the eval project and logs the cases it runs to its own
file (`EVAL_TEST_LOG`), so a test sees which replica ran which case.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from stepladder.api import EvalResult, Project
from stepladder.config import load_project
from stepladder.errors import UserError
from stepladder.evalsets import load_run
from stepladder.evalsets.remote import parse_remote
from stepladder.evalsets.results import RESULTS_FILE, CaseResult
from stepladder.evalsets.runner import evals_dir
from tests.evalsets.eval_project import eval_project
from tests.serve.helpers import Server, closed_port, serving

TOKEN = "replica-secret"
TEXTS = [f"word{i}" for i in range(10)] + ["boom"]
WAIT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


def _replica(stack: ExitStack, spec: Path, name: str, delay: str) -> tuple[Server, Path]:
    """Serve a copy of the eval project; its cases are logged to `<name>.log`."""
    folder = spec.parents[2] / name
    shutil.copytree(spec.parents[1], folder, ignore=shutil.ignore_patterns(".stepladder"))
    log = spec.parents[2] / f"{name}.log"
    env: dict[str, str | None] = {
        "STEPLADDER_API_TOKEN": TOKEN,
        "EVAL_TEST_LOG": str(log),
        "EVAL_TEST_DELAY": delay,
    }
    return stack.enter_context(serving(folder, env=env)), log


def _lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _comparable(result: CaseResult) -> dict[str, object]:
    """What a case gave, without what depends on where and when it ran."""
    return result.model_dump(exclude={"latency_s", "trace_id"})


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return eval_project(tmp_path_factory.mktemp("remote") / "client", TEXTS)


@pytest.fixture(scope="module")
def replicas(spec: Path) -> Iterator[list[tuple[Server, Path]]]:
    with ExitStack() as stack:
        yield [_replica(stack, spec, name, "0.1") for name in ("replica_a", "replica_b")]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLADDER_API_TOKEN", TOKEN)


def test_an_eval_spread_over_two_replicas_equals_an_in_process_run(
    spec: Path, replicas: list[tuple[Server, Path]], token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVAL_TEST_LOG", str(spec.parents[2] / "local.log"))
    monkeypatch.setenv("EVAL_TEST_DELAY", "0")
    project = Project(load_project(root=spec.parents[1]))
    local = project.eval(spec)
    urls = ",".join(server.url for server, _ in replicas)
    remote = project.eval(spec, remote=urls, concurrency=4)

    assert [_comparable(r) for r in _by_id(remote)] == [_comparable(r) for r in _by_id(local)]
    assert remote.record.manifest.remote == [server.url for server, _ in replicas]
    assert all(r.trace_id for r in remote.results if r.ok)
    assert remote.summary.metrics[0].mean == local.summary.metrics[0].mean
    assert remote.summary.remote == remote.record.manifest.remote
    assert all(server.url in remote.report.read_text() for server, _ in replicas)
    boom = next(r for r in remote.results if r.case_id == f"c{len(TEXTS) - 1}")
    assert not boom.ok and "boom is not allowed" in (boom.error or "")
    ran = [_lines(log) for _, log in replicas]
    assert all(ran), f"a replica ran no case: {ran}"
    assert sorted(ran[0] + ran[1]) == sorted(TEXTS)  # each case once, split between them


def test_a_replica_lacking_the_flow_a_bad_token_or_no_answer_is_a_clear_error(
    spec: Path, replicas: list[tuple[Server, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(load_project(root=spec.parents[1]))
    (server, _), _ = replicas
    monkeypatch.setenv("STEPLADDER_API_TOKEN", "wrong")
    with pytest.raises(UserError, match=f"{server.url}.*token was refused.*STEPLADDER_API_TOKEN"):
        project.eval(spec, remote=server.url)
    nowhere = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(UserError, match=f"no replica answers: {nowhere}"):
        project.eval(spec, remote=nowhere, token_env="ANOTHER_TOKEN")
    monkeypatch.setenv("ANOTHER_TOKEN", TOKEN)
    partly = project.eval(spec, remote=[nowhere, server.url], token_env="ANOTHER_TOKEN", limit=3)
    assert [r.ok for r in partly.results] == [True] * 3  # the unreachable one is passed over
    other = spec.parents[1] / "evalsets" / "other.yaml"
    other.write_text(spec.read_text().replace("flow: shout", "flow: whisper"), encoding="utf-8")
    (spec.parents[1] / "flows" / "whisper.yaml").write_text(
        (spec.parents[1] / "flows" / "shout.yaml").read_text().replace("shout", "whisper", 1)
    )
    with pytest.raises(UserError, match=f"{server.url} does not serve flow 'whisper'.*shout"):
        project.eval(other, remote=[nowhere, server.url], token_env="ANOTHER_TOKEN")
    with pytest.raises(UserError, match="--tier cannot apply to cases run on replicas"):
        project.prepare_eval(spec, remote=server.url, tier="small")
    with pytest.raises(UserError, match="not a service URL"):
        parse_remote("localhost:8000")


def test_a_replica_killed_mid_eval_has_its_cases_run_on_the_other(
    tmp_path: Path, token: None
) -> None:
    texts = [f"slow{i}" for i in range(16)]
    spec = eval_project(tmp_path / "client", texts)
    with ExitStack() as stack:
        (victim, victim_log), (survivor, survivor_log) = (
            _replica(stack, spec, name, "0.4") for name in ("replica_a", "replica_b")
        )
        project = Project(load_project(root=spec.parents[1]))
        outcome: list[EvalResult | BaseException] = []

        def evaluate() -> None:
            try:
                outcome.append(project.eval(spec, remote=[victim.url, survivor.url]))
            except BaseException as error:  # surfaced by the assertion below
                outcome.append(error)

        worker = threading.Thread(target=evaluate)
        worker.start()
        _wait_until(lambda: len(_lines(victim_log)) >= 2, "the victim never ran a case")
        victim.process.send_signal(signal.SIGKILL)
        worker.join(WAIT_S * 2)
        ran_on_victim = _lines(victim_log)
        assert len(outcome) == 1 and isinstance(outcome[0], EvalResult), outcome
        resumed = project.eval(spec, resume=outcome[0].run_id, remote=survivor.url)

    assert len(outcome) == 1 and isinstance(outcome[0], EvalResult), outcome
    result = outcome[0]
    assert sorted(r.case_id for r in result.results) == sorted(f"c{i}" for i in range(16))
    assert all(r.ok for r in result.results), [r.error for r in result.failed]
    lines = (result.record.folder / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == len(texts)  # none duplicated
    survivor_ran = _lines(survivor_log)
    assert set(texts) <= set(survivor_ran) | set(ran_on_victim)
    # the killed replica's in-flight cases ran again on the survivor
    assert set(ran_on_victim) & set(survivor_ran)
    assert len(resumed.results) == len(texts)  # the manifest resumes: nothing was left to run


def test_a_killed_eval_remote_resumes_on_its_replicas(
    spec: Path, replicas: list[tuple[Server, Path]], tmp_path: Path
) -> None:
    client = tmp_path / "client"
    shutil.copytree(spec.parents[1], client, ignore=shutil.ignore_patterns(".stepladder"))
    project_spec = client / "evalsets" / "shout.yaml"
    urls = ",".join(server.url for server, _ in replicas)
    logs = [log for _, log in replicas]
    before = [len(_lines(log)) for log in logs]
    env = {**os.environ, "STEPLADDER_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stepladder", "eval", str(project_spec), "--json"]
    killed = subprocess.Popen(
        [*command, "--remote", urls, "--concurrency", "1"],
        env={**env, "EVAL_TEST_DELAY": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=client,
    )
    evals = evals_dir(load_project(root=client))
    _wait_until(lambda: _recorded(evals) >= 3, "the eval recorded no case")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    run_id = next(evals.iterdir()).name
    done = {r.case_id for r in load_run(evals / run_id).results}
    assert 3 <= len(done) < len(TEXTS), "the eval was not killed mid-run"
    mid = [len(_lines(log)) for log in logs]

    finished = subprocess.run(
        [*command, "--resume", run_id], env=env, capture_output=True, text=True, cwd=client
    )
    assert finished.returncode == 0, finished.stderr
    record = load_run(evals / run_id)
    assert json.loads(finished.stdout)["run_id"] == run_id
    assert sorted(r.case_id for r in record.results) == sorted(f"c{i}" for i in range(len(TEXTS)))
    assert len((evals / run_id / RESULTS_FILE).read_text().splitlines()) == len(TEXTS)
    assert record.manifest.finished is not None and record.manifest.remote == urls.split(",")
    rerun = Counter(line for log, n in zip(logs, mid, strict=True) for line in _lines(log)[n:])
    texts_done = {TEXTS[int(case[1:])] for case in done}
    assert not texts_done & set(rerun), "a case recorded before the kill ran again"
    assert set(rerun) | texts_done == set(TEXTS)
    assert sum(n - b for n, b in zip(mid, before, strict=True)) >= len(done)


def _by_id(result: EvalResult) -> list[CaseResult]:
    return sorted(result.results, key=lambda r: r.case_id)


def _recorded(evals: Path) -> int:
    files = list(evals.glob(f"*/{RESULTS_FILE}")) if evals.is_dir() else []
    return len(files[0].read_text().splitlines()) if files else 0


def _wait_until(condition: Callable[[], bool], message: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(message)


def test_an_eval_whose_only_replica_dies_stops_and_resumes_on_another_replica(
    tmp_path: Path, replicas: list[tuple[Server, Path]], token: None
) -> None:
    spec = eval_project(tmp_path / "client", [f"late{i}" for i in range(8)])
    project = Project(load_project(root=spec.parents[1]))
    with ExitStack() as stack:
        victim, victim_log = _replica(stack, spec, "replica_c", "0.3")
        errors: list[BaseException] = []

        def evaluate() -> None:
            try:
                project.eval(spec, remote=victim.url, concurrency=2)
            except BaseException as error:
                errors.append(error)

        worker = threading.Thread(target=evaluate)
        worker.start()
        _wait_until(lambda: len(_lines(victim_log)) >= 3, "the replica never ran a case")
        victim.process.send_signal(signal.SIGKILL)
        worker.join(WAIT_S)
    assert len(errors) == 1 and isinstance(errors[0], UserError), errors
    assert "no replica can be reached" in str(errors[0]) and "--resume RUN_ID" in str(errors[0])
    evals = evals_dir(load_project(root=spec.parents[1]))
    (folder,) = evals.iterdir()
    kept = load_run(folder)
    assert kept.manifest.finished is None and len(kept.results) < 8
    survivor = replicas[1][0]
    finished = project.eval(spec, resume=folder.name, remote=survivor.url)
    assert sorted(r.case_id for r in finished.results) == sorted(f"c{i}" for i in range(8))
    assert all(r.ok for r in finished.results)
    assert finished.record.manifest.remote == [survivor.url]
