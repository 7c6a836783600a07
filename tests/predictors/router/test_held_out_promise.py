"""The calibrated promise on texts the router never saw (synthetic data, hash embeddings)."""

import numpy as np
import pytest

from stepladder.predictors.router import Router, calibrate_router
from stepladder.predictors.router.calibrate import operating_points
from stepladder.predictors.router.crossfit import fit_cross_fitted, hash_folds
from stepladder.predictors.router.fit import FitOptions
from stepladder.predictors.router.plots import calibration_html, calibration_png, tier_points
from tests.predictors.router.sample import HashEmbeddings, sample

PRICES = {"small": 0.001, "frontier": 0.02}


def calibrated(router: Router, target: float, **kwargs: object) -> Router:
    record = calibrate_router(router, PRICES, target, bootstrap=300, **kwargs)  # type: ignore[arg-type]
    manifest = router.manifest.model_copy(update={"calibration": record})
    return Router(manifest, router.model, router.held_out, router.embedder)


def test_new_texts_are_routed_in_the_calibrated_shares() -> None:
    ids, texts, correct = sample(400, seed=0)
    router = calibrated(
        Router.train(texts, correct, "logistic", ids=ids, embedder=HashEmbeddings()), 0.9
    )
    record = router.manifest.calibration
    assert record is not None and record.met
    _, new_texts, new_correct = sample(2000, seed=1)
    routed = np.array(router.route(new_texts))
    share = float((routed == "small").mean())
    assert share == pytest.approx(record.chosen.shares["small"], abs=0.05)
    quality = np.where(routed == "small", new_correct["small"], new_correct["frontier"]).mean()
    assert quality / new_correct["frontier"].mean() >= 0.9


def test_copies_of_a_text_share_a_fold_and_its_routing_model() -> None:
    ids, texts, correct = sample(200, seed=0)
    router = Router.train(texts, correct, "knn", ids=ids, embedder=HashEmbeddings())
    rows = router.model.rows
    for text in set(texts):
        assert len({int(rows[i]) for i, t in enumerate(texts) if t == text}) == 1
    first = texts.index(texts[0])
    assert router.model.folds_of([texts[0]])[0] == rows[first]


def test_a_batch_bound_is_below_the_population_bound() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((300, 2))
    y = (rng.random((300, 2)) < p).astype(float)
    prices = np.array([1.0, 10.0])
    everyone, _ = operating_points(p, y, ["s", "f"], prices, bootstrap=400)
    batch, _ = operating_points(p, y, ["s", "f"], prices, bootstrap=400, horizon=100)
    mixed = [(a, b) for a, b in zip(everyone, batch, strict=True) if 0.2 < a.shares["s"] < 0.8]
    assert mixed and all(b.ratio_lower_bound < a.ratio_lower_bound for a, b in mixed)
    assert all(a.quality == b.quality for a, b in zip(everyone, batch, strict=True))


def three_tiers(n: int = 300) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    ids, texts, correct = sample(n, seed=2)
    hard = np.array([i % 2 == 1 for i in range(n)])
    rng = np.random.default_rng(3)
    mid = np.where(hard, rng.random(n) < 0.6, rng.random(n) < 0.95).astype(float)
    return ids, texts, {"small": correct["small"], "mid": mid, "frontier": correct["frontier"]}


def test_three_tiers_each_request_goes_to_the_cheapest_tier_predicted_to_meet_the_target(
    tmp_path,
) -> None:
    ids, texts, correct = three_tiers()
    router = Router.train(texts, correct, "logistic", ids=ids, embedder=HashEmbeddings())
    prices = {"small": 0.001, "mid": 0.004, "frontier": 0.02}
    record = calibrate_router(router, prices, 0.9, bootstrap=300)
    assert record.met and set(record.thresholds) == {"small", "mid"}
    threshold = record.chosen.threshold
    held = router.held_out
    assert held is not None
    p = held.probabilities
    expected = np.where(p[:, 0] >= threshold, 0, np.where(p[:, 1] >= threshold, 1, 2))
    shares = np.bincount(expected, minlength=3) / len(expected)
    assert [record.chosen.shares[t] for t in router.tiers] == pytest.approx(shares, abs=1e-6)
    assert record.chosen.cost_usd_per_call < prices["frontier"]
    points = tier_points(record)
    assert [t for t, _, _ in points] == ["small", "mid", "frontier"]
    assert dict((t, c) for t, c, _ in points) == prices
    assert dict((t, r) for t, _, r in points)["frontier"] == pytest.approx(1.0)
    png = calibration_png(record, tmp_path / "c.png", "three tiers")
    assert png.read_bytes()[:4] == b"\x89PNG"
    html = calibration_html(record, "three tiers")
    assert html.count("alone</title></rect>") == 3 and ">mid</text>" in html


def test_above_the_select_limit_choices_use_a_subset_and_fold_models_all_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.c_[(x[:, 0] > 0).astype(float), np.ones(120)]
    rows = hash_folds([f"t{i}" for i in range(120)], 5)
    options = FitOptions(select_by="gain", select_limit=50)
    model, held = fit_cross_fitted((x, np.zeros((120, 0)), None), y, "knn", options, rows, 5)
    readers = [m.knn for m in model.models if m.knn is not None]
    assert all(knn.vectors is readers[0].vectors for knn in readers)  # one shared array
    assert sum(int(knn.allowed.sum()) for knn in readers if knn.allowed is not None) == 4 * 120
    assert held.shape == (120, 2)
    easy = x[:, 0] > 0
    assert held[easy, 0].mean() > held[~easy, 0].mean() + 0.2
