"""Counts in messages agree with their noun: "1 node", "2 nodes" (`stepladder.wording`)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stepladder.cli import app
from stepladder.wording import plural
from tests.conftest import write_project


def test_the_noun_is_singular_for_one_only() -> None:
    assert plural(1, "node") == "1 node"
    assert plural(0, "node") == "0 nodes"
    assert plural(2, "edge") == "2 edges"
    assert plural(1200, "case") == "1,200 cases"
    assert plural(1, "query text") == "1 query text"
    assert plural(3, "entry", "entries") == "3 entries"
    assert plural(1, "entry", "entries") == "1 entry"


def test_validate_says_1_node_and_1_edge(tmp_path: Path) -> None:
    flow = """
name: one
state:
  text: {type: str, input: true}
nodes:
  - {id: up, kind: function, call: "flows.steps:up", reads: [text], writes: [text]}
"""
    steps = "def up(text: str) -> str:\n    return text.upper()\n"
    root = write_project(tmp_path, {"flows/one.yaml": flow, "flows/steps.py": steps})
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 0, result.output
    assert "one: 1 node, 2 edges" in result.stdout  # START -> up -> END
