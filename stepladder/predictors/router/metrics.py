"""RouteLLM's router metrics: PGR, APGR, CPT(x%) and the cost saving at a quality target.

A two-model router gives each prompt a score (higher: more worth the strong model); a
threshold sends the prompts scoring at or above it to the strong model. `weak` and `strong`
hold each prompt's recorded quality under either model (0/1 correctness, or a judge score),
so the quality of any mix is read off them without calling a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CostSaving",
    "RouterMetrics",
    "RoutingCurve",
    "apgr",
    "cost_saving",
    "cpt",
    "evaluate_router",
    "full_curve",
    "pgr",
    "routellm_curve",
]

Floats = NDArray[np.floating[Any]]


@dataclass(frozen=True)
class RoutingCurve:
    """Operating points of a router, sorted by the share of strong-model calls.

    Attributes:
        shares: Share of prompts sent to the strong model at each point (0..1, ascending).
        qualities: Mean quality of the routed mix at each point.
        thresholds: The score threshold of each point (`inf`: nothing goes to the strong model).
    """

    shares: Floats
    qualities: Floats
    thresholds: Floats


def pgr(quality: float | Floats, weak_quality: float, strong_quality: float) -> Any:
    """Performance gap recovered: (quality - weak) / (strong - weak)."""
    gap = strong_quality - weak_quality
    if gap == 0:
        raise ValueError("the two models have the same quality: PGR is undefined")
    return (np.asarray(quality, dtype=np.float64) - weak_quality) / gap


def _arrays(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> tuple[Floats, ...]:
    s, w, t = (np.asarray(a, dtype=np.float64) for a in (scores, weak, strong))
    if not (s.shape == w.shape == t.shape) or s.ndim != 1 or not len(s):
        raise ValueError(f"scores, weak and strong must be equal-length 1-d arrays: {s.shape}")
    return s, w, t


def _curve(scores: Floats, weak: Floats, strong: Floats, edges: Sequence[float]) -> RoutingCurve:
    shares, qualities, thresholds = [], [], []
    for i, edge in enumerate(edges):
        chosen = scores > edge if i == len(edges) - 1 else scores >= edge
        shares.append(chosen.mean())
        qualities.append(np.where(chosen, strong, weak).mean())
        thresholds.append(np.nextafter(edge, np.inf) if i == len(edges) - 1 else edge)
    order = np.argsort(np.asarray(shares), kind="stable")
    return RoutingCurve(
        np.asarray(shares)[order], np.asarray(qualities)[order], np.asarray(thresholds)[order]
    )


def routellm_curve(
    scores: ArrayLike, weak: ArrayLike, strong: ArrayLike, points: int = 10
) -> RoutingCurve:
    """RouteLLM's sweep: thresholds at the `points`-quantile bin edges of the scores.

    As `routellm/evals/benchmarks.py` does with `pd.qcut(scores, 10, retbins=True)`: the
    thresholds are the 11 edges (the 0%, 10%, ..., 100% quantiles, linearly interpolated);
    at each edge the prompts scoring `>=` it go to the strong model, except at the last edge
    (the maximum), where `>` is used so that no prompt does. Tied scores move together, so
    shares can repeat (a duplicated edge gives a duplicated point).
    """
    s, w, t = _arrays(scores, weak, strong)
    edges = np.quantile(s, np.linspace(0.0, 1.0, points + 1))
    return _curve(s, w, t, edges.tolist())


def full_curve(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> RoutingCurve:
    """Every operating point: one threshold per distinct score, plus "no strong call"."""
    s, w, t = _arrays(scores, weak, strong)
    order = np.argsort(-s, kind="stable")
    gains = (t - w)[order]
    distinct = np.r_[s[order][1:] != s[order][:-1], True]
    cumulative = np.cumsum(gains)[distinct]
    counts = np.arange(1, len(s) + 1)[distinct]
    shares = np.r_[0.0, counts / len(s)]
    qualities = w.mean() + np.r_[0.0, cumulative] / len(s)
    thresholds = np.r_[np.inf, s[order][distinct]]
    return RoutingCurve(shares, qualities, thresholds)


def apgr(curve: RoutingCurve, weak_quality: float, strong_quality: float) -> float:
    """Average PGR: RouteLLM's area under quality against the share of strong calls.

    As `routellm/evals/evaluate.py` computes it: the trapezoid area under quality against
    share (sorted by share), minus the same area for a constant weak quality, divided by
    the strong-minus-weak area. Over shares spanning 0..1 that is the trapezoid area under
    PGR against the share of strong-model calls.
    """
    span = float(np.trapezoid(np.ones_like(curve.shares), curve.shares))
    area = float(np.trapezoid(curve.qualities, curve.shares))
    return (area - weak_quality * span) / ((strong_quality - weak_quality) * span)


def cpt(
    curve: RoutingCurve, target_pgr: float, weak_quality: float, strong_quality: float
) -> float:
    """CPT(x): the smallest share of strong calls at which PGR reaches `target_pgr`.

    Linear interpolation between the two operating points around the first crossing (on a
    curve whose quality rises with the share this is RouteLLM's `np.interp`). 1.0 when the
    curve never reaches the target.
    """
    target = weak_quality + target_pgr * (strong_quality - weak_quality)
    q, s = curve.qualities, curve.shares
    reached = np.flatnonzero(q >= target)
    if not len(reached):
        return 1.0
    i = int(reached[0])
    if i == 0 or q[i] == q[i - 1]:
        return float(s[i])
    return float(s[i - 1] + (target - q[i - 1]) / (q[i] - q[i - 1]) * (s[i] - s[i - 1]))


@dataclass(frozen=True)
class CostSaving:
    """The cheapest operating point keeping a share of the strong model's quality.

    Attributes:
        target: The quality kept, as a share of the strong model's (0.95).
        share: Share of calls that go to the strong model there.
        quality: The mix's quality there.
        cost_per_call: The mix's mean price per call.
        strong_cost_per_call: The strong model's price per call.
        ratio: How many times cheaper than always calling the strong model.
        saved: The share of the strong model's cost saved (1 - cost / strong cost).
    """

    target: float
    share: float
    quality: float
    cost_per_call: float
    strong_cost_per_call: float
    ratio: float
    saved: float


def cost_saving(
    scores: ArrayLike,
    weak: ArrayLike,
    strong: ArrayLike,
    weak_price: float,
    strong_price: float,
    target: float = 0.95,
) -> CostSaving:
    """The cost saving at `target` x the strong model's quality, over every threshold.

    Every operating point of `full_curve` is a candidate (real thresholds, no
    interpolation); the one with the fewest strong calls whose mix quality is at least
    `target` times the strong model's mean quality is chosen (the strong model alone
    qualifies, so there always is one).
    """
    curve = full_curve(scores, weak, strong)
    goal = target * float(np.mean(np.asarray(strong, dtype=np.float64)))
    ok = np.flatnonzero(curve.qualities >= goal - 1e-12)
    i = int(ok[0]) if len(ok) else len(curve.shares) - 1
    share = float(curve.shares[i])
    cost = share * strong_price + (1.0 - share) * weak_price
    ratio = strong_price / cost if cost > 0 else float("inf")
    return CostSaving(
        target, share, float(curve.qualities[i]), cost, strong_price, ratio,
        1.0 - cost / strong_price if strong_price > 0 else 0.0,
    )  # fmt: skip


@dataclass(frozen=True)
class RouterMetrics:
    """A router's RouteLLM metrics on one data set.

    Attributes:
        apgr: Average PGR over RouteLLM's 10 quantile thresholds.
        cpt50: CPT(50%): strong-call share needed for PGR 0.5.
        cpt80: CPT(80%).
        weak_quality: The weak model's mean quality.
        strong_quality: The strong model's mean quality.
        curve: RouteLLM's operating points.
    """

    apgr: float
    cpt50: float
    cpt80: float
    weak_quality: float
    strong_quality: float
    curve: RoutingCurve


def evaluate_router(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> RouterMetrics:
    """APGR, CPT(50%) and CPT(80%) as RouteLLM computes them (10 quantile thresholds)."""
    curve = routellm_curve(scores, weak, strong)
    w = float(np.mean(np.asarray(weak, dtype=np.float64)))
    t = float(np.mean(np.asarray(strong, dtype=np.float64)))
    return RouterMetrics(
        apgr(curve, w, t), cpt(curve, 0.5, w, t), cpt(curve, 0.8, w, t), w, t, curve
    )
