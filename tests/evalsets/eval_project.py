"""A small project for runner tests: a rules flow (no model) with a slow step and an eval set."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_project

RULES = '''
import asyncio
import os
from pathlib import Path


async def shout(text: str) -> str:
    """Upper-case the text after a pause; record each execution; fail on 'boom'."""
    log = os.environ.get("EVAL_TEST_LOG")
    if log:
        with Path(log).open("a") as handle:
            handle.write(text + "\\n")
    events = os.environ.get("EVAL_TEST_EVENTS")
    if events:
        with Path(events).open("a") as handle:
            handle.write(f"start {text}\\n")
    await asyncio.sleep(float(os.environ.get("EVAL_TEST_DELAY", "0.05")))
    if events:
        with Path(events).open("a") as handle:
            handle.write(f"end {text}\\n")
    if text == "boom":
        raise ValueError("boom is not allowed")
    return text.upper()
'''
FLOW = """
name: shout
state:
  text: {type: str, input: true}
  loud: str
nodes:
  - {id: shout, kind: function, call: "rules:shout", reads: [text], writes: [loud]}
"""
SPEC = """
name: shout
flow: shout
cases: shout.jsonl
splits: [dev, test]
concurrency: 4
metrics:
  loud: exact
"""


def eval_project(root: Path, texts: list[str]) -> Path:
    """Write the project; case `cN` shouts `texts[N]` (expected: its upper case)."""
    cases = [
        {"id": f"c{i}", "inputs": {"text": text}, "expected": {"loud": text.upper()},
         "tags": ["even" if i % 2 == 0 else "odd"], "split": "dev" if i < 2 else "test"}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    write_project(
        root,
        {
            "rules.py": RULES,
            "flows/shout.yaml": FLOW,
            "evalsets/shout.yaml": SPEC,
            "evalsets/shout.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: evaltest\ntiers: {}\n",
    )
    return root / "evalsets" / "shout.yaml"
