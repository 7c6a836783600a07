"""The router's TF-IDF word model, alone and inside an ensemble that is saved and loaded."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from stepladder.errors import ConfigError
from stepladder.predictors.router import FitOptions, Router, load_router, save_router
from stepladder.predictors.router.fit import fit_router_model
from stepladder.predictors.router.lexical import HASH_FEATURES, fit_lexical, word_counts
from tests.predictors.router.sample import HashEmbeddings

TOPICS = ["history", "biology", "law", "physics", "economics", "music"]


def except_questions(n: int = 200, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Questions on mixed topics; the small tier misses those that ask for the exception."""
    rng = random.Random(seed)
    texts, small = [], []
    for i in range(n):
        tricky = i % 2 == 1
        topic = rng.choice(TOPICS)
        cue = "all of the following EXCEPT" if tricky else "which of the following"
        texts.append(f"In {topic}, {cue} is true of {rng.choice(TOPICS)}?")
        small.append(float(rng.random() < (0.15 if tricky else 0.9)))
    return texts, np.array(small)


def test_word_counts_are_hashed_sublinear_words_and_pairs() -> None:
    counts = word_counts(["late late late delivery", ""])
    assert counts.shape == (2, HASH_FEATURES)
    assert counts[1].nnz == 0
    # 'late', 'delivery', 'late late', 'late delivery': four features, 'late' counted 3 times
    assert counts[0].nnz == 4
    assert np.isclose(counts[0].data.max(), 1 + np.log(3))


def test_the_word_model_learns_a_cue_the_topic_does_not_show() -> None:
    texts, small = except_questions()
    targets = np.c_[small, np.ones_like(small)]
    model = fit_lexical(word_counts(texts), targets, c=3.0)
    probe = [
        "In law, all of the following EXCEPT is true of music?",
        "In law, which of the following is true of music?",
    ]
    p = model.predict(word_counts(probe))
    assert p[0, 0] < 0.4 < 0.7 < p[1, 0]
    assert np.allclose(p[:, 1], p[0, 1])  # a constant tier gets its prior everywhere


def test_scores_between_0_and_1_are_fitted_as_weighted_rows() -> None:
    texts, small = except_questions()
    scores = np.c_[small * 0.8 + 0.1, 0.5 + 0.0 * small]
    model = fit_lexical(word_counts(texts), scores, c=3.0)
    p = model.predict(word_counts(texts))
    assert p[1::2, 0].mean() < p[0::2, 0].mean() - 0.3


def word_order_questions(n: int = 200, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The same words in two orders: a bag of words (the test embedding) cannot tell them apart."""
    rng = random.Random(seed)
    texts, small = [], []
    for i in range(n):
        tricky = i % 2 == 1
        topic = rng.choice(TOPICS)
        cue = "none true except all" if tricky else "all true except none"
        texts.append(f"{topic} {cue} item{i}")  # distinct texts: copies share a fold
        small.append(float(rng.random() < (0.15 if tricky else 0.9)))
    return texts, np.array(small)


def test_an_ensemble_weighs_in_the_words_and_round_trips(tmp_path: Path) -> None:
    texts, small = word_order_questions()
    ids = [f"q{i}" for i in range(len(texts))]
    correct = {"small": small, "frontier": np.ones_like(small)}
    options = FitOptions(select_by="gain")
    router = Router.train(
        texts, correct, "ensemble", name="cue", ids=ids, embedder=HashEmbeddings(), options=options
    )
    info = router.manifest.model
    assert info.lexical_weight > 0 and info.lexical_c in options.c_grid
    assert any(key.startswith("lexical_c=") for key in info.selection)
    held = router.held_out
    assert held is not None
    tricky = np.arange(len(texts)) % 2 == 1
    assert held.probabilities[tricky, 0].mean() < held.probabilities[~tricky, 0].mean() - 0.1
    loaded = load_router(save_router(router, tmp_path), embedder=HashEmbeddings())
    assert loaded.model.chosen.lexical is not None
    probe = ["law none true except all", "law all true except none"]
    p = loaded.probabilities(probe)
    assert np.allclose(p, router.probabilities(probe))
    assert p[0, 0] < p[1, 0] - 0.1  # each probe scored by its own fold model
    vectors = np.asarray(HashEmbeddings().embed(probe), dtype=np.float32)
    with pytest.raises(ConfigError, match="also reads the texts' words"):
        loaded.predict_vectors(vectors, np.zeros((1, 8)), probe[:1])


def test_without_words_or_with_lexical_off_an_ensemble_is_embeddings_only() -> None:
    texts, small = except_questions(60)
    vectors = np.asarray(HashEmbeddings().embed(texts), dtype=np.float32)
    targets = np.c_[small, np.ones_like(small)]
    features = np.zeros((len(texts), 0))
    plain = fit_router_model(vectors, features, targets, "ensemble", FitOptions())
    assert plain.lexical is None and plain.lexical_weight == 0
    off = fit_router_model(
        vectors, features, targets, "ensemble", FitOptions(lexical=False), word_counts(texts)
    )
    assert off.lexical is None
    assert not any(key.startswith("lexical_c=") for key in off.selection)
