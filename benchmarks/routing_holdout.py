"""Does a calibrated router keep its promise on prompts it never saw? (`routing.py` part.)

For each of `splits` seeded random 70/30 splits: train a cross-fitted router on the 70%
(5 fold models, folds by a hash of the prompt, as `stepladder router train` does), calibrate
it on its held-out predictions to `target` x the strong model's quality at 95% confidence
(as `stepladder router calibrate` does), then route the other 30% with it, each prompt
scored by the fold model its hash names. The split *holds* when the routed quality on the
30% is at least `target` x the strong model's quality there; the share sent to the weak
tier on the 30% is compared with the share the calibration promised.

Two bounds are tried on each split: `population` (the default of `router calibrate`: 95%
confidence that the ratio over all future traffic meets the target) and `batch` (`--horizon`
set to the 30%'s size: a prediction bound for the ratio measured on a batch that size, which
is what the 30% is). Only the second is a promise about the measured 30%: the first is
expected to hold on it in about 4 splits of 5 (the 30%'s own noise is not covered).

Sampling noise alone moves the weak share of n test prompts by sqrt(s(1 - s) / n) (about
0.7 points on MMLU's 4,211 and 2.3 on GSM8K's 393 at s = 0.35), and the calibration's own
share by sqrt(s(1 - s) / m) on its m rows; `share_noise_sd` reports both together, and
`within_3_points_expected` the number of splits a router whose only error is that noise
would keep within 3 points (`within_3_points_all_chance`: the chance it keeps all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from stepladder.predictors.router.calibrate import choose_point, operating_points
from stepladder.predictors.router.crossfit import fit_cross_fitted, hash_folds
from stepladder.predictors.router.fit import FitOptions, Kind
from stepladder.predictors.router.router import choose_tiers
from stepladder.progress import progress_bar

FOLDS = 5
TRAIN_SHARE = 0.7


class Data(Protocol):
    """What a split needs: the prompts, their features and both models' correctness."""

    name: str
    texts: list[str]
    vectors: NDArray[np.float32]
    features: NDArray[np.float64]
    words: Any

    @property
    def targets(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Split:
    """One 70/30 split's outcome.

    Attributes:
        seed: The split's seed.
        ratio: Routed quality on the 30% over the strong model's quality there.
        held: Whether `ratio` is at least the target.
        calibrated_share: Share of the 70% (held-out predictions) sent to the weak tier.
        test_share: Share of the 30% sent to the weak tier.
        met_on_calibration: Whether a point met the target's lower bound on the 70%.
    """

    seed: int
    ratio: float
    held: bool
    calibrated_share: float
    test_share: float
    met_on_calibration: bool

    @property
    def share_gap(self) -> float:
        """Test share minus calibrated share (points of 1)."""
        return self.test_share - self.calibrated_share


def run_split(
    data: Data, seed: int, kind: Kind, prices: NDArray[np.float64], target: float
) -> dict[str, Split]:
    """Train on a seeded 70%, calibrate (both bounds), route the 30%."""
    n = len(data.texts)
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: int(TRAIN_SHARE * n)], order[int(TRAIN_SHARE * n) :]
    texts_train = [data.texts[i] for i in train]
    targets = data.targets
    model, held_out = fit_cross_fitted(
        (data.vectors[train], data.features[train], data.words[train]),
        targets[train], kind, FitOptions(select_by="gain"),
        hash_folds(texts_train, FOLDS), FOLDS,
    )  # fmt: skip
    folds = model.folds_of([data.texts[i] for i in test])
    probabilities = model.predict(data.vectors[test], data.features[test], folds, data.words[test])
    out = {}
    for bound, horizon in (("population", None), ("batch", len(test))):
        curve, best = operating_points(
            held_out, targets[train], ["weak", "strong"], prices, 1000, 200, seed, horizon
        )
        point, met = choose_point(curve, target)
        choices = choose_tiers(probabilities, [point.threshold])
        routed = targets[test][np.arange(len(test)), choices]
        ratio = float(routed.mean() / max(targets[test][:, best].mean(), 1e-12))
        out[bound] = Split(
            seed, ratio, ratio >= target, float(point.shares["weak"]),
            float((choices == 0).mean()), met,
        )  # fmt: skip
    return out


def holdout(
    data: Data,
    splits: int,
    kind: Kind,
    prices: NDArray[np.float64],
    target: float = 0.95,
    console: Any = None,
) -> dict[str, float]:
    """Run `splits` splits; summary numbers keyed by data set and bound."""
    runs = []
    with progress_bar(console=console) as bar:
        task = bar.add_task(f"{data.name}: {splits} 70/30 splits", total=splits)
        for seed in range(splits):
            runs.append(run_split(data, seed, kind, prices, target))
            bar.advance(task)
    out: dict[str, float] = {}
    for bound in ("population", "batch"):
        out |= summary(data, [r[bound] for r in runs], f"{data.name}_holdout_{bound}")
    return out


def summary(data: Data, results: list[Split], key: str) -> dict[str, float]:
    """Hold rate, quality ratios and share gaps of a bound's splits."""
    gaps = np.array([abs(r.share_gap) for r in results])
    share = float(np.mean([r.calibrated_share for r in results]))
    n = len(data.texts)
    noise = np.sqrt(share * (1 - share) * (1 / (n - int(TRAIN_SHARE * n)) + 1 / (TRAIN_SHARE * n)))
    within = math.erf(0.03 / (float(noise) * math.sqrt(2))) if noise > 0 else 1.0
    return {
        f"{key}_splits": len(results),
        f"{key}_held": sum(r.held for r in results),
        f"{key}_ratio_min": round(min(r.ratio for r in results), 4),
        f"{key}_ratio_median": round(float(np.median([r.ratio for r in results])), 4),
        f"{key}_weak_share_median": round(float(np.median([r.test_share for r in results])), 4),
        f"{key}_share_gap_max": round(float(gaps.max()), 4),
        f"{key}_share_gap_median": round(float(np.median(gaps)), 4),
        f"{key}_within_3_points": int((gaps <= 0.03).sum()),
        f"{key}_share_noise_sd": round(float(noise), 4),
        f"{key}_within_3_points_expected": round(within * len(results), 1),
        f"{key}_within_3_points_all_chance": round(within ** len(results), 4),
    }
