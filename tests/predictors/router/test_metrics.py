import numpy as np
import pytest

from stepladder.predictors.router.metrics import (
    apgr,
    cost_saving,
    cpt,
    evaluate_router,
    full_curve,
    pgr,
    routellm_curve,
)


def test_hand_computed_small_case() -> None:
    weak = np.array([1.0, 0.0, 0.0, 1.0])
    strong = np.array([1.0, 1.0, 1.0, 1.0])
    scores = np.array([0.1, 0.9, 0.5, 0.2])
    curve = routellm_curve(scores, weak, strong, points=4)
    # edges: quantiles 0, .25, .5, .75, 1 of the scores = 0.1, 0.175, 0.35, 0.6, 0.9
    assert curve.shares.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.qualities.tolist() == [0.5, 0.75, 1.0, 1.0, 1.0]
    # PGR: 0, .5, 1, 1, 1 at shares 0, .25, .5, .75, 1 -> trapezoids .0625+.1875+.25+.25
    assert apgr(curve, 0.5, 1.0) == pytest.approx(0.75)
    assert cpt(curve, 0.5, 0.5, 1.0) == pytest.approx(0.25)
    assert cpt(curve, 0.8, 0.5, 1.0) == pytest.approx(0.25 + 0.3 / 0.5 * 0.25)
    assert pgr(0.75, 0.5, 1.0) == pytest.approx(0.5)


def test_oracle_beats_random_and_random_is_near_half() -> None:
    rng = np.random.default_rng(0)
    weak = (rng.random(4000) < 0.6).astype(float)
    strong = np.maximum(weak, (rng.random(4000) < 0.7).astype(float))
    oracle = evaluate_router(strong - weak + rng.random(4000) * 1e-6, weak, strong)
    randoms = [evaluate_router(rng.random(4000), weak, strong).apgr for _ in range(10)]
    assert np.mean(randoms) == pytest.approx(0.5, abs=0.02)
    share_gain = float(np.mean(strong > weak))
    # the oracle recovers the whole gap once it has called the strong model on every gain
    assert oracle.cpt80 == pytest.approx(0.8 * share_gain, abs=0.02)
    # PGR rises linearly to 1 at share_gain, then stays: area 1 - share_gain / 2
    assert oracle.apgr == pytest.approx(1 - share_gain / 2, abs=0.02)


def test_ties_move_together_and_the_last_edge_routes_nothing() -> None:
    curve = routellm_curve([1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0])
    assert curve.shares.min() == 0.0 and curve.shares.max() == 1.0
    assert set(curve.shares.tolist()) == {0.0, 1.0}


def test_full_curve_and_cost_saving() -> None:
    weak = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    strong = np.ones(5)
    scores = np.array([0.0, 1.0, 0.1, 0.9, 0.2])
    curve = full_curve(scores, weak, strong)
    assert curve.shares.tolist() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert curve.qualities.tolist() == pytest.approx([0.6, 0.8, 1.0, 1.0, 1.0, 1.0])
    saving = cost_saving(scores, weak, strong, weak_price=0.001, strong_price=0.01, target=0.95)
    assert saving.share == pytest.approx(0.4)
    assert saving.cost_per_call == pytest.approx(0.4 * 0.01 + 0.6 * 0.001)
    assert saving.ratio == pytest.approx(0.01 / 0.0046)
    assert saving.saved == pytest.approx(1 - 0.46)


def test_equal_models_have_no_pgr() -> None:
    with pytest.raises(ValueError, match="same quality"):
        pgr(0.5, 0.5, 0.5)
