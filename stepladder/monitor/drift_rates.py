"""Escalation, invalid-output and router-score changes: production against eval runs.

The reference is the traced cases of the eval sets' own runs (`stepladder eval` puts the eval
run id on each case's root span); runs pinned to one tier (`eval --tier`) are left out, as they
never escalate. A rate (the share of runs with at least one escalation, or one invalid model
output) is compared with Fisher's exact test, router scores with the Mann-Whitney U test; a
change is flagged when it is significant at `alpha` and at least the smallest that counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stepladder.config import Project
from stepladder.evalsets.run_store import eval_run_store
from stepladder.evalsets.spec import LoadedEvalSpec
from stepladder.monitor import drift_stats as stats
from stepladder.monitor.production import ProductionRun

__all__ = [
    "RateChange",
    "RateComparison",
    "RateThresholds",
    "compare_with_eval_runs",
    "rate_changes",
]

RATES = (("escalation rate", "escalations"), ("invalid-output rate", "invalid_outputs"))


@dataclass(frozen=True)
class RateThresholds:
    """When a change is flagged (drift's `DriftOptions` extends these).

    Attributes:
        alpha: Significance level.
        min_rate_change: Smallest change of a rate (0.02: two percentage points).
        min_score_change: Smallest change of a mean router score.
    """

    alpha: float = 0.01
    min_rate_change: float = 0.02
    min_score_change: float = 0.05


@dataclass(frozen=True)
class RateChange:
    """A rate or mean score in production against the eval runs.

    Attributes:
        name: What is measured (`escalation rate`, `router score (small)`, ...).
        reference: Its value over the eval runs' traced cases.
        production: Its value in production.
        reference_n: Eval-run cases (or scores) it was measured on.
        production_n: Production runs (or scores) it was measured on.
        p_value: Fisher's exact test (rates) or Mann-Whitney U (scores).
        flagged: Significant at `alpha` and at least the smallest change that counts.
        is_rate: A proportion (shown in %) rather than a mean score.
    """

    name: str
    reference: float
    production: float
    reference_n: int
    production_n: int
    p_value: float
    flagged: bool
    is_rate: bool = True

    def describe(self) -> str:
        """`escalation rate 4.0% → 19.0% (p=0.00031, n=300/200)`."""
        before, after = (
            (f"{self.reference:.1%}", f"{self.production:.1%}")
            if self.is_rate
            else (f"{self.reference:.3f}", f"{self.production:.3f}")
        )
        return (
            f"{self.name} {before} → {after} "
            f"(p={stats.format_p(self.p_value)}, n={self.reference_n}/{self.production_n})"
        )


@dataclass(frozen=True)
class RateComparison:
    """The rate changes, and what they were measured against.

    Attributes:
        changes: One per rate and per router tier (none without a reference).
        reference_runs: Traced eval-run cases used as the reference.
        eval_runs: The eval runs they belong to.
        note: What the reference was, or why nothing could be compared.
    """

    changes: tuple[RateChange, ...]
    reference_runs: int
    eval_runs: int
    note: str


def compare_with_eval_runs(
    project: Project,
    specs: Sequence[LoadedEvalSpec],
    every: Sequence[ProductionRun],
    production: Sequence[ProductionRun],
    thresholds: RateThresholds,
) -> RateComparison:
    """Compare production's rates with those of the eval sets' traced eval runs (in `every`)."""
    reference, run_ids = _reference_runs(project, specs, every)
    if not reference:
        names = ", ".join(loaded.spec.name for loaded in specs)
        note = (
            f"no traced eval runs of {names}: escalation and invalid-output rates and router "
            "scores could not be compared (run `stepladder eval` with tracing on)"
        )
        return RateComparison((), 0, 0, note)
    note = f"rates compared with {len(reference)} traced case(s) of {len(run_ids)} eval run(s)"
    changes = rate_changes(reference, production, thresholds)
    return RateComparison(changes, len(reference), len(run_ids), note)


def rate_changes(
    reference: Sequence[ProductionRun],
    production: Sequence[ProductionRun],
    thresholds: RateThresholds,
) -> tuple[RateChange, ...]:
    """Escalation and invalid-output rates and mean router scores: reference vs production."""
    changes = []
    for name, attribute in RATES:
        ref_hits = sum(1 for run in reference if getattr(run, attribute) > 0)
        prod_hits = sum(1 for run in production if getattr(run, attribute) > 0)
        test = stats.compare_rates(ref_hits, len(reference), prod_hits, len(production))
        change = abs(test.sample_rate - test.reference_rate)
        flagged = test.p_value < thresholds.alpha and change >= thresholds.min_rate_change
        changes.append(RateChange(name, test.reference_rate, test.sample_rate, len(reference),
                                  len(production), test.p_value, flagged))  # fmt: skip
    for tier in sorted({tier for run in reference for tier in run.route_scores}):
        ref_scores = [p for run in reference for p in run.route_scores.get(tier, ())]
        prod_scores = [p for run in production for p in run.route_scores.get(tier, ())]
        if not prod_scores:
            continue
        score = stats.compare_scores(ref_scores, prod_scores)
        change = abs(score.sample_mean - score.reference_mean)
        flagged = score.p_value < thresholds.alpha and change >= thresholds.min_score_change
        changes.append(RateChange(f"router score ({tier})", score.reference_mean,
                                  score.sample_mean, score.reference_n, score.sample_n,
                                  score.p_value, flagged, is_rate=False))  # fmt: skip
    return tuple(changes)


def _reference_runs(
    project: Project, specs: Sequence[LoadedEvalSpec], runs: Sequence[ProductionRun]
) -> tuple[list[ProductionRun], set[str]]:
    """The traced cases of the eval sets' own eval runs (not those pinned to one tier)."""
    names = {loaded.spec.name for loaded in specs}
    store = eval_run_store(project)
    accepted: dict[str, bool] = {}
    kept = []
    for run in runs:
        run_id = run.eval_run_id
        if run_id is None:
            continue
        if run_id not in accepted:
            manifest = store.manifest(run_id)
            accepted[run_id] = bool(manifest and manifest.eval_name in names and not manifest.tier)
        if accepted[run_id]:
            kept.append(run)
    return kept, {run_id for run_id, ok in accepted.items() if ok}
