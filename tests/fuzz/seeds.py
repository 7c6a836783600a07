"""The valid documents the fuzzer mutates, and the project they run in.

Every case starts from a copy of one small project: the example flows (`examples/flows`, their
Python steps included), a function-only `control` flow with an eval set over it, and settings
taken from `examples/stepladder.yaml`. All of it validates, and the function flows run without a
model, so any failure a mutation causes is the mutation's.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CONTROL_CASES",
    "CONTROL_FLOW",
    "CONTROL_SPEC",
    "CONTROL_STEPS",
    "EXAMPLE_FLOWS",
    "FUNCTION_FLOWS",
    "SEED_INPUTS",
    "SETTINGS",
    "project_files",
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CONTROL_STEPS = '''\
"""Steps of the fuzz project's control flow."""


def up(text: str) -> str:
    return text.upper()


def shout(text: str) -> str:
    return text + "!"


def size(text: str) -> int:
    return len(text)


def nothing() -> str:
    return "x"
'''

CONTROL_FLOW = """\
name: control
description: Function nodes only, so it runs without a model.
state:
  text: {type: str, input: true}
  mood: {type: enum, values: [calm, loud], default: calm}
  length: {type: int, default: 0}
  notes: {type: "list[str]", reducer: append, default: []}
nodes:
  - {id: up, kind: function, call: "flows.fuzz_steps:up", reads: [text], writes: [text]}
  - {id: shout, kind: function, call: "flows.fuzz_steps:shout", reads: [text], writes: [text]}
  - {id: size, kind: function, call: "flows.fuzz_steps:size", reads: [text], writes: [length]}
edges:
  - {from: START, to: up}
  - {from: up, when: mood, cases: {loud: shout}, default: size}
  - {from: shout, to: size}
  - {from: size, to: END}
"""

CONTROL_SPEC = """\
name: control
description: The control flow over three cases.
flow: control
cases: control.jsonl
splits: [dev, test]
concurrency: 2
metrics:
  text: exact
"""

CONTROL_CASES = (
    "\n".join(
        [
            '{"id": "a", "inputs": {"text": "hi"}, "expected": {"text": "HI"}, "split": "dev"}',
            '{"id": "b", "inputs": {"text": "yo"}, "expected": {"text": "YO"}, "split": "test"}',
            '{"id": "c", "inputs": {"text": "ok"}, "expected": {"text": "OK"}, "split": "test"}',
        ]
    )
    + "\n"
)

SETTINGS = (EXAMPLES / "stepladder.yaml").read_text(encoding="utf-8")

EXAMPLE_FLOWS = {
    path.name: path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.glob("flows/*.yaml"))
}
"""The example project's flow files, by file name."""

FUNCTION_FLOWS = ("control.yaml", "support_triage.yaml")
"""Flows with function nodes only: these are also run, not only validated."""

SEED_INPUTS = {
    "control.yaml": {"text": "hello"},
    "support_triage.yaml": {"message": "Where is order 10023? It has not arrived."},
}


def project_files() -> dict[str, str]:
    """The seed project, as relative path -> text."""
    files = {
        "stepladder.yaml": SETTINGS,
        "flows/fuzz_steps.py": CONTROL_STEPS,
        "flows/control.yaml": CONTROL_FLOW,
        "evalsets/control.yaml": CONTROL_SPEC,
        "evalsets/control.jsonl": CONTROL_CASES,
    }
    for path in sorted(EXAMPLES.glob("flows/*.py")):
        files[f"flows/{path.name}"] = path.read_text(encoding="utf-8")
    for name, text in EXAMPLE_FLOWS.items():
        files[f"flows/{name}"] = text
    return files
