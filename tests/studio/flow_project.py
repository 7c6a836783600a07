"""A project for the studio's flows area: `greet` (function nodes, inputs of every shape) and
the service tests' `desk` (its reply node hands its case to a person, on a fake model server
whose answer is always too long), `ask_down` (a tier whose server is not running), ..."""

from __future__ import annotations

from pathlib import Path

from tests.serve.projects import desk_project

SHAPES = """
def compose(name: str, times: int, loud: bool, mood: str, tags: list[str]) -> str:
    text = " ".join([f"hello {name}"] * times)
    return (text.upper() if loud else text) + f" ({mood})" + "".join(f" #{t}" for t in tags)


def measure(greeting: str) -> int:
    return len(greeting)
"""
GREET = """
name: greet
description: Greet someone, a number of times.
state:
  name: {type: str, input: true, description: Who to greet.}
  times: {type: int, input: true, default: 2}
  loud: {type: bool, input: true, default: false}
  mood: {type: enum, values: [glad, sad], input: true, default: glad}
  tags: {type: "list[str]", input: true, default: []}
  greeting: str
  length: int
nodes:
  - {id: compose, kind: function, call: "flows.shapes:compose",
     reads: [name, times, loud, mood, tags], writes: [greeting]}
  - {id: measure, kind: function, call: "flows.shapes:measure", reads: [greeting],
     writes: [length]}
"""


def studio_project(root: Path, chat_port: int, down_port: int) -> Path:
    """`desk_project` (desk, ask_small, ask_down, ask_locked) plus `greet`."""
    desk_project(root, chat_port, down_port)
    (root / "flows" / "shapes.py").write_text(SHAPES, encoding="utf-8")
    (root / "flows" / "greet.yaml").write_text(GREET, encoding="utf-8")
    return root
