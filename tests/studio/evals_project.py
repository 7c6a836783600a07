"""A project with two real eval runs on disk, for the studio's evals tests (no model needed).

The flow is one function node that upper-cases a question; `STUDIO_EVAL_BROKEN` names the
questions it answers wrongly, so a second run can regress on chosen cases. The question `boom`
fails (an error case). Cases are traced into the project's own trace store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from stepladder.config import load_project
from stepladder.flows.project import project_tracing
from stepladder.testing import run_eval
from tests.conftest import write_project

RULES = '''
import os


def answer(question: str) -> str:
    """Upper-case the question; only its first word when broken; fail on 'boom'."""
    if question == "boom":
        raise ValueError("boom is not allowed")
    if question in os.environ.get("STUDIO_EVAL_BROKEN", "").split(","):
        return question.split()[0].upper()  # half right: token F1 0.667
    return question.upper()
'''
FLOW = """
name: answer
state:
  question: {type: str, input: true}
  answer: str
nodes:
  - {id: answer, kind: function, call: "rules:answer", reads: [question], writes: [answer]}
"""
SPEC = """
name: answers
flow: answer
cases: answers.jsonl
concurrency: 2
metrics:
  answer: exact
  answer_f1: {kind: token_f1, field: answer}
  answer_label: {kind: label, field: answer}
"""
LONG = "a long question " + " ".join(f"word{i}" for i in range(60))
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima"]  # fmt: skip
QUESTIONS = [*(f"{word} {i}" for i, word in enumerate(WORDS)), "boom", LONG]
BASELINE_BROKEN = ["lima 11"]
"""The baseline answers this one wrongly (the candidate gets it right: an improvement)."""
CANDIDATE_BROKEN = [f"{word} {i}" for i, word in enumerate(WORDS[:8])]
"""The candidate answers these wrongly: eight regressions, enough for McNemar at 0.05."""


@dataclass(frozen=True)
class EvalRuns:
    """The project and its two runs (see `BASELINE_BROKEN` and `CANDIDATE_BROKEN`)."""

    root: Path
    baseline: str
    candidate: str


def write_evals_project(root: Path) -> Path:
    """Write the project; return its eval spec."""
    cases = [
        {"id": f"q{i}", "inputs": {"question": q}, "expected": {"answer": q.upper()},
         "tags": ["long" if q == LONG else "short", "even" if i % 2 == 0 else "odd"]}
        for i, q in enumerate(QUESTIONS)
    ]  # fmt: skip
    write_project(
        root,
        {
            "rules.py": RULES,
            "flows/answer.yaml": FLOW,
            "evalsets/answers.yaml": SPEC,
            "evalsets/answers.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: studioevals\ntiers: {}\n",
    )
    return root / "evalsets" / "answers.yaml"


def run_traced(spec: Path, root: Path) -> str:
    """Run the eval with the project's tracing; return the run id."""
    tracing = project_tracing(load_project(root=root))
    try:
        result = run_eval(spec, project=root, tracing=tracing)
    finally:
        tracing.shutdown()
    return result.record.manifest.run_id


def make_eval_runs(root: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> EvalRuns:
    """The project with a baseline run and a clearly worse candidate run.

    Also usable from a script (the README's screenshots): without `monkeypatch`, the
    environment is restored when the runs are done.
    """
    if monkeypatch is None:
        with pytest.MonkeyPatch.context() as own:
            return make_eval_runs(root, own)
    spec = write_evals_project(root)
    monkeypatch.setenv("STUDIO_EVAL_BROKEN", ",".join(BASELINE_BROKEN))
    baseline = run_traced(spec, root)
    monkeypatch.setenv("STUDIO_EVAL_BROKEN", ",".join(CANDIDATE_BROKEN))
    candidate = run_traced(spec, root)
    return EvalRuns(root, baseline, candidate)
