"""The `human` rung: a checkpointed run pauses, `review` lists and answers it, the run ends.

The small tier is a fake OpenAI-style server whose answer is always too long; the frontier tier
is an API tier whose key is not set (a fresh machine), so the ladder goes small -> human.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.errors import ReviewRequired
from stepladder.flows import run_flow
from stepladder.flows.reviews import load_reviews
from stepladder.testing import arun_eval
from tests.conftest import write_project
from tests.escalation.helpers import GENERATE, KEYLESS, dummy, flow_of, keyless_frontier
from tests.fake_chat import chat_server
from tests.tracing.spans_helpers import attrs, by_name, in_memory

runner = CliRunner()
STEPS = """
from pathlib import Path

LOG = Path(__file__).parent / "log.txt"


def first(message: str) -> str:
    with LOG.open("a") as f:
        f.write("first\\n")
    return message.strip()


def after(reply: str) -> str:
    with LOG.open("a") as f:
        f.write("after\\n")
    return f"sent: {reply}"
"""
FLOW = """
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
TOO_LONG = '{"reply": "far too long for ten"}'


def settings(port: int) -> str:
    return (
        "name: desk\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", '
        "model: m}\n"
        f"  frontier: {{runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: {KEYLESS}}}\n"
        "ladder: [small, frontier, human]\n"
    )


@pytest.fixture
def server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with chat_server(TOO_LONG) as served:
        yield served


@pytest.fixture
def project(tmp_path: Path, server: tuple[int, list[dict[str, Any]]]) -> Path:
    files = {"flows/desk.yaml": FLOW, "flows/steps.py": STEPS}
    return write_project(tmp_path / "desk", files, settings(server[0]))


def cli(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project), *args])


def test_review_round_trip_through_the_cli(
    project: Path, server: tuple[int, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    ran = cli(project, "run", "desk", "--input", '{"message": " where is my order? "}')
    assert ran.exit_code == 0, ran.output
    assert "thread desk-" in ran.stderr and "a human reviewer" in ran.stderr
    thread = ran.stderr.split("thread ", 1)[1].split()[0]
    assert json.loads(ran.stdout)["text"] == "where is my order?"
    assert "reply" not in json.loads(ran.stdout)
    assert "paused: node 'reply' awaits human review (invalid:" in ran.stderr
    assert f"stepladder review resolve {thread} --answer" in ran.stderr
    assert "fields: reply (string)" in ran.stderr
    assert len(server[1]) == 1  # small once; frontier skipped (no key)

    monkeypatch.setenv("COLUMNS", "200")
    listed = cli(project, "review", "list")
    assert listed.exit_code == 0, listed.output
    for text in (thread, "desk", "reply", "invalid", "far too long"):
        assert text in listed.stdout
    as_json = json.loads(cli(project, "review", "list", "--json").stdout)
    assert as_json["candidate"] == {"reply": "far too long for ten"}
    assert as_json["candidate_tier"] == "small"
    assert as_json["inputs"] == {"text": "where is my order?"}

    bad = cli(project, "review", "resolve", thread, "--answer", '{"answer": "x"}')
    assert bad.exit_code == 2
    assert "unknown field(s) answer; missing field(s) reply" in bad.stderr
    assert "answers with: reply (string)" in bad.stderr
    too_long = cli(project, "review", "resolve", thread, "-a", '{"reply": "also too long"}')
    assert too_long.exit_code == 2, too_long.output
    assert "at most 10 characters" in too_long.stderr and "still pending" in too_long.stderr

    done = cli(project, "review", "resolve", thread, "--answer", '{"reply": "On its way"}')
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["sent"] == "sent: On its way"
    assert (project / "flows" / "log.txt").read_text().split() == ["first", "after"]
    assert len(server[1]) == 1  # no model was asked again
    assert cli(project, "review", "list").stdout.strip() == "no pending reviews"
    again = cli(project, "review", "resolve", thread, "--answer", '{"reply": "x"}')
    assert again.exit_code == 2 and "has no pending review" in again.stderr


async def test_run_flow_pauses_and_resumes_with_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    node = {**GENERATE, "escalate": {}}
    models = keyless_frontier(small=dummy({"reply": "x" * 30}))
    tracing, exporter = in_memory()
    db = tmp_path / "checkpoints.sqlite"
    flow = flow_of(node)
    paused = await run_flow(
        flow, {"message": "hi"}, models=models, tracing=tracing, thread_id="t", checkpoint_db=db
    )
    assert paused.paused and paused.status == "paused"
    (review,) = paused.reviews
    assert (review.node, review.reason, review.candidate_tier) == ("reply", "invalid", "small")
    assert review.schema["properties"]["reply"]["maxLength"] == 20
    assert paused.usage["escalations"] == 1 and paused.usage["reviews"] == 1
    spans = by_name(exporter.get_finished_spans())
    node_span = spans["node reply"]
    assert attrs(node_span)["stepladder.escalation.skipped"] == ("frontier",)
    skipped = [e for e in node_span.events if e.name == "escalation.skipped"]
    assert skipped[0].attributes["why"] == f"its API key variable {KEYLESS} is not set"
    assert node_span.status.status_code is not StatusCode.ERROR  # a pause is not a failure
    assert attrs(spans["run esc"])["stepladder.run.status"] == "paused"
    assert [r.node for r in load_reviews(db)] == ["reply"]

    still = await run_flow(flow, None, models=models, thread_id="t", checkpoint_db=db)
    assert still.paused  # rerunning the thread without an answer changes nothing

    answer = {review.interrupt_id: {"reply": "Hello!"}}
    done = await run_flow(flow, None, models=models, thread_id="t", checkpoint_db=db, resume=answer)
    assert done.status == "finished" and done.state["reply"] == "Hello!"
    assert done.usage["calls"] == 0
    assert load_reviews(db) == []


async def test_a_run_without_a_thread_cannot_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    models = keyless_frontier(small=dummy({"reply": "x" * 30}))
    with pytest.raises(ReviewRequired, match=r"no checkpoint thread to pause on.*--thread ID"):
        await run_flow(flow_of({**GENERATE, "escalate": {}}), {"message": "hi"}, models=models)


async def test_skipped_rungs_leave_the_best_answer_when_no_human_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    node = {**GENERATE, "escalate": {"verifier": "tests.escalation.verifiers:has_digits"}}
    node = {"id": "extract", "kind": "extract", "reads": ["message"],
            "fields": {"order_id": "str"}, "escalate": node["escalate"]}  # fmt: skip
    models = keyless_frontier(small=dummy({"order_id": "abc"}))
    flow = flow_of(node, ladder=("small", "frontier"))
    result = await run_flow(flow, {"message": "order 42"}, models=models)
    assert result.state["order_id"] == "abc"  # nothing above could run: the answer stands
    assert result.usage["escalations"] == 0


def test_an_eval_case_that_reaches_human_is_recorded_as_awaiting_review(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.delenv(KEYLESS, raising=False)
    cases = [
        {"id": f"c{i}", "inputs": {"message": text}, "expected": {"sent": "sent: ok"}}
        for i, text in enumerate(["hi", "yo"])
    ]
    (project / "evalsets").mkdir()
    (project / "evalsets/desk.yaml").write_text(
        "name: desk\nflow: desk\ncases: desk.jsonl\nmetrics:\n  sent: exact\n"
    )
    (project / "evalsets/desk.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    result = asyncio.run(arun_eval(project / "evalsets/desk.yaml"))
    assert len(result.record.results) == 2  # the eval went on
    for case in result.record.results:
        assert not case.ok
        assert case.error == "awaits human review: node 'reply' (invalid)"
