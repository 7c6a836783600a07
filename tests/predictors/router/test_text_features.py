"""The router's cheap text features: counts of what makes a word problem hard."""

import numpy as np

from stepladder.predictors.router.features import TEXT_FEATURES, text_features


def feature(text: str, name: str) -> float:
    return float(text_features([text])[0, TEXT_FEATURES.index(name)])


def test_word_problems_with_more_quantities_score_higher() -> None:
    easy = "Tom has 3 apples. How many apples does Tom have?"
    hard = (
        "Tom earns $12.50 per hour and works 7 hours each day. He spends half of it and "
        "saves the rest for 3 weeks. How much does he save?"
    )
    for name in ("log_distinct_numbers", "log_decimals", "log_relation_words", "log_time_units"):
        assert feature(hard, name) > feature(easy, name), name
    assert feature("It costs 1,250,000 dollars.", "loglog_largest_number") > feature(
        "It costs 12 dollars.", "loglog_largest_number"
    )


def test_odd_numbers_give_finite_features() -> None:
    rows = text_features(["version 1.2.3 of the tool", "9" * 500, "", "no numbers here"])
    assert rows.shape == (4, len(TEXT_FEATURES))
    assert np.isfinite(rows).all()


def test_features_are_appended_after_the_first_eight() -> None:
    assert TEXT_FEATURES[:8] == (
        "log_chars", "log_words", "log_lines", "log_numbers", "log_number_chars",
        "digit_share", "math_share", "log_questions",
    )  # fmt: skip
