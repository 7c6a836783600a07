"""A router scored on a data file: RouteLLM's metrics and its calibrated operating point.

- APGR, CPT(50%), CPT(80%) (`stepladder.predictors.router.metrics.evaluate_router`) between
  the cheapest tier and the strongest one (the highest mean quality in the file), the score
  being P(strongest right) - P(cheapest right). Undefined (None) when the cheapest tier is
  also the strongest, or both have the same quality.
- At the calibrated thresholds (`Router.choose`): the routed mix's quality over the
  strongest tier's, each tier's share, and the mix's cost over always calling the strongest
  tier. Costs are the file's per-row `cost` when it has them, else the calibration's prices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.errors import UserError
from stepladder.optimize.router_file import RouterFile
from stepladder.predictors.router import Router
from stepladder.predictors.router.metrics import evaluate_router

__all__ = ["RouterEvaluation", "evaluate_on_file"]


@dataclass(frozen=True)
class RouterEvaluation:
    """How a router does on one data file.

    Attributes:
        router: The router, as NAME@vN.
        examples: Rows scored.
        tiers: The tiers, cheapest first.
        cheapest: The cheapest tier (the weak side of the metrics).
        strongest: The tier of the highest mean quality in the file.
        tier_quality: Each tier's mean quality.
        apgr: Average performance gap recovered (None when undefined).
        cpt50: Share of calls to the strongest tier needed for PGR 0.5.
        cpt80: The same for PGR 0.8.
        quality: The routed mix's mean quality at the calibrated thresholds.
        quality_ratio: `quality` / the strongest tier's quality.
        share: Share of rows routed to each tier.
        cost_usd_per_call: The mix's mean cost per call.
        strongest_cost_usd_per_call: Always calling the strongest tier: its mean cost.
        cost_ratio: `cost_usd_per_call` / `strongest_cost_usd_per_call` (None if that is 0).
        costs_from: `file` (the rows' `cost`) or `calibration` (its prices).
        seen_in_training: Rows whose id the router trained on (their scores are optimistic).
    """

    router: str
    examples: int
    tiers: list[str]
    cheapest: str
    strongest: str
    tier_quality: dict[str, float]
    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    quality: float
    quality_ratio: float | None
    share: dict[str, float]
    cost_usd_per_call: float
    strongest_cost_usd_per_call: float
    cost_ratio: float | None
    costs_from: str
    seen_in_training: int

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats rounded to 6 places)."""
        return {k: _rounded(v) for k, v in asdict(self).items()}


def evaluate_on_file(router: Router, data: RouterFile) -> RouterEvaluation:
    """Score `router` on `data` (the same tiers) at its calibrated thresholds.

    Raises:
        UserError: If the router is not calibrated or the file's tiers are not the router's.
    """
    manifest = router.manifest
    reference = f"{manifest.name}@v{manifest.version}"
    if manifest.calibration is None:
        raise UserError(
            f"router '{reference}' is not calibrated, so it has no operating point to score: "
            f"run `stepladder router calibrate {manifest.name} --target-quality 0.95` first."
        )
    tiers = router.tiers
    if set(data.tiers) != set(tiers):
        raise UserError(
            f"{data.path.name} has tiers {', '.join(data.tiers)}; router '{reference}' chooses "
            f"between {', '.join(tiers)}. Give a file whose `quality` names the router's tiers."
        )
    quality = np.stack([data.quality[t] for t in tiers], axis=1)
    probabilities = router.probabilities(data.texts)
    means = quality.mean(axis=0)
    strong = int(means.argmax())
    metrics = _metrics(probabilities, quality, strong)
    rows = np.arange(len(quality))
    choices = router.choose(probabilities)
    routed = float(quality[rows, choices].mean())
    costs, costs_from = _costs(router, data)
    mix_cost = float(costs[rows, choices].mean())
    strong_cost = float(costs[:, strong].mean())
    shares = np.bincount(choices, minlength=len(tiers)) / len(choices)
    held = router.held_out
    seen = set() if held is None else {str(i) for i in held.ids}
    return RouterEvaluation(
        router=reference,
        examples=len(data.ids),
        tiers=tiers,
        cheapest=tiers[0],
        strongest=tiers[strong],
        tier_quality={t: float(m) for t, m in zip(tiers, means, strict=True)},
        apgr=metrics[0],
        cpt50=metrics[1],
        cpt80=metrics[2],
        quality=routed,
        quality_ratio=routed / float(means[strong]) if means[strong] > 0 else None,
        share={t: float(s) for t, s in zip(tiers, shares, strict=True)},
        cost_usd_per_call=mix_cost,
        strongest_cost_usd_per_call=strong_cost,
        cost_ratio=mix_cost / strong_cost if strong_cost > 0 else None,
        costs_from=costs_from,
        seen_in_training=sum(i in seen for i in data.ids),
    )


def _metrics(
    probabilities: NDArray[np.float64], quality: NDArray[np.float64], strong: int
) -> tuple[float | None, float | None, float | None]:
    """APGR, CPT50 and CPT80 of the cheapest tier against the strongest (None: undefined)."""
    weak, best = quality[:, 0], quality[:, strong]
    if strong == 0 or weak.mean() == best.mean():
        return None, None, None
    scores = probabilities[:, strong] - probabilities[:, 0]
    result = evaluate_router(scores, weak, best)
    return result.apgr, result.cpt50, result.cpt80


def _costs(router: Router, data: RouterFile) -> tuple[NDArray[np.float64], str]:
    """Cost per row and tier: the file's, else the calibration's prices."""
    matrix = data.cost_matrix(router.tiers)
    if matrix is not None:
        return matrix, "file"
    calibration = router.manifest.calibration
    assert calibration is not None  # checked by the caller
    prices = np.array([calibration.prices.get(t, 0.0) for t in router.tiers])
    return np.tile(prices, (len(data.ids), 1)), "calibration"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
