"""`map:` over model nodes and subflows on fake model servers: escalation per element, cost,
traces grouped per element, a kill in the middle of a map, reviews inside a mapped subflow."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepladder import open_project
from stepladder.cli import app
from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS
from tests.fake_chat import chat_server
from tests.serve.helpers import serving

runner = CliRunner()
STEPS = """
def split(message: str) -> list[str]:
    return [part.strip() for part in message.split("?") if part.strip()]


def first(message: str) -> str:
    return message.strip()


def after(reply: str) -> str:
    return f"sent: {reply}"
"""
TRIAGE = """
name: triage
state:
  message: {type: str, input: true}
  parts: list[str]
  part: str
  summary: str
  summaries: list[str]
nodes:
  - {id: split, kind: function, call: "flows.steps:split", reads: [message], writes: [parts]}
  - id: summarize
    kind: generate
    reads: [part]
    output: summary
    max_chars: 12
    retries: 0
    escalate: {}
    map: {over: parts, as: part, into: summaries, concurrency: 8}
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
DESKS = """
name: desks
state:
  messages: {type: "list[str]", input: true}
  message: str
  sent: str
  sents: list[str]
nodes:
  - id: answer
    kind: flow
    flow: desk
    inputs: {message: message}
    outputs: {sent: sent}
    map: {over: messages, as: message, into: sents}
"""
TOO_LONG = '{"reply": "far too long for ten"}'


class Small:
    """The small tier: `ok itemN` for item N, too long for a HARD item; item 3 can hang."""

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.answered = 0

    def __call__(self, request: dict[str, Any]) -> str:
        text = json.dumps(request["messages"])
        item = re.search(r"item(\d)", text)
        if item and item.group(1) == "3" and self.hang.is_set():
            self.release.wait(60)
        self.answered += 1
        if "HARD" in text:
            return '{"summary": "far too long for this"}'
        return json.dumps({"summary": f"ok item{item.group(1) if item else '?'}"})


def tiers(small: int, frontier: str) -> str:
    return (
        "name: maps\ntiers:\n"
        f'  small: {{runtime: openai-compatible, base_url: "http://127.0.0.1:{small}/v1", '
        f"model: m}}\n  frontier: {frontier}\n"
    )


@pytest.fixture
def small() -> Iterator[tuple[Small, int, list[dict[str, Any]]]]:
    answers = Small()
    with chat_server(answers) as (port, requests):
        yield answers, port, requests
    answers.release.set()


@pytest.fixture
def triage(tmp_path: Path, small: tuple[Small, int, Any]) -> Iterator[tuple[Path, list[Any]]]:
    with chat_server('{"summary": "big"}') as (port, requests):
        frontier = (
            f'{{runtime: openai-compatible, base_url: "http://127.0.0.1:{port}/v1", model: b}}'
        )
        settings = tiers(small[1], frontier) + "ladder: [small, frontier]\n"
        files = {"flows/triage.yaml": TRIAGE, "flows/steps.py": STEPS}
        yield write_project(tmp_path / "triage", files, settings), requests


def cli(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--project", str(project), *args])


def test_map_node_escalates_per_element_and_sums_the_cost(
    triage: tuple[Path, list[Any]], small: tuple[Small, int, list[Any]]
) -> None:
    project, frontier = triage
    with open_project(project) as opened:
        result = opened.run("triage", {"message": "item0? item1 HARD? item2"})
    assert result.state["summaries"] == ["ok item0", "big", "ok item2"]
    assert len(small[2]) == 3 and len(frontier) == 1  # only the hard element climbed
    usage = result.usage
    assert usage["calls"] == 4 and usage["escalations"] == 1
    assert usage["cost_usd"] > 0 and usage["cost_by_node"]["summarize"] == usage["cost_usd"]

    shown = cli(project, "traces", "show", str(result.trace_id))
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    map_line = next(i for i, line in enumerate(lines) if re.search(r"node summarize\s", line))
    elements = [line for line in lines if re.search(r"node summarize\[\d\]", line)]
    assert sorted(re.search(r"\[(\d)\]", line).group(1) for line in elements) == ["0", "1", "2"]
    depth = len(lines[map_line]) - len(lines[map_line].lstrip(" │├└─"))
    assert all(len(line) - len(line.lstrip(" │├└─")) > depth for line in elements)
    assert "escalated" in shown.stdout


def test_map_node_empty_list_makes_no_model_call(
    triage: tuple[Path, list[Any]], small: tuple[Small, int, list[Any]]
) -> None:
    with open_project(triage[0]) as opened:
        result = opened.run("triage", {"message": "  "})
    assert result.state["summaries"] == [] and result.usage["calls"] == 0
    assert small[2] == []


def map_writes(db: Path) -> int:
    """Elements whose result is checkpointed (0 before the saver made its tables)."""
    query = "SELECT count(*) FROM writes WHERE channel = '__map_summarize__'"
    try:
        with sqlite3.connect(db) as connection:
            return int(connection.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_map_node_killed_mid_map_runs_only_unfinished_elements_again(
    triage: tuple[Path, list[Any]], small: tuple[Small, int, list[dict[str, Any]]]
) -> None:
    project, _ = triage
    answers, _, requests = small
    answers.hang.set()
    message = "item0? item1? item2? item3? item4? item5"
    command = [sys.executable, "-m", "stepladder", "--project", str(project), "run", "triage",
               "--input", json.dumps({"message": message}), "--thread", "t1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = project / ".stepladder" / "checkpoints.sqlite"
    deadline = time.monotonic() + 60
    while not (db.exists() and map_writes(db) >= 5):  # five elements done and checkpointed
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the map never finished five elements"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    assert len(requests) == 6  # item3 still waits for its answer

    answers.hang.clear()
    answers.release.set()
    before = len(requests)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    summaries = json.loads(resumed.stdout)["summaries"]
    assert summaries == [f"ok item{i}" for i in range(6)]
    again = requests[before:]
    assert len(again) == 1 and "item3" in json.dumps(again[0]["messages"])


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[tuple[Path, list[Any]]]:
    with chat_server(TOO_LONG) as (port, requests):
        frontier = f"{{runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: {KEYLESS}}}"
        settings = tiers(port, frontier) + "ladder: [small, frontier, human]\n"
        files = {"flows/desk.yaml": DESK, "flows/desks.yaml": DESKS, "flows/steps.py": STEPS}
        yield write_project(tmp_path / "desks", files, settings), requests


def test_subflow_review_in_a_map_node_is_answered_through_the_parent_cli(
    desks: tuple[Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    project, requests = desks
    ran = cli(project, "run", "desks", "--input", '{"messages": ["hi", "yo"]}')
    assert ran.exit_code == 0, ran.output
    thread = ran.stderr.split("thread ", 1)[1].split()[0]
    assert thread.startswith("desks-")
    lines = cli(project, "review", "list", "--json").stdout.splitlines()
    listed = [json.loads(line) for line in lines if line.strip()]
    assert sorted(r["inputs"]["text"] for r in listed) == ["hi", "yo"]
    assert {r["flow"] for r in listed} == {"desks"} and {r["node"] for r in listed} == {"reply"}

    first = cli(project, "review", "resolve", thread, "--node", "reply", "-a", '{"reply": "A"}')
    assert first.exit_code == 0, first.output
    assert "awaits human review" in first.stderr  # the other element still waits
    second = cli(project, "review", "resolve", thread, "-a", '{"reply": "B"}')
    assert second.exit_code == 0, second.output
    assert sorted(json.loads(second.stdout)["sents"]) == ["sent: A", "sent: B"]
    # one small call per element, and one more by the element that still waited when the first
    # answer resumed the run (it runs again up to its pause); answered, no model is asked again
    assert len(requests) == 3


def test_subflow_review_in_a_map_node_through_the_python_api(
    desks: tuple[Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYLESS, raising=False)
    with open_project(desks[0]) as project:
        paused = project.run("desks", {"messages": ["one", "two"]})
        assert paused.paused and len(paused.reviews) == 2
        answers = {
            review.interrupt_id: {"reply": review.inputs["text"].upper()}
            for review in paused.reviews
        }
        done = project.run("desks", thread=paused.thread_id, resume=answers)
    assert done.status == "finished"
    assert done.state["sents"] == ["sent: ONE", "sent: TWO"]  # in the input's order


@pytest.mark.slow
def test_subflow_review_in_a_map_node_through_the_service(
    desks: tuple[Path, list[Any]],
) -> None:
    with serving(desks[0], env={KEYLESS: None}) as server, server.client() as client:
        response = client.post("/flows/desks/runs", json={"messages": ["hey"]})
        assert response.status_code == 200, response.text
        run = response.json()
        assert run["status"] == "paused" and run["reviews"][0]["node"] == "reply"
        done = client.post(f"/runs/{run['run_id']}/resume", json={"answer": {"reply": "Hi"}})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "finished"
        assert done.json()["state"]["sents"] == ["sent: Hi"]


def test_map_node_over_a_subflow_on_the_embedded_model(tmp_path: Path, embedded_pool: Any) -> None:
    classify = """
name: label_one
state:
  text: {type: str, input: true}
  mood: {type: enum, values: [happy, sad]}
nodes:
  - {id: mood, kind: classify, reads: [text], labels: [happy, sad], output: mood, retries: 1}
"""
    batch = """
name: moods
state:
  texts: {type: "list[str]", input: true}
  text: str
  mood: {type: enum, values: [happy, sad]}
  moods: list[str]
nodes:
  - id: each
    kind: flow
    flow: label_one
    inputs: {text: text}
    outputs: {mood: mood}
    map: {over: texts, as: text, into: moods, concurrency: 2}
"""
    files = {"flows/label_one.yaml": classify, "flows/moods.yaml": batch}
    root = write_project(tmp_path / "moods", files)
    project = open_project(root, models=embedded_pool)
    texts = ["I love this, it is wonderful!", "This is terrible, I am so sad.", "Great day!"]
    result = project.run("moods", {"texts": texts})
    assert len(result.state["moods"]) == 3
    assert set(result.state["moods"]) <= {"happy", "sad"}
    assert result.usage["calls"] >= 3 and result.usage["cost_usd"] > 0


def test_subflow_in_a_map_node_is_pinned_with_its_parent(desks: tuple[Path, list[Any]]) -> None:
    from stepladder.config import load_project
    from stepladder.flows import compile_project_flow

    project = load_project(root=desks[0])
    own = compile_project_flow(project, "desks").subflows["answer"]
    assert own.spec.nodes[1].escalation() is not None  # the reply node climbs its ladder
    pinned = compile_project_flow(project, "desks", tier="small").subflows["answer"]
    assert pinned.spec.nodes[1].escalation() is None and pinned.tiers == {"small"}
