"""State types through the CLI: a bad write fails `stepladder run`, bad defaults and labels
fail `stepladder validate` (exit 2, the YAML path and line)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from tests.conftest import write_project

STEPS = """
def count(text: str) -> str:
    return "many"


def level(text: str) -> str:
    return "urgent" if "!" in text else "low"
"""
FLOW = """
name: {name}
state:
  text: {{type: str, input: true}}
  {key}: {type}
nodes:
  - {{id: {node}, kind: function, call: "flows.steps:{node}", reads: [text], writes: [{key}]}}
"""
COUNT = FLOW.format(name="counter", key="n", type="int", node="count")
LEVEL = FLOW.format(
    name="triage", key="level", type="{type: enum, values: [low, high]}", node="level"
)
DEFAULTS = """name: defaults
state:
  text: {type: str, input: true}
  level:
    type: enum
    values: [A, B]
    default: Z
  count:
    type: int
    default: notanint
nodes:
  - {id: count, kind: function, call: "flows.steps:count", reads: [text], writes: [text]}
"""
LABELS = """name: labels
state:
  text: {type: str, input: true}
  mood: {type: enum, values: [good, bad]}
nodes:
  - id: mood
    kind: classify
    reads: [text]
    output: mood
    labels: [good, bad, unsure]
"""
runner = CliRunner()


def project(root: Path, flows: dict[str, str]) -> Path:
    files = {f"flows/{name}.yaml": text for name, text in flows.items()}
    return write_project(root, {"flows/steps.py": STEPS, **files})


def run(root: Path, flow: str, data: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--project", str(root), "run", flow, "--input", json.dumps(data)])
    return result.exit_code, result.stdout, result.stderr


def test_a_str_written_into_an_int_key_fails_the_run(tmp_path: Path) -> None:
    root = project(tmp_path, {"counter": COUNT})
    code, _, err = run(root, "counter", {"text": "hi"})
    assert code == 1, err  # a run error, like any other node failure
    flat = " ".join(err.split())
    assert "run failed" in flat
    assert "node 'count': wrote 'many' into state key 'n', declared int" in flat
    assert "Input should be a valid integer" in flat
    assert "Traceback" not in err and "internal error" not in err


def test_a_value_outside_an_enum_fails_the_run_and_one_inside_passes(tmp_path: Path) -> None:
    root = project(tmp_path, {"triage": LEVEL})
    code, out, err = run(root, "triage", {"text": "calm"})
    assert code == 0, err
    assert json.loads(out)["level"] == "low"
    code, _, err = run(root, "triage", {"text": "fire!"})
    assert code == 1
    flat = " ".join(err.split())
    assert "node 'level': wrote 'urgent' into state key 'level', declared enum (low, high)" in flat
    assert "Input should be 'low' or 'high'" in flat


def test_validate_names_each_bad_default_by_path_and_line(tmp_path: Path) -> None:
    root = project(tmp_path, {"defaults": DEFAULTS})
    result = runner.invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.stderr.split())
    assert "cannot compile, 2 problems" in flat
    assert "state.level.default (" in flat and "defaults.yaml, line 7): the default 'Z'" in flat
    assert "enum (A, B)" in flat
    assert "state.count.default (" in flat and "line 10): the default 'notanint'" in flat
    assert "Traceback" not in result.output


def test_validate_refuses_classify_labels_outside_the_enum_it_writes(tmp_path: Path) -> None:
    root = project(tmp_path, {"labels": LABELS})
    result = runner.invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.stderr.split())
    assert "nodes[0].output (" in flat and "line 9)" in flat
    assert "node 'mood' can write label(s) unsure into state key 'mood'" in flat
    assert "enum whose values are: good, bad" in flat
