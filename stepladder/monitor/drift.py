"""Drift: do recent production inputs still look like the flow's eval set?

Production inputs (the traced runs of a flow in a time window) are embedded with the project's
embedding function and compared with the eval set's case inputs:

- **shift**: the energy distance between the two samples, with a permutation-test p-value;
  the inputs shifted when `p < alpha` *and* the samples' separability (the AUC with which
  nearest neighbours tell production from eval inputs; 0.5: not at all) reaches
  `min_separability`, so that a large sample does not flag a tiny shift (200 inputs of the
  same intents in another mix: p=0.03, separability 0.57);
- **novelty**: a production input is *far* when its nearest eval case is further than the
  `far_quantile` of the eval cases' own nearest-neighbour distances; far inputs are clustered
  and the inputs are novel when at least `min_far_share` of them are far (and that is
  significant, by a binomial test against the `1 - far_quantile` expected by chance);
- **rates**: escalation and invalid-output rates (Fisher's exact test) and router scores
  (Mann-Whitney) of production against the traced runs of the eval set's own eval runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.console import Console

from stepladder.config import Project
from stepladder.errors import UserError
from stepladder.flows import load_flow
from stepladder.flows.project import trace_store
from stepladder.monitor import drift_stats as stats
from stepladder.monitor.drift_rates import RateComparison, RateThresholds, compare_with_eval_runs
from stepladder.monitor.drift_sources import (
    eval_case_texts,
    find_eval_specs,
    production_inputs,
    window,
)
from stepladder.monitor.production import read_flow_runs
from stepladder.retrieval.embedding_cache import embed_cached, progress_on
from stepladder.retrieval.embeddings import shared_embedder

__all__ = [
    "DriftOptions",
    "DriftReport",
    "FarCluster",
    "Projection",
    "analyze_drift",
]

MIN_EVAL_CASES = 10


@dataclass(frozen=True)
class DriftOptions(RateThresholds):
    """What to compare, and the thresholds of the verdict (with those of `RateThresholds`).

    Attributes:
        alpha: Significance level of every test.
        min_rate_change: Smallest change of an escalation or invalid-output rate flagged.
        min_score_change: Smallest change of a mean router score flagged.
        since: Only production runs started at or after this time.
        until: Only production runs started before this time.
        evalsets: Eval spec files to compare with (default: every one of the flow).
        field: The input key whose text is embedded (default: all string inputs, joined).
        min_separability: Smallest separability (AUC) that counts as a shift.
        far_quantile: Quantile of the eval cases' nearest-neighbour distances beyond which
            a production input is far.
        min_far_share: Share of far production inputs that counts as novel inputs.
        cluster_distance: Cosine distance at which far inputs stop joining a cluster.
        min_cluster: Smallest far cluster reported (also at least 1% of production inputs).
        permutations: Permutations of the shift test.
        seed: Seed of the permutations and subsampling.
        max_runs: Only the newest this many production runs are compared.
        min_runs: Fewest production inputs drift is measured on.
    """

    since: datetime | None = None
    until: datetime | None = None
    evalsets: tuple[Path, ...] = ()
    field: str | None = None
    min_separability: float = 0.65
    far_quantile: float = 0.99
    min_far_share: float = 0.05
    cluster_distance: float = 0.6
    min_cluster: int = 3
    permutations: int = 500
    seed: int = 0
    max_runs: int = 2000
    min_runs: int = 20

    def smallest_cluster(self, inputs: int) -> int:
        """The smallest far cluster reported among `inputs` production inputs."""
        return max(self.min_cluster, math.ceil(0.01 * inputs))


@dataclass(frozen=True)
class FarCluster:
    """A group of production inputs far from every eval case.

    Attributes:
        size: Production inputs in it.
        share: Its share of all production inputs compared.
        examples: A few of its distinct texts, the most central first.
        nearest_eval: The eval case text nearest its most central input.
        distance: Median cosine distance of its inputs to their nearest eval case.
    """

    size: int
    share: float
    examples: tuple[str, ...]
    nearest_eval: str
    distance: float


@dataclass(frozen=True)
class Projection:
    """Eval and production embeddings projected on their first two principal components.

    Attributes:
        eval_xy: One row per eval case.
        production_xy: One row per production input.
        groups: Per production input: -1 near, -2 far outside a reported cluster, else the
            index of its far cluster.
    """

    eval_xy: NDArray[np.float64]
    production_xy: NDArray[np.float64]
    groups: NDArray[np.int64]


@dataclass(frozen=True)
class DriftReport:
    """What drift measured for one flow and window, and its verdict."""

    flow: str
    eval_sets: tuple[str, ...]
    options: DriftOptions
    shift: stats.ShiftTest
    novelty: stats.Novelty
    clusters: tuple[FarCluster, ...]
    rates: RateComparison
    projection: Projection
    notes: tuple[str, ...] = ()
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def eval_cases(self) -> int:
        """Distinct eval case texts compared."""
        return len(self.novelty.reference_distances)

    @property
    def production_runs(self) -> int:
        """Production inputs compared."""
        return len(self.novelty.distances)

    @property
    def far_count(self) -> int:
        """Production inputs far from every eval case."""
        return int(self.novelty.far.sum())

    @property
    def far_share(self) -> float:
        """Their share of the production inputs."""
        return self.far_count / self.production_runs if self.production_runs else 0.0

    @property
    def far_p_value(self) -> float:
        """The chance of at least as many far inputs if each were far with `1 - far_quantile`."""
        return stats.far_share_p_value(
            self.far_count, self.production_runs, self.options.far_quantile
        )

    @property
    def shifted(self) -> bool:
        """The input distribution moved: significant and large enough."""
        o = self.options
        return self.shift.p_value < o.alpha and self.shift.separability >= o.min_separability

    @property
    def novel(self) -> bool:
        """Enough production inputs are far from every eval case (more than chance)."""
        return (
            self.far_share >= self.options.min_far_share and self.far_p_value < self.options.alpha
        )

    @property
    def drifted(self) -> bool:
        """Inputs shifted, novel inputs appeared, or a rate or router score changed."""
        return self.shifted or self.novel or any(change.flagged for change in self.rates.changes)

    def reasons(self) -> list[str]:
        """Why the verdict is drift (empty when it is not)."""
        reasons = []
        if self.shifted:
            reasons.append(f"inputs shifted ({self.shift_summary()})")
        if self.novel:
            reasons.append(f"novel inputs ({self.far_summary()})")
        reasons.extend(change.describe() for change in self.rates.changes if change.flagged)
        return reasons

    def shift_summary(self) -> str:
        """`separability 0.98 (threshold 0.65), energy distance 0.0509, p=0.002`."""
        return (
            f"separability {self.shift.separability:.2f} (threshold "
            f"{self.options.min_separability:g}), energy distance {self.shift.statistic:.4f}, "
            f"p={stats.format_p(self.shift.p_value)}"
        )

    def far_summary(self) -> str:
        """`74 of 200 inputs far from every eval case (37.0%, by chance about 1%; p=2.9e-93)`."""
        chance, p_value = 1 - self.options.far_quantile, stats.format_p(self.far_p_value)
        return (
            f"{self.far_count} of {self.production_runs} inputs far from every eval case "
            f"({self.far_share:.1%}, by chance about {chance:.0%}; p={p_value})"
        )

    def verdict(self) -> str:
        """`drift: YES — ...` or `no drift — ...`, with the key numbers."""
        if self.drifted:
            return "drift: YES — " + "; ".join(self.reasons())
        return f"no drift — {self.shift_summary()}; {self.far_summary()}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (no embeddings)."""
        o = self.options
        return {
            "flow": self.flow, "eval_sets": list(self.eval_sets), "drifted": self.drifted,
            "verdict": self.verdict(), "reasons": self.reasons(),
            "since": o.since.isoformat() if o.since else None,
            "until": o.until.isoformat() if o.until else None,
            "field": o.field, "eval_cases": self.eval_cases,
            "production_runs": self.production_runs,
            "reference_runs": self.rates.reference_runs,
            "shift": {"statistic": self.shift.statistic,
                      "coefficient": self.shift.coefficient,
                      "separability": self.shift.separability,
                      "p_value": self.shift.p_value, "permutations": self.shift.permutations,
                      "min_separability": o.min_separability, "shifted": self.shifted},
            "novelty": {"threshold": self.novelty.threshold, "quantile": o.far_quantile,
                        "far": self.far_count, "far_share": self.far_share,
                        "p_value": self.far_p_value, "novel": self.novel},
            "clusters": [vars(cluster) | {"examples": list(cluster.examples)}
                         for cluster in self.clusters],
            "rates": [vars(change) for change in self.rates.changes],
            "alpha": o.alpha, "notes": list(self.notes), "created": self.created.isoformat(),
        }  # fmt: skip


def analyze_drift(
    project: Project, flow: str, options: DriftOptions, console: Console | None = None
) -> DriftReport:
    """Compare a flow's recent production inputs (and rates) with its eval set.

    Args:
        project: The project.
        flow: The flow's name in `flows/`, or its file.
        options: The window, the eval sets and the thresholds.
        console: Where embedding progress goes (none without it).

    Raises:
        UserError: Unknown flow, no eval set, no traces or too few production inputs.
    """
    flow_file = project.flow_path(flow)
    name = load_flow(flow_file).name
    specs = find_eval_specs(project, name, flow_file, options.evalsets)
    eval_texts = eval_case_texts(specs, options.field)
    folder = trace_store(project)
    every = read_flow_runs(folder, name)
    runs, texts, notes = production_inputs(
        every,
        name,
        folder,
        since=options.since,
        until=options.until,
        field=options.field,
        limit=options.max_runs,
    )
    _check_sizes(name, eval_texts, texts, options)
    eval_x, prod_x = _embed(project, eval_texts, texts, console)
    novelty = stats.novelty(eval_x, prod_x, quantile=options.far_quantile)
    clusters, groups = _far_clusters(novelty, prod_x, texts, eval_texts, options)
    shift = stats.distribution_shift(
        eval_x, prod_x, permutations=options.permutations, seed=options.seed
    )
    rates = compare_with_eval_runs(project, specs, every, runs, options)
    return DriftReport(
        flow=name, eval_sets=tuple(s.spec.name for s in specs), options=options, shift=shift,
        novelty=novelty, clusters=clusters, rates=rates,
        projection=_project(eval_x, prod_x, groups), notes=(*notes, rates.note),
    )  # fmt: skip


def _check_sizes(
    flow: str, eval_texts: Sequence[str], texts: Sequence[str], options: DriftOptions
) -> None:
    if len(eval_texts) < MIN_EVAL_CASES:
        raise UserError(
            f"the eval set of flow '{flow}' has {len(eval_texts)} distinct input text(s); drift "
            f"needs at least {MIN_EVAL_CASES} to know what inputs look like. Add cases."
        )
    if len(texts) < options.min_runs:
        raise UserError(
            f"only {len(texts)} production input(s) of flow '{flow}' "
            f"{window(options.since, options.until)}: too few to tell drift from chance (at "
            f"least {options.min_runs} needed). Widen --since, or wait for more traffic."
        )


def _embed(
    project: Project, eval_texts: list[str], texts: list[str], console: Console | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    settings = project.settings.embeddings
    embedder = shared_embedder(settings)
    key, cache = settings.model_dump_json(), project.state_dir / "cache" / "embeddings"
    eval_x = embed_cached(eval_texts, embedder, key, cache, progress_on(console, "eval"))
    prod_x = embed_cached(texts, embedder, key, cache, progress_on(console, "production"))
    return eval_x.astype(np.float64), prod_x.astype(np.float64)


def _far_clusters(
    novelty: stats.Novelty,
    prod_x: NDArray[np.float64],
    texts: Sequence[str],
    eval_texts: Sequence[str],
    options: DriftOptions,
) -> tuple[tuple[FarCluster, ...], NDArray[np.int64]]:
    """Clusters of far inputs big enough to report, and each input's group for the plot."""
    far = np.flatnonzero(novelty.far)
    groups = np.full(len(texts), -1, dtype=np.int64)
    groups[far] = -2
    smallest = options.smallest_cluster(len(texts))
    clusters: list[FarCluster] = []
    for members in stats.cluster_rows(prod_x[far], distance=options.cluster_distance):
        if len(members) < smallest:
            break
        rows = far[list(members)]
        groups[rows] = len(clusters)
        examples = tuple(dict.fromkeys(texts[i] for i in rows))[:3]
        clusters.append(
            FarCluster(
                size=len(rows),
                share=len(rows) / len(texts),
                examples=examples,
                nearest_eval=eval_texts[int(novelty.nearest[rows[0]])],
                distance=float(np.median(novelty.distances[rows])),
            )
        )
    return tuple(clusters), groups


def _project(
    eval_x: NDArray[np.float64], prod_x: NDArray[np.float64], groups: NDArray[np.int64]
) -> Projection:
    """Both samples on the first two principal components of the pooled embeddings."""
    pooled = np.vstack([eval_x, prod_x])
    centred = pooled - pooled.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ axes[:2].T
    return Projection(xy[: len(eval_x)], xy[len(eval_x) :], groups)
