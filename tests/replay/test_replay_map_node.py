"""A mapped node (`map:`) records each element's call and replays it on its own.

The element is among the call's inputs, so a changed element runs again while the unchanged
ones are served from the record; a change to the node's code runs every element.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import stepladder
from stepladder.cli import app
from stepladder.config import load_project
from stepladder.errors import ReplayMiss
from stepladder.evalsets.run_store import eval_run_store
from stepladder.replay import ReplaySession, load_record, replay_session
from tests.conftest import write_project
from tests.fake_chat import chat_server
from tests.replay.chain_project import change_step
from tests.test_examples import EXAMPLES, example_classifier

FLOW = """
name: batch
state:
  items: {type: "list[str]", input: true}
  item: str
  loud: str
  louds: "list[str]"
nodes:
  - id: shout
    kind: function
    call: "batch_steps:shout"
    reads: [item]
    writes: [loud]
    map: {over: items, as: item, into: louds, concurrency: 2}
"""
STEPS = """
def shout(item: str) -> str:
    return item.upper() + "!"
"""
ITEMS = ["where", "is", "my", "order"]
runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    sys.modules.pop("batch_steps", None)
    files = {"flows/batch.yaml": FLOW, "batch_steps.py": STEPS}
    return write_project(tmp_path / "project", files, "name: batch\n")


def record(root: Path) -> str:
    project = stepladder.open_project(root)
    session = replay_session(project.config, record=True)
    assert project.run("batch", {"items": ITEMS}, replay=session).state["louds"][0] == "WHERE!"
    assert session.saved_run is not None
    return session.saved_run


def replay(root: Path, run_id: str, items: list[str]) -> tuple[list[str], ReplaySession]:
    project = stepladder.open_project(root)
    session = replay_session(project.config, record=False, replay=run_id)
    return project.run("batch", {"items": items}, replay=session).state["louds"], session


def test_map_node_records_one_call_per_element(root: Path) -> None:
    run_id = record(root)
    saved = load_record(root / ".stepladder" / "records" / f"{run_id}.json")
    assert sorted(call.inputs["item"] for call in saved.calls) == sorted(ITEMS)
    assert {call.node for call in saved.calls} == {"shout"}
    assert len({call.key for call in saved.calls}) == len(ITEMS)


def test_map_node_reruns_only_the_changed_element(root: Path) -> None:
    run_id = record(root)
    louds, session = replay(root, run_id, ["where", "was", "my", "order"])
    assert louds == ["WHERE!", "WAS!", "MY!", "ORDER!"]
    stats = session.stats["shout"]
    assert (stats.ran, stats.replayed) == (1, 3)
    reordered, again = replay(root, run_id, list(reversed(ITEMS)))
    assert reordered == ["ORDER!", "MY!", "IS!", "WHERE!"]
    assert (again.stats["shout"].ran, again.stats["shout"].replayed) == (0, 4)


def test_map_node_reruns_every_element_when_its_code_changed(root: Path) -> None:
    run_id = record(root)
    change_step(root, 'upper() + "!"', 'upper() + "?!"', module="batch_steps")
    louds, session = replay(root, run_id, ITEMS)
    assert louds == ["WHERE?!", "IS?!", "MY?!", "ORDER?!"]
    stats = session.stats["shout"]
    assert (stats.ran, stats.replayed) == (4, 0)


def test_map_node_hermetic_miss_names_the_changed_element(root: Path) -> None:
    run_id = record(root)
    project = stepladder.open_project(root)
    with pytest.raises(ReplayMiss) as caught:
        project.run("batch", {"items": ["where", "was"]}, replay=run_id, hermetic=True)
    assert caught.value.node_id == "shout"
    assert "inputs differ" in str(caught.value) and '"was"' in str(caught.value)


def test_map_node_multi_support_eval_replays_with_no_model_call(tmp_path: Path) -> None:
    """The example's `multi_support` (a subflow mapped over the questions), on a fake model."""
    example_classifier()
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".stepladder", "tests"))
    shutil.copytree(EXAMPLES / ".stepladder" / "classifiers", root / ".stepladder" / "classifiers")
    with chat_server(answer) as (port, requests):
        settings = root / "stepladder.yaml"
        text = settings.read_text(encoding="utf-8")
        assert SMALL in text
        served = f"    runtime: openai-compatible\n    base_url: http://127.0.0.1:{port}/v1\n"
        settings.write_text(text.replace(SMALL, served + "    model: m\n"), encoding="utf-8")
        spec = str(root / "evalsets" / "multi_support.yaml")
        first = runner.invoke(app, ["eval", spec, "--json"])
        assert first.exit_code == 0, first.output
        run_id = re.search(r"eval run (\S+):", first.output).group(1)  # type: ignore[union-attr]
        assert requests, "the recording run asked the model"
        asked = len(requests)
        again = runner.invoke(app, ["eval", spec, "--replay", run_id, "--json"])
        assert again.exit_code == 0, again.output
        assert len(requests) == asked  # nothing changed: no model call
    replay = json.loads(again.stdout)["replay"]
    assert replay["total"]["ran"] == 0 and replay["total"]["model_calls"] == 0
    assert set(replay["nodes"]) == {"split", "classify", "extract", "pack", "merge"}
    assert replay["total"]["saved_model_calls"] == asked
    replayed_id = re.search(r"eval run (\S+):", again.output).group(1)  # type: ignore[union-attr]
    runs = eval_run_store(load_project(root=root))
    outputs = [
        {r.case_id: r.outputs for r in runs.load(run).results} for run in (run_id, replayed_id)
    ]
    assert outputs[0] == outputs[1] and len(outputs[0]) == 6


SMALL = (
    "    runtime: llamacpp\n    model: smollm2-135m\n    threads: 2\n    context_size: 4096\n"
    "    parallel: 2\n"
)


def answer(request: dict[str, Any]) -> str:
    """The fake small model: a category for classify, an entity for extract."""
    asked = json.dumps(request.get("response_format") or request.get("messages"))
    if '"category"' in asked:
        return '{"category": "ORDER"}'
    return '{"entity_type": null, "entity_value": null}'
