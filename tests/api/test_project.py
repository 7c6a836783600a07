"""`stepladder.open_project`: runs traced into the store, threads, reviews, evals, open blocks.

The `small` tier is a fake OpenAI-style server on loopback (so the project's own model pool
is used, as `stepladder run` uses it); its answer is too long for `desk`'s reply node, whose
ladder then goes small -> human.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dspy.utils.dummies import DummyLM
from typer.testing import CliRunner

import stepladder
from stepladder.cli import app
from stepladder.errors import ConfigError, FlowInputError, RunError, UserError
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from stepladder.tracing.store import load_traces
from tests.conftest import write_project
from tests.evalsets.eval_project import eval_project
from tests.fake_chat import chat_server

ANSWER = '{"reply": "far too long for ten"}'
STEPS = """
from pathlib import Path

HERE = Path(__file__).parent


def first(message: str) -> str:
    return message.strip()


def after(reply: str) -> str:
    return f"sent: {reply}"


def show(m: int) -> str:
    return f"shown: {m}"


def fragile(n: int) -> int:
    if (HERE / "fail").exists():
        raise ValueError("told to fail")
    return n * 10
"""
DESK = """
name: desk
state:
  message: {type: str, input: true}
  text: str
  reply: str
  sent: str
nodes:
  - {id: first, kind: function, call: "flows.steps:first", reads: [message], writes: [text]}
  - {id: reply, kind: generate, reads: [text], output: reply, max_chars: 10, retries: 0,
     escalate: {}}
  - {id: after, kind: function, call: "flows.steps:after", reads: [reply], writes: [sent]}
"""
ASK = """
name: ask
state:
  message: {type: str, input: true}
  reply: str
nodes:
  - {id: reply, kind: generate, tier: small, reads: [message], output: reply, retries: 0}
"""
CHAIN = """
name: chain
state:
  n: {type: int, input: true}
  m: int
  text: str
nodes:
  - {id: grow, kind: function, call: "flows.steps:fragile", reads: [n], writes: [m]}
  - {id: show, kind: function, call: "flows.steps:show", reads: [m], writes: [text]}
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with chat_server(ANSWER) as (served_port, _):
        yield served_port


@pytest.fixture
def root(tmp_path: Path, port: int) -> Path:
    settings = (
        "name: desk\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
        "model: m}\nladder: [small, human]\n"
    )
    files = {
        "flows/steps.py": STEPS,
        "flows/desk.yaml": DESK,
        "flows/ask.yaml": ASK,
        "flows/chain.yaml": CHAIN,
    }
    return write_project(tmp_path / "desk", files, settings)


def test_open_project_finds_the_project_above_a_folder_and_refuses_a_missing_path(
    root: Path,
) -> None:
    project = stepladder.open_project(root / "flows")
    assert project.root == root.resolve()
    assert project.flows() == ["ask", "chain", "desk"]
    assert stepladder.open_project(str(root / "stepladder.yaml")).root == root.resolve()
    with pytest.raises(ConfigError, match="no such folder"):
        stepladder.open_project(root / "nowhere")


def test_a_run_is_traced_into_the_project_store_that_traces_list_reads(root: Path) -> None:
    updates: list[str] = []
    result = stepladder.open_project(root).run(
        "ask", {"message": "hi"}, on_update=lambda node, _: updates.append(node)
    )
    assert isinstance(result, stepladder.RunResult)
    assert result.state == {"message": "hi", "reply": "far too long for ten"}
    assert updates == ["reply"] and result.usage["calls"] == 1
    assert result.trace_id is not None
    summaries = load_traces(root / ".stepladder" / "traces").summaries()
    assert [(s.trace_id, s.flow, s.status) for s in summaries] == [(result.trace_id, "ask", "ok")]
    listed = runner.invoke(app, ["--project", str(root), "traces", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["trace_id"] == result.trace_id


def test_a_paused_review_is_answered_on_its_thread(root: Path) -> None:
    project = stepladder.open_project(root)
    paused = project.run("desk", {"message": " where is it? "})
    assert paused.paused and paused.thread_id is not None  # a thread of its own
    assert paused.state["text"] == "where is it?" and "reply" not in paused.state
    (review,) = project.reviews()
    assert (review.node, review.thread_id) == ("reply", paused.thread_id)
    done = project.run(
        "desk", thread=paused.thread_id, resume={review.interrupt_id: {"reply": "On its way"}}
    )
    assert done.status == "finished" and done.resumed_at == ("reply",)
    assert done.state["sent"] == "sent: On its way"
    assert project.reviews() == []
    with pytest.raises(UserError, match="give its `thread` too"):
        project.run("desk", resume={review.interrupt_id: {"reply": "again"}})
    statuses = {s.trace_id: s.status for s in project.traces().summaries()}
    assert set(statuses) == {paused.trace_id, done.trace_id}


def test_a_failed_run_continues_on_its_thread_from_the_failed_node(root: Path) -> None:
    project = stepladder.open_project(root)
    (root / "flows" / "fail").touch()
    with pytest.raises(RunError, match="told to fail"):
        project.run("chain", {"n": 4}, thread="t1")
    (root / "flows" / "fail").unlink()
    continued = project.run("chain", thread="t1")
    assert continued.resumed_at == ("grow",)
    assert continued.state == {"n": 4, "m": 40, "text": "shown: 40"}
    with pytest.raises(FlowInputError, match="no unfinished run"):
        project.run("chain", thread="t1")


def test_an_open_project_keeps_its_models_until_the_block_ends(root: Path) -> None:
    project = stepladder.open_project(root)
    assert project.models is None
    with project:
        pool = project.models
        assert pool is not None
        first = project.run("ask", {"message": "one"})
        second = project.run("ask", {"message": "two"})
        assert project.models is pool
        assert len(project.traces().summaries()) == 2  # flushed after each run
    assert project.models is None
    assert first.trace_id != second.trace_id


async def test_async_runs_share_an_open_project(root: Path) -> None:
    async with stepladder.open_project(root) as project:
        results = await asyncio.gather(
            project.arun("ask", {"message": "a"}), project.arun("ask", {"message": "b"})
        )
        assert [r.state["message"] for r in results] == ["a", "b"]
        with pytest.raises(UserError, match=r"await project\.arun"):
            project.run("ask", {"message": "c"})  # an event loop runs here


def test_given_models_are_used_and_a_builder_gets_the_project_ladder(root: Path) -> None:
    lm = DummyLM([{"reply": "ok"}], adapter=constrained_adapter())
    models = ModelPool({}, lms={"small": lm})
    project = stepladder.open_project(root, models=models)
    builder = (
        stepladder.FlowBuilder("built")
        .state("message", "str", input=True)
        .state("reply", "str")
        .node({"id": "reply", "kind": "generate", "tier": "small", "reads": ["message"],
               "output": "reply", "escalate": {}})
    )  # fmt: skip
    flow = project.flow(builder)
    assert flow.ladder == ("small", "human") and flow.reaches_human
    with project:
        assert project.models is models
        result = project.run(flow, {"message": "hi"})
    assert result.state["reply"] == "ok" and len(lm.history) == 1
    assert project.models is models  # the caller's, never closed here
    with pytest.raises(UserError, match="apply to a flow given by name"):
        project.flow(flow, adapters={"reply": "x"})


def test_eval_returns_what_the_eval_command_prints(tmp_path: Path) -> None:
    spec = eval_project(tmp_path, ["hello", "boom", "quiet", "loud"])
    project = stepladder.open_project(tmp_path)
    seen: list[str] = []
    result = project.eval(spec.stem, on_case=lambda case: seen.append(case.case_id))  # by name
    assert isinstance(result, stepladder.EvalResult)
    assert sorted(seen) == ["c0", "c1", "c2", "c3"]
    assert result.metric("loud").mean == pytest.approx(3 / 4)
    assert [r.case_id for r in result.failed] == ["c1"]
    assert result.report.is_file()
    shown = runner.invoke(app, ["--project", str(tmp_path), "eval", "report", result.run_id,
                                "--json"])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == result.summary.model_dump(mode="json")
    traced = {s.trace_id for s in project.traces().summaries()}
    assert {r.trace_id for r in result.results} <= traced


def test_eval_of_a_missing_spec_is_a_clear_error(root: Path) -> None:
    with pytest.raises(UserError, match="eval spec not found"):
        stepladder.open_project(root).eval("nothing_here")
