from pathlib import Path

import numpy as np
import pytest

from stepladder.errors import ConfigError
from stepladder.predictors.router import (
    FitOptions,
    Router,
    calibrate_router,
    load_router,
    router_path,
    save_router,
    write_router_manifest,
)
from stepladder.predictors.router.fit import fit_router_model
from tests.predictors.router.sample import HashEmbeddings, sample

EMBEDDER = HashEmbeddings()


def train(kind: str = "logistic", **kwargs: object) -> Router:
    ids, texts, correct = sample()
    return Router.train(texts, correct, kind, name="r", ids=ids, embedder=EMBEDDER, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["logistic", "knn", "ensemble"])
def test_each_kind_learns_which_texts_the_small_tier_gets_right(kind: str) -> None:
    router = train(kind)
    p = router.predict(["weather sunny coffee music", "integral theorem proof lemma"])
    assert set(p) == {"small", "frontier"}
    assert p["small"][0] > 0.6 > 0.4 > p["small"][1]
    assert router.held_out is not None and router.held_out.probabilities.shape == (120, 2)
    held = router.held_out
    easy = np.array([i % 2 == 0 for i in range(120)])
    assert held.probabilities[easy, 0].mean() > held.probabilities[~easy, 0].mean() + 0.3
    assert router.manifest.model.kind == kind


def test_more_than_two_tiers_and_scores_in_0_1() -> None:
    ids, texts, correct = sample()
    tiers = {"small": correct["small"], "mid": (correct["small"] + 1) / 2, **correct}
    del tiers["frontier"]
    tiers["frontier"] = correct["frontier"]
    router = Router.train(texts, tiers, "knn", ids=ids, embedder=EMBEDDER)
    assert router.tiers == ["small", "mid", "frontier"]
    assert router.probabilities(["rain hello thanks"]).shape == (1, 3)


def test_hyper_parameters_are_chosen_inside_the_training_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.c_[(x[:, 0] > 0).astype(float), np.ones(60)]
    model = fit_router_model(x, np.zeros((60, 0)), y, "ensemble", FitOptions(select_by="gain"))
    assert any(key.startswith("k=") for key in model.selection)
    assert any(key.startswith("l2=") for key in model.selection)
    assert model.knn is not None and model.knn.k < 60


def test_bad_training_data_is_refused() -> None:
    _, texts, correct = sample()
    with pytest.raises(ConfigError, match="at least two tiers"):
        Router.train(texts, {"small": correct["small"]}, embedder=EMBEDDER)
    with pytest.raises(ConfigError, match=r"0/1 or scores in 0\.\.1"):
        Router.train(
            texts, {"small": correct["small"] * 3, "big": correct["frontier"]}, embedder=EMBEDDER
        )
    with pytest.raises(ConfigError, match="at least 10 examples"):
        Router.train(texts[:3], {t: c[:3] for t, c in correct.items()}, embedder=EMBEDDER)


def test_saved_versions_load_back_and_refuse_another_embedding_model(tmp_path: Path) -> None:
    router = train("ensemble")
    first = save_router(router, tmp_path)
    second = save_router(train("knn"), tmp_path)
    assert (first.name, second.name) == ("v1", "v2")
    assert router_path("r", tmp_path) == second
    assert router_path("r@v1", tmp_path) == first
    assert router_path("r", tmp_path, version=1) == first
    loaded = load_router(first, embedder=EMBEDDER)
    texts = ["weather rain", "tensor proof"]
    assert np.allclose(loaded.probabilities(texts), router.probabilities(texts))
    assert loaded.held_out is not None
    assert np.allclose(loaded.held_out.probabilities, router.held_out.probabilities)  # type: ignore[union-attr]

    class Other(HashEmbeddings):
        name = "other-model"

    with pytest.raises(
        ConfigError, match="trained with embedding model 'hash-words-64', not 'other-model'"
    ):
        load_router(first, embedder=Other())
    with pytest.raises(ConfigError, match=r"64-dimensional.*shape \(1, 384\)"):
        loaded.predict_vectors(np.zeros((1, 384)), np.zeros((1, 8)), ["x"])
    with pytest.raises(
        ConfigError, match=r"no router 'nope'.*Routers here: r.*stepladder router train nope"
    ):
        router_path("nope", tmp_path)


def test_routing_needs_a_calibration(tmp_path: Path) -> None:
    router = train()
    with pytest.raises(ConfigError, match="not calibrated: run `stepladder router calibrate r"):
        router.route(["hello"])
    folder = save_router(router, tmp_path)
    record = calibrate_router(router, {"small": 0.001, "frontier": 0.01}, 0.9)
    write_router_manifest(folder, router.manifest.model_copy(update={"calibration": record}))
    routed = load_router(folder, embedder=EMBEDDER).route(
        ["weather sunny coffee", "integral lemma proof"]
    )
    assert routed == ["small", "frontier"]
