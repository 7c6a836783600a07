"""Router training data from eval runs: the same eval run once per tier, paired by case.

Each case's text is its inputs joined, one value per line (all inputs in the case's order,
or the `fields` given: use the route node's `reads`). Each tier's correctness is the
metric's score on that case in that tier's run (a failed case scores 0).

This module reads eval runs, so it sits above flows: import it from here, not from
`stepladder.predictors.router` (which nodes import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from stepladder.config import Project
from stepladder.errors import UserError
from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.results import EvalRunRecord
from stepladder.evalsets.run_store import eval_run_store
from stepladder.evalsets.spec import load_eval_spec
from stepladder.predictors.router.manifest import TierRecord
from stepladder.predictors.router.router import MIN_EXAMPLES

__all__ = ["TrainingData", "case_text", "load_training_data"]


@dataclass(frozen=True)
class TrainingData:
    """Paired cases: ids, texts, each tier's correctness, and where they came from.

    Attributes:
        ids: Case ids (in the first tier's run order).
        texts: Each case's input text.
        correct: Per tier (in the order given), the metric's score per case.
        eval_name: The eval the runs are of.
        metric: The metric read as correctness.
        tiers: Per tier, its run and what its calls cost there.
    """

    ids: list[str]
    texts: list[str]
    correct: dict[str, NDArray[np.float64]]
    eval_name: str
    metric: str
    tiers: dict[str, TierRecord]


def case_text(case: EvalCase, fields: Sequence[str] | None = None) -> str:
    """A case's inputs as one text: its values (or those of `fields`), one per line."""
    keys = list(fields) if fields else list(case.inputs)
    return "\n".join(str(case.inputs[k]) for k in keys if case.inputs.get(k) is not None).strip()


def load_training_data(
    project: Project,
    runs: Mapping[str, str],
    metric: str,
    fields: Sequence[str] | None = None,
    min_cases: int = MIN_EXAMPLES,
) -> TrainingData:
    """Pair the cases of one eval run per tier and read their inputs and scores.

    Args:
        project: The project whose eval runs these are.
        runs: Run id per tier, cheapest tier first (`{"small": ID, "frontier": ID}`).
        metric: The metric whose score is each tier's correctness.
        fields: Input fields to join into the text (default: all of a case's inputs).
        min_cases: The fewest paired cases accepted.

    Raises:
        UserError: For unknown run ids, runs of different evals, a metric the runs lack,
            missing input fields, or too few cases common to all runs.
    """
    if len(runs) < 2:
        raise UserError("give at least two tiers' runs: --run small=RUN_ID --run frontier=RUN_ID")
    records = {tier: _run(project, run_id) for tier, run_id in runs.items()}
    eval_name = _same_eval(records)
    _check_metric(records, metric)
    scored = {tier: _scores(record, metric) for tier, record in records.items()}
    first = next(iter(records.values()))
    common = [r.case_id for r in first.results if all(r.case_id in s for s in scored.values())]
    if len(common) < min_cases:
        counts = ", ".join(f"{t}: {len(s)}" for t, s in scored.items())
        raise UserError(
            f"only {len(common)} case(s) are scored by '{metric}' in every run ({counts}); a "
            f"router needs at least {min_cases}. Run the eval on more cases for each tier."
        )
    cases = _cases(project, first)
    texts = [_text(cases, case_id, fields, eval_name) for case_id in common]
    return TrainingData(
        ids=common,
        texts=texts,
        correct={t: np.array([s[c] for c in common]) for t, s in scored.items()},
        eval_name=eval_name,
        metric=metric,
        tiers={t: _tier_record(r, scored[t], common) for t, r in records.items()},
    )


def _run(project: Project, run_id: str) -> EvalRunRecord:
    runs = eval_run_store(project)
    if not runs.has_run(run_id):
        recent = runs.run_ids()[:5]
        raise UserError(
            f"no eval run '{run_id}' in {runs.where}; recent runs: {', '.join(recent) or 'none'}."
            " Run the eval once per tier with `stepladder eval`."
        )
    return runs.load(run_id)


def _same_eval(records: Mapping[str, EvalRunRecord]) -> str:
    names = {tier: r.manifest.eval_name for tier, r in records.items()}
    if len(set(names.values())) > 1:
        shown = ", ".join(f"{t}: {n}" for t, n in names.items())
        raise UserError(
            f"the runs are of different evals ({shown}); give runs of the same eval spec, "
            "one per tier."
        )
    return next(iter(names.values()))


def _check_metric(records: Mapping[str, EvalRunRecord], metric: str) -> None:
    for tier, record in records.items():
        if metric not in record.manifest.metrics:
            raise UserError(
                f"run {record.manifest.run_id} ({tier}) has no metric '{metric}'; its "
                f"metrics: {', '.join(record.manifest.metrics) or '(none)'}."
            )


def _scores(record: EvalRunRecord, metric: str) -> dict[str, float]:
    out = {}
    for result in record.results:
        score = result.scores.get(metric)
        if score is not None:
            out[result.case_id] = min(max(float(score.value), 0.0), 1.0)
        elif not result.ok:
            out[result.case_id] = 0.0
    return out


def _cases(project: Project, record: EvalRunRecord) -> dict[str, EvalCase]:
    spec_path = Path(record.manifest.spec_path)
    for candidate in (spec_path, project.root / spec_path):
        if candidate.is_file():
            return {case.id: case for case in load_eval_spec(candidate).load_cases()}
    raise UserError(
        f"run {record.manifest.run_id}: its eval spec {spec_path} is gone, so the cases' "
        "inputs cannot be read; restore the spec and its cases file."
    )


def _text(
    cases: Mapping[str, EvalCase], case_id: str, fields: Sequence[str] | None, eval_name: str
) -> str:
    case = cases.get(case_id)
    if case is None:
        raise UserError(
            f"case '{case_id}' of the runs is no longer in eval '{eval_name}''s cases file; "
            "rerun the eval, or restore the cases."
        )
    missing = [f for f in fields or () if f not in case.inputs]
    if missing:
        raise UserError(
            f"case '{case_id}' has no input(s) {', '.join(missing)}; its inputs: "
            f"{', '.join(case.inputs)}."
        )
    return case_text(case, fields)


def _tier_record(record: EvalRunRecord, scores: Mapping[str, float], ids: list[str]) -> TierRecord:
    chosen = [r for r in record.results if r.case_id in set(ids)]
    count = max(len(chosen), 1)
    return TierRecord(
        run_id=record.manifest.run_id,
        quality=float(np.mean([scores[i] for i in ids])),
        cost_usd_per_call=sum(r.cost_usd for r in chosen) / count,
        input_tokens=sum(r.input_tokens for r in chosen) / count,
        output_tokens=sum(r.output_tokens for r in chosen) / count,
    )
