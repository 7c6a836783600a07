"""Real intent data for drift tests: a Banking77 eval set, and traced "production" runs.

The flow is a function node (a keyword classifier, no model), so production runs are real
traced runs of a real flow, made in-process in a fraction of a second each.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stepladder.config import load_project
from stepladder.flows import compile_project_flow, run_flow
from stepladder.testing import run_eval
from stepladder.tracing import Tracing
from tests.conftest import write_project

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "intents"
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


def draw_intent_sets(
    intents: int = 12, per_intent: int = 25, production: int = 200, seed: int = 7
) -> IntentSets:
    """Pick eval and other intents at random (seeded) from ../shared/data; draw each set."""
    test, train = _banking("test.csv"), _banking("train.csv")
    rng = random.Random(seed)
    names = sorted(test)
    rng.shuffle(names)
    chosen, others = names[:intents], names[intents : 2 * intents]
    eval_rows = [(text, intent) for intent in chosen for text in test[intent][:per_intent]]
    each = -(-production // intents)
    same = [text for intent in chosen for text in rng.sample(train[intent], each)][:production]
    remix = rng.sample([text for intent in chosen for text in train[intent]], production)
    other = rng.sample([text for intent in others for text in train[intent]], production)
    return IntentSets(eval_rows, same, remix, other, _clinc(rng, production))


def _banking(name: str) -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (DATA / "banking77" / name).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"])
    return by_intent


def _clinc(rng: random.Random, count: int) -> list[str]:
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((DATA / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    money = {intent for name in ("banking", "credit_cards") for intent in domains[name]}
    in_scope = [text for text, intent in data["test"] if intent not in money]
    out_of_scope = [text for text, _ in data["oos_test"]]
    oos = count // 4
    return rng.sample(in_scope, count - oos) + rng.sample(out_of_scope, oos)


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


def tracing_of(root: Path) -> Tracing:
    """The project's tracing (JSONL spans under `.stepladder/traces`)."""
    project = load_project(root=root)
    settings = project.settings
    return Tracing.for_project(settings.tracing, project.state_dir, settings.name)


def run_production(
    root: Path, texts: list[str], flow: str = "intents"
) -> tuple[datetime, datetime]:
    """Run the flow on each text, traced; return the window the runs started in."""
    project = load_project(root=root)
    compiled = compile_project_flow(project, flow)
    tracing = tracing_of(root)
    started = datetime.now(UTC)

    async def run_all() -> None:
        for text in texts:
            await run_flow(compiled, {"text": text}, tracing=tracing)

    try:
        asyncio.run(run_all())
    finally:
        tracing.shutdown()
    return started, datetime.now(UTC)


def run_traced_eval(root: Path, spec: Path) -> str:
    """Run the eval set with tracing on (the reference of the rates); return its run id."""
    tracing = tracing_of(root)
    try:
        result = run_eval(spec, project=root, tracing=tracing, concurrency=16)
    finally:
        tracing.shutdown()
    return result.record.manifest.run_id
