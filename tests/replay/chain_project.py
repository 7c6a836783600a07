"""A project whose flow is three function nodes in a chain (no model), for replay tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import write_project

FLOW = """
name: chain
state:
  text: {type: str, input: true}
  words: "list[str]"
  shouted: str
  length: int
nodes:
  - {id: split, kind: function, call: "chain_steps:split", reads: [text], writes: [words]}
  - {id: shout, kind: function, call: "chain_steps:shout", reads: [words], writes: [shouted]}
  - {id: measure, kind: function, call: "chain_steps:measure", reads: [shouted], writes: [length]}
"""
STEPS = """
def split(text: str) -> list[str]:
    return text.split()


def shout(words: list[str]) -> str:
    return " ".join(words).upper() + "!"


def measure(shouted: str) -> int:
    return len(shouted)
"""


def chain_project(root: Path) -> Path:
    """Write the project (its step module freshly importable)."""
    sys.modules.pop("chain_steps", None)
    return write_project(root, {"flows/chain.yaml": FLOW, "chain_steps.py": STEPS}, "name: chain\n")


def change_step(root: Path, old: str, new: str, module: str = "chain_steps") -> None:
    """Edit a step module (a change of length, so no stale bytecode is used)."""
    path = root / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    assert old in text and len(old) != len(new)
    path.write_text(text.replace(old, new), encoding="utf-8")
    sys.modules.pop(module, None)
