"""Fuzzed flow files, settings, eval specs and run inputs: exit 0 or a clear exit 2, always.

Hypothesis draws each case (a fixed seed, a bounded number of examples) by mutating the valid
seed project in `seeds.py`; a worker process runs it through the CLI with a per-case timeout and
a memory bound (`harness.py`). A case passes when the CLI exits 0, or 2 with a message and no
traceback, and no hostile reference ran code (its canary file never appears).
`benchmarks/fuzz.py` runs the same generator over 1,000+ cases and prints the counts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.cases import FuzzCase, generate_case
from tests.fuzz.harness import FuzzWorker, Outcome

EXAMPLES = 400


@pytest.fixture(scope="module")
def worker() -> Iterator[FuzzWorker]:
    with FuzzWorker() as running:
        yield running


def explain(case: FuzzCase, outcome: Outcome) -> str:
    return (
        f"{outcome.status} (exit {outcome.exit_code}, code executed: {outcome.code_executed})\n"
        f"{case.describe()}\n--- output ---\n{outcome.output[-3000:]}"
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(rng=st.randoms(use_true_random=False))
def test_a_mutated_project_exits_0_or_with_a_clear_error(
    worker: FuzzWorker, rng: random.Random
) -> None:
    case = generate_case(rng)
    outcome = worker.run(case)
    assert outcome.acceptable, explain(case, outcome)


@pytest.mark.parametrize("kind", ["flow", "settings", "eval", "input", "hostile"])
def test_every_kind_of_case_is_generated(kind: str) -> None:
    kinds = {generate_case(random.Random(seed)).kind for seed in range(200)}
    assert kind in kinds


def test_the_harness_flags_code_that_ran(worker: FuzzWorker) -> None:
    """The canary check itself works: a flow allowed to call a project function that writes
    the canary file is caught, though it exits 0."""
    steps = "from pathlib import Path\n\n\ndef plant(text: str) -> str:\n"
    steps += "    Path('CANARY').write_text(text)\n    return text\n"
    flow = (
        "name: plant\nstate:\n  text: {type: str, input: true}\nnodes:\n"
        "  - {id: p, kind: function, call: 'flows.plant_steps:plant', reads: [text], "
        "writes: [text]}\n"
    )
    case = FuzzCase(
        "hostile",
        ["run", "{root}/flows/plant.yaml", "--input", '{"text": "x"}'],
        {"flows/plant_steps.py": steps, "flows/plant.yaml": flow},
    )
    outcome = worker.run(case)
    assert (outcome.status, outcome.code_executed) == ("ok", True), explain(case, outcome)
    assert not outcome.acceptable
