"""Real intent data for drift tests: a Banking77 eval set, and traced "production" runs.

The flow is a function node (a keyword classifier, no model), so production runs are real
traced runs of a real flow, made in-process in a fraction of a second each.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stepladder.config import load_project
from stepladder.flows import compile_project_flow, run_flow
from stepladder.flows.project import project_tracing
from stepladder.testing import run_eval
from tests.conftest import write_project

# The texts each draw below picks, kept in the repository so the tests never depend on
# ../shared (CC BY 4.0 Banking77, CC BY 3.0 CLINC150; see DATA_LICENSES.md). Rebuild with
# `python scripts/make_drift_fixture.py` (needs ../shared/data).
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "drift_sets.json"
DRAWS = ((12, 25, 200, 7), (8, 20, 80, 3))

RULES = '''
def classify(text: str) -> str:
    """A keyword classifier: enough of a flow to trace."""
    lowered = text.lower()
    for word in ("card", "transfer", "refund", "cash", "pin", "account"):
        if word in lowered:
            return word
    return "other"
'''
FLOW = """
name: intents
state:
  text: {type: str, input: true}
  label: str
nodes:
  - {id: classify, kind: function, call: "rules:classify", reads: [text], writes: [label]}
"""
SPEC = """
name: intents
flow: intents
cases: intents.jsonl
metrics:
  label: exact
"""


@dataclass(frozen=True)
class IntentSets:
    """An eval set from some Banking77 intents, and three kinds of production traffic.

    Attributes:
        eval_rows: (text, intent) pairs from the test split of the eval intents.
        same: Other queries (train split) of the same intents, as many of each as in the eval.
        remix: Other queries (train split) of the same intents, in the train split's mix.
        other: Queries (train split) of other Banking77 intents.
        clinc: CLINC150 queries: in-scope ones outside banking and credit cards, and out-of-scope.
    """

    eval_rows: list[tuple[str, str]]
    same: list[str]
    remix: list[str]
    other: list[str]
    clinc: list[str]


def intent_sets(
    intents: int = 12, per_intent: int = 25, production: int = 200, seed: int = 7
) -> IntentSets:
    """The sets of one of the `DRAWS`, read from the fixture file."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))[
        draw_key(intents, per_intent, production, seed)
    ]
    data["eval_rows"] = [tuple(row) for row in data["eval_rows"]]
    return IntentSets(**data)


def draw_key(intents: int, per_intent: int, production: int, seed: int) -> str:
    """The fixture's key for one draw."""
    return f"{intents}x{per_intent}x{production}-seed{seed}"


def write_intents_project(root: Path, eval_rows: list[tuple[str, str]]) -> Path:
    """Write the project; return its eval spec."""
    cases = [
        {"id": f"c{i}", "inputs": {"text": text}, "expected": {"label": "other"},
         "tags": [intent]}
        for i, (text, intent) in enumerate(eval_rows)
    ]  # fmt: skip
    write_project(
        root,
        {
            "rules.py": RULES,
            "flows/intents.yaml": FLOW,
            "evalsets/intents.yaml": SPEC,
            "evalsets/intents.jsonl": "".join(json.dumps(c) + "\n" for c in cases),
        },
        "name: drifttest\ntiers: {}\n",
    )
    return root / "evalsets" / "intents.yaml"


def run_production(
    root: Path, texts: list[str], flow: str = "intents"
) -> tuple[datetime, datetime]:
    """Run the flow on each text, traced; return the window the runs started in."""
    project = load_project(root=root)
    compiled = compile_project_flow(project, flow)
    tracing = project_tracing(project)
    started = datetime.now(UTC)

    async def run_all() -> None:
        for text in texts:
            await run_flow(compiled, {"text": text}, tracing=tracing)

    try:
        asyncio.run(run_all())
    finally:
        tracing.shutdown()
    return started, datetime.now(UTC)


def run_traced_eval(root: Path, spec: Path) -> None:
    """Run the eval set with tracing on (the reference of the rates)."""
    tracing = project_tracing(load_project(root=root))
    try:
        run_eval(spec, project=root, tracing=tracing, concurrency=16)
    finally:
        tracing.shutdown()
