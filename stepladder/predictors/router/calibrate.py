"""Calibrating a router: the cheapest thresholds whose routed quality meets a target.

Calibration uses the router's held-out predictions (5-fold cross-fitting by a hash of the
case ids, made when it was trained), never predictions on a model's own training cases.

Rule (`shared-threshold`): each input goes to the cheapest tier whose predicted P(right) is
at least the threshold, else to the last (most capable) tier. One threshold is shared by all
tiers but the last; with two tiers that is the usual single threshold. Candidate thresholds
are the quantiles of the held-out probabilities (up to `points`), plus 2.0, which sends
everything to the last tier.

For each threshold: the routed mix's quality, its ratio to the best single tier's quality,
a one-sided 95% lower confidence bound of that ratio (paired bootstrap over cases: the mix
and the best tier are resampled together), and the mean price per call. The chosen point
is the cheapest whose lower bound is at least the target.

The bound is for the ratio on all future traffic (the population). With a `horizon` of N
requests it is a prediction bound for the ratio measured on a batch of N future requests
instead: each bootstrap resample of the cases is followed by a draw of N requests from it,
so the bound also covers how much a batch of N varies (smaller batches, lower bounds). A
team that checks quality on each day's N requests wants that one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from stepladder.errors import ConfigError
from stepladder.predictors.manifest import created_now
from stepladder.predictors.router.manifest import CalibrationRecord, OperatingPoint
from stepladder.predictors.router.router import Router, choose_tiers

__all__ = ["NEVER", "calibrate_router", "choose_point", "operating_points"]

NEVER = 2.0
CHUNK = 100


def calibrate_router(
    router: Router,
    prices: Mapping[str, float],
    target_quality: float = 0.95,
    *,
    bootstrap: int = 1000,
    points: int = 200,
    seed: int = 0,
    horizon: int | None = None,
) -> CalibrationRecord:
    """Choose thresholds for `router` on its held-out predictions.

    `horizon`: the bound covers each batch of that many future requests (None: all traffic).

    Raises:
        ConfigError: If the router has no held-out predictions, or a tier has no price.
    """
    held = router.held_out
    if held is None:
        raise ConfigError(
            f"router '{router.manifest.name}' has no held-out predictions to calibrate on; "
            "retrain it with `stepladder router train`."
        )
    missing = [t for t in router.tiers if t not in prices]
    if missing:
        raise ConfigError(
            f"no price for tier(s) {', '.join(missing)}: pass --price TIER=USD_PER_CALL."
        )
    price = np.array([float(prices[t]) for t in router.tiers])
    curve, best = operating_points(
        held.probabilities, held.targets, router.tiers, price, bootstrap, points, seed, horizon
    )
    chosen, met = choose_point(curve, target_quality)
    return CalibrationRecord(
        created=created_now(),
        target_quality=target_quality,
        met=met,
        thresholds={t: chosen.threshold for t in router.tiers[:-1]},
        chosen=chosen,
        prices={t: float(p) for t, p in zip(router.tiers, price, strict=True)},
        best_tier=router.tiers[best],
        held_out_examples=len(held.targets),
        bootstrap=bootstrap,
        horizon=horizon,
        tier_quality={
            t: float(q) for t, q in zip(router.tiers, held.targets.mean(axis=0), strict=True)
        },
        curve=curve,
    )


def choose_point(curve: list[OperatingPoint], target_quality: float) -> tuple[OperatingPoint, bool]:
    """The cheapest point whose lower bound meets the target (else the costliest), and if met."""
    meeting = [p for p in curve if p.ratio_lower_bound >= target_quality]
    if not meeting:
        return curve[-1], False
    return min(meeting, key=lambda p: (p.cost_usd_per_call, -p.quality)), True


def operating_points(
    probabilities: NDArray[np.float64],
    targets: NDArray[np.float64],
    tiers: list[str],
    prices: NDArray[np.float64],
    bootstrap: int = 1000,
    points: int = 200,
    seed: int = 0,
    horizon: int | None = None,
) -> tuple[list[OperatingPoint], int]:
    """Every candidate threshold's operating point (by rising cost), and the best tier."""
    candidates = np.unique(np.quantile(probabilities[:, :-1], np.linspace(0, 1, points + 1)))
    thresholds = np.r_[candidates, NEVER]
    n = len(targets)
    choices = np.stack(
        [choose_tiers(probabilities, np.full(len(tiers), t)) for t in thresholds], axis=1
    )
    routed = np.take_along_axis(targets, choices, axis=1)
    best = int(targets.mean(axis=0).argmax())
    lower = _lower_bounds(routed, targets[:, best], bootstrap, seed, horizon)
    best_quality = float(targets[:, best].mean()) or 1.0
    out = []
    for j, threshold in enumerate(thresholds):
        shares = np.bincount(choices[:, j], minlength=len(tiers)) / n
        quality = float(routed[:, j].mean())
        out.append(
            OperatingPoint(
                threshold=float(threshold),
                shares={t: round(float(s), 6) for t, s in zip(tiers, shares, strict=True)},
                quality=quality,
                quality_ratio=quality / best_quality,
                ratio_lower_bound=float(lower[j]),
                cost_usd_per_call=float(shares @ prices),
            )
        )
    return sorted(out, key=lambda p: (p.cost_usd_per_call, p.threshold)), best


def _lower_bounds(
    routed: NDArray[np.float64],
    best: NDArray[np.float64],
    bootstrap: int,
    seed: int,
    horizon: int | None = None,
) -> NDArray[np.float64]:
    """One-sided 95% lower bound of mean(routed[:, j]) / mean(best), paired bootstrap.

    With a `horizon`, each resample is followed by a draw of `horizon` cases from it (a
    prediction bound for a batch of that size).
    """
    rng = np.random.default_rng(seed)
    n = len(best)
    ratios = []
    for start in range(0, bootstrap, CHUNK):
        size = min(CHUNK, bootstrap - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size)
        if horizon is not None:
            counts = rng.multinomial(horizon, counts / n)
        counts = counts.astype(np.float64)
        denominator = np.maximum(counts @ best, 1e-12)
        ratios.append((counts @ routed) / denominator[:, None])
    return np.asarray(np.quantile(np.concatenate(ratios), 0.05, axis=0))
