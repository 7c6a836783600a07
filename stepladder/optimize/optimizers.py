"""The pieces an optimization is made of: the data splits, the flow-level metric, the optimizer.

Splits: the eval's test split is held out (run before and after); the other cases are the
optimization's. When some are in split `train`, those train and the rest validate; otherwise
they are shuffled with the seed and `val_fraction` of them validate.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy

from stepladder.errors import ModelError, UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metrics import Metric, MetricContext, score_case
from stepladder.optimize.flow_program import ERROR_KEY, FlowProgram, FlowRunner
from stepladder.optimize.optimizer_names import OPTIMIZERS
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from stepladder.runtimes.usage import UsageLedger

__all__ = ["CASE_ID", "OPTIMIZERS", "FlowMetric", "Splits", "build_optimizer", "split_cases"]

CASE_ID = "stepladder_case_id"
TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class Splits:
    """The cases an optimization trains and validates on, and how they were chosen.

    Attributes:
        train: Cases the optimizer draws demonstrations from.
        validation: Cases that score the program before and after.
        test_split: The held-out split run before and after (not seen by the optimizer).
        how: The split, stated for people.
    """

    train: list[EvalCase]
    validation: list[EvalCase]
    test_split: str
    how: str

    def examples(self, which: Sequence[EvalCase]) -> list[dspy.Example]:
        """The cases as DSPy examples (inputs marked, expected values as labels)."""
        return [
            dspy.Example(**case.inputs, **case.expected, **{CASE_ID: case.id}).with_inputs(
                *case.inputs
            )
            for case in which
        ]


def split_cases(
    cases: Sequence[EvalCase],
    *,
    test_split: str,
    val_fraction: float,
    seed: int,
    max_train: int | None = None,
    max_val: int | None = None,
) -> Splits:
    """Hold out the test split; divide the other cases into train and validation.

    Raises:
        UserError: When there is no test split, or too few cases to train and validate.
    """
    held_out = [case for case in cases if case.split == test_split]
    if not held_out:
        found = sorted({case.split for case in cases if case.split}) or ["(none)"]
        raise UserError(
            f"the eval has no case in split '{test_split}' to measure before and after on "
            f"(splits: {', '.join(found)}); mark some cases `split: {test_split}` or pass "
            "--test-split."
        )
    pool = [case for case in cases if case.split != test_split]
    named = [case for case in pool if case.split == TRAIN_SPLIT]
    if named and len(named) < len(pool):
        train = named
        validation = [case for case in pool if case.split != TRAIN_SPLIT]
        others = sorted({str(case.split) for case in validation})
        how = f"train: split '{TRAIN_SPLIT}'; validation: split(s) {', '.join(others)}"
    else:
        shuffled = list(pool)
        random.Random(seed).shuffle(shuffled)
        cut = round(len(shuffled) * val_fraction)
        validation, train = shuffled[:cut], shuffled[cut:]
        how = (
            f"the {len(pool)} non-test cases shuffled (seed {seed}), {val_fraction:.0%} validation"
        )
    train, validation = train[:max_train], validation[:max_val]
    if not train or not validation:
        raise UserError(
            f"too few cases to optimize: {len(train)} to train and {len(validation)} to "
            f"validate outside split '{test_split}'; add cases or change --val-fraction."
        )
    how += (
        f"; {len(train)} train, {len(validation)} validation, {len(held_out)} test ('{test_split}')"
    )
    return Splits(train, validation, test_split, how)


class FlowMetric:
    """The eval's metrics as one DSPy metric: the mean score of a case's scored metrics.

    A run that failed scores 0. Called as `metric(example, prediction, trace=None)` by DSPy's
    optimizers and `Evaluate`; `with_feedback` is the same metric in GEPA's form.

    Args:
        metrics: The metrics (all of the eval's, or the one chosen).
        cases: The eval's cases by id.
        runner: Runs scoring coroutines (judge metrics call models).
        models: The model tiers, for judge metrics.
    """

    def __init__(
        self,
        metrics: Sequence[Metric],
        cases: Mapping[str, EvalCase],
        runner: FlowRunner,
        models: ModelPool,
    ) -> None:
        self.metrics = list(metrics)
        self.cases = dict(cases)
        self.runner = runner
        self.models = models

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float:
        """The case's score in [0, 1]."""
        return self.score(example, prediction)[0]

    def with_feedback(
        self,
        example: Any,
        prediction: Any,
        trace: Any = None,
        pred_name: str | None = None,
        pred_trace: Any = None,
    ) -> dspy.Prediction:
        """GEPA's form: the score, and feedback naming each metric's verdict."""
        score, notes = self.score(example, prediction)
        return dspy.Prediction(score=score, feedback="; ".join(notes))

    def score(self, example: Any, prediction: Any) -> tuple[float, list[str]]:
        """The mean metric score of one case, and a note per metric."""
        case = self.cases[example[CASE_ID]]
        error = prediction.get(ERROR_KEY)
        if error:
            return 0.0, [f"the flow failed: {error}"]
        outputs = {metric.field: prediction.get(metric.field) for metric in self.metrics}
        context = MetricContext(models=self.models, usage=UsageLedger())
        scores = self.runner.call(score_case(self.metrics, outputs, case, context))
        if not scores:
            return 0.0, ["no metric has an expected value for this case"]
        notes = [
            f"{name}: {score.value:g} (expected {case.expected.get(_field(self.metrics, name))!r},"
            f" got {outputs.get(_field(self.metrics, name))!r})"
            for name, score in scores.items()
        ]
        return sum(s.value for s in scores.values()) / len(scores), notes


def _field(metrics: Sequence[Metric], name: str) -> str:
    return next(metric.field for metric in metrics if metric.name == name)


@dataclass(frozen=True)
class OptimizerChoice:
    """How to build the DSPy optimizer (from the command's options)."""

    name: str
    max_demos: int = 4
    max_labeled: int = 16
    threads: int = 2
    seed: int = 0
    candidates: int = 4


def build_optimizer(choice: OptimizerChoice, metric: FlowMetric, lm: Any) -> tuple[Any, bool]:
    """The DSPy optimizer, and whether its `compile` takes the validation cases.

    Args:
        choice: Which optimizer and its sizes.
        metric: The flow-level metric.
        lm: The LM that proposes instructions (MIPROv2) or reflects (GEPA).
    """
    if choice.name == "bootstrap" and choice.candidates == 0:
        optimizer = dspy.BootstrapFewShot(
            metric=metric, metric_threshold=1.0, max_bootstrapped_demos=choice.max_demos,
            max_labeled_demos=choice.max_labeled,
        )  # fmt: skip
        return optimizer, False
    if choice.name == "bootstrap":
        # Zero-shot, labelled-only and `candidates` bootstrapped demo sets, the best on the
        # validation cases kept: demos that mislead a small model are not chosen.
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, metric_threshold=1.0, max_bootstrapped_demos=choice.max_demos,
            max_labeled_demos=choice.max_labeled, num_candidate_programs=choice.candidates,
            num_threads=choice.threads,
        )  # fmt: skip
        return optimizer, True
    if choice.name == "mipro":
        optimizer = dspy.MIPROv2(
            metric=metric, prompt_model=lm, task_model=lm, auto="light",
            max_bootstrapped_demos=choice.max_demos, max_labeled_demos=choice.max_labeled,
            num_threads=choice.threads, seed=choice.seed, metric_threshold=1.0,
        )  # fmt: skip
        return optimizer, True
    if choice.name == "gepa":
        optimizer = dspy.GEPA(
            metric=metric.with_feedback, auto="light", reflection_lm=lm, num_threads=choice.threads,
            seed=choice.seed,
        )  # fmt: skip
        return optimizer, True
    raise UserError(f"--optimizer {choice.name}: choose one of {', '.join(OPTIMIZERS)}.")


def compile_program(
    optimizer: Any,
    takes_valset: bool,
    student: FlowProgram,
    teacher: FlowProgram | None,
    splits: Splits,
) -> FlowProgram:
    """Run the optimizer over the student (with the teacher, when it takes one).

    The optimizer's own model calls (MIPROv2's proposals, GEPA's reflections) go through the
    constrained-JSON adapter too, so a small model still answers in the fields asked for.

    Raises:
        ModelError: When the proposing or reflecting model's answers cannot be parsed.
    """
    trainset = splits.examples(splits.train)
    arguments: dict[str, Any] = {"trainset": trainset}
    if takes_valset:
        arguments["valset"] = splits.examples(splits.validation)
    if teacher is not None and not isinstance(optimizer, dspy.GEPA):
        arguments["teacher"] = teacher
    try:
        with dspy.context(adapter=constrained_adapter()):
            compiled: FlowProgram = optimizer.compile(student, **arguments)
    except dspy.utils.exceptions.AdapterParseError as error:
        fields = ", ".join(error.signature.output_fields) if error.signature else "its fields"
        raise ModelError(
            f"the optimizer's own model gave an answer without the fields it asked for "
            f"({fields}): {str(error.lm_response)[:200]!r}. Give it a stronger tier with "
            "--teacher, or use --optimizer bootstrap (which needs no proposals)."
        ) from None
    return compiled
