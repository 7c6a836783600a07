from pathlib import Path

import numpy as np
import pytest

from stepladder.errors import ConfigError
from stepladder.predictors.router import Router, calibrate_router, operating_points
from stepladder.predictors.router.calibrate import NEVER
from stepladder.predictors.router.plots import calibration_html, calibration_png, pgr_png
from tests.predictors.router.sample import HashEmbeddings, sample


@pytest.fixture(scope="module")
def router() -> Router:
    ids, texts, correct = sample(200)
    return Router.train(texts, correct, "logistic", name="r", ids=ids, embedder=HashEmbeddings())


def test_picks_the_cheapest_point_whose_lower_bound_meets_the_target(router: Router) -> None:
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.02}, 0.9, bootstrap=400)
    chosen = record.chosen
    assert record.met and chosen.ratio_lower_bound >= 0.9
    assert record.best_tier == "frontier"
    cheaper = [p for p in record.curve if p.cost_usd_per_call < chosen.cost_usd_per_call]
    assert all(p.ratio_lower_bound < 0.9 for p in cheaper)
    assert 0.2 < chosen.shares["small"] < 0.8  # easy cases go to the small tier
    assert record.thresholds == {"small": chosen.threshold}
    assert chosen.cost_usd_per_call == pytest.approx(
        chosen.shares["small"] * 0.001 + chosen.shares["frontier"] * 0.02
    )
    assert chosen.ratio_lower_bound <= chosen.quality_ratio


def test_an_unreachable_target_sends_everything_to_the_last_tier(router: Router) -> None:
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.02}, 1.05, bootstrap=200)
    assert not record.met
    assert record.chosen.threshold == NEVER and record.chosen.shares["frontier"] == 1.0


def test_operating_points_hand_checked() -> None:
    p = np.array([[0.9, 1.0], [0.2, 1.0], [0.8, 1.0], [0.1, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    points, best = operating_points(p, y, ["s", "f"], np.array([1.0, 10.0]), bootstrap=100)
    assert best == 1
    half = [q for q in points if q.shares["s"] == 0.5]
    assert half and all(q.quality == 1.0 and q.ratio_lower_bound == 1.0 for q in half)
    assert points[0].shares["s"] == 1.0 and points[0].quality == 0.5
    assert points[-1].shares["f"] == 1.0


def test_missing_prices_are_refused(router: Router) -> None:
    with pytest.raises(ConfigError, match=r"no price for tier.*frontier.*--price"):
        calibrate_router(router, {"small": 0.001})


def test_curve_png_and_self_contained_html(router: Router, tmp_path: Path) -> None:
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.02}, 0.9, bootstrap=100)
    png = calibration_png(record, tmp_path / "c.png", "router r")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = calibration_html(record, "router <r>")
    assert "<svg" in html and "router &lt;r&gt;" in html
    assert "http" not in html.replace('http-equiv="Content-Security-Policy"', "")
    assert "<script" not in html
    figure = pgr_png({"a": {"x": ([0.0, 1.0], [0.0, 1.0])}}, tmp_path / "p.png")
    assert figure.stat().st_size > 1000
