"""`dspy.BootstrapFinetune` over a flow: the student's nodes on a `TierLM`, a teacher's traces.

The student is the flow as it runs on the tier being tuned (compiled prompts included); each
tuned node's predictor gets the tier's `TierLM`, whose `TierProvider` trains the adapter. The
teacher is the flow on a higher tier, or the gold labels (`TeacherProgram`); only its runs the
flow metric scores 1 become training data, formatted by the constrained adapter (the messages
the node sends). The compiled student's predictors call the tier with the candidate adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dspy

from stepladder.config import Project
from stepladder.flows import Flow
from stepladder.optimize.finetune.dspy_provider import (
    Candidate,
    TierLM,
    TierProvider,
    finetune_adapter,
    model_name,
)
from stepladder.optimize.finetune.dspy_teacher import TeacherProgram, gold_fields_missing
from stepladder.optimize.flow_program import FlowProgram, FlowRunner
from stepladder.optimize.optimizers import FlowMetric, Splits
from stepladder.prompts import constrained_adapter

__all__ = ["bootstrap_finetune"]


def bootstrap_finetune(
    project: Project,
    student_flow: Flow,
    teacher_flow: Flow | None,
    tier: str,
    nodes: Sequence[str],
    runner: FlowRunner,
    splits: Splits,
    metric: FlowMetric,
    name: str,
    threads: int,
    settings: Mapping[str, Any] | None = None,
) -> tuple[FlowProgram, Candidate]:
    """Fine-tune the nodes' tier with DSPy's `BootstrapFinetune`; the tuned program, the candidate.

    Args:
        project: The project.
        student_flow: The flow on `tier`, as it runs (compiled prompts included).
        teacher_flow: The flow on the teacher's tier, or None for the gold labels.
        tier: The tier whose base model is tuned.
        nodes: The nodes tuned (one adapter for all of them).
        runner: Runs the flows (its pool serves the tiers).
        splits: The train cases (the teacher runs them).
        metric: The flow metric; runs scoring 1 train.
        name: The adapter's name.
        threads: Teacher runs at once.
        settings: `tune:` settings overriding stepladder.yaml's.

    Raises:
        UserError: The gold labels cannot teach a node, or no teacher run was right.
    """
    if teacher_flow is None:
        gold_fields_missing(student_flow, nodes, splits.train)
    provider = TierProvider(project, name, student_flow.name, nodes, settings, show_progress=False)
    lm = TierLM(model_name(tier), runner.models, provider, runner.call)
    student = FlowProgram(student_flow, runner, nodes)
    for _, predictor in student.named_predictors():
        predictor.lm = lm
    gold = None if teacher_flow is not None else splits.train
    teacher = TeacherProgram(teacher_flow or student_flow, runner, nodes, gold=gold)

    def perfect(example: Any, prediction: Any, trace: Any = None) -> bool:
        return metric(example, prediction) >= 1.0

    optimizer = dspy.BootstrapFinetune(
        metric=perfect, multitask=True, adapter=finetune_adapter(), num_threads=threads
    )
    with dspy.context(adapter=constrained_adapter()):
        tuned: FlowProgram = optimizer.compile(
            student, trainset=splits.examples(splits.train), teacher=teacher
        )
    runner.raise_fatal()
    for tuned_lm in {id(p.lm): p.lm for _, p in tuned.named_predictors()}.values():
        runner.call(tuned_lm.serve())  # the server loads the adapter before calls run at once
    return tuned, provider.candidates[-1]
