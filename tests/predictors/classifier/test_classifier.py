"""Embedding classifiers: training on real intents, artifacts, out-of-scope fallback, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stepladder.errors import ConfigError
from stepladder.predictors.classifier.data import (
    LabelledTexts,
    read_examples,
    read_texts,
    split_validation,
)
from stepladder.predictors.classifier.fit import (
    balanced_threshold,
    fit_kernel_ridge,
    fit_platt,
    rejection_threshold,
)
from stepladder.predictors.classifier.model import (
    classifier_path,
    load_classifier,
    read_manifest,
    save_classifier,
)
from stepladder.predictors.classifier.train import TrainOptions, train_classifier
from tests.conftest import write_project
from tests.retrieval.intents_sample import (
    INTENTS,
    UNRELATED,
    embedder,
    sample,
    trained,
    write_jsonl,
)


def test_trains_on_real_intents_and_round_trips(tmp_path: Path) -> None:
    report, _ = trained()
    classifier = report.classifier
    assert classifier.labels == sorted(INTENTS)
    assert report.metrics["validation_examples"] == 20  # 10% of each intent held out
    assert report.metrics["accuracy_without_rejection"] >= 0.8  # type: ignore[operator]

    folder = save_classifier(classifier, tmp_path / ".stepladder")
    assert folder == tmp_path / ".stepladder" / "classifiers" / "banking" / "v1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == 1
    assert manifest["embedding"]["name"] == "all-MiniLM-L6-v2"
    assert manifest["embedding"]["dimension"] == 384
    assert manifest["threshold"]["rule"] == "max-rejection"
    assert manifest["threshold"]["on"] == "similarity"
    assert manifest["training"]["refit"] is True
    assert manifest["training"]["examples"] == 200  # refitted on every example
    assert manifest["created"].endswith("+00:00")
    assert (folder / "weights.npz").is_file()

    unseen = sample(start=20, count=5)  # examples the classifier never saw
    loaded = load_classifier(folder, embedder())
    predicted = loaded.predict(list(unseen.texts))
    assert predicted == classifier.predict(list(unseen.texts))
    right = sum(label == truth for (label, _), truth in zip(predicted, unseen.labels, strict=True))
    assert right / len(unseen) >= 0.8
    assert all(0.0 <= confidence <= 1.0 for _, confidence in predicted)


def test_unrelated_requests_get_the_fallback_label() -> None:
    classifier = trained()[0].classifier
    timed = classifier.predict_timed([*UNRELATED, "My card still has not arrived"])
    labels = [item.label for item in timed.items]
    assert labels == ["oos", "oos", "card_arrival"]
    assert [item.in_scope for item in timed.items] == [False, False, True]
    assert timed.embed_seconds > 0 and timed.decide_seconds > 0
    renamed = classifier.predict_timed(UNRELATED[:1], fallback="OTHER")
    assert renamed.items[0].label == "OTHER"


def test_training_reports_progress_and_timings() -> None:
    report, printed = trained()
    assert "embedded 180 training texts in" in printed
    assert "embedded 20 validation texts in" in printed
    assert "fitted kernel ridge (exact) on 180 examples in" in printed
    assert "refitted on all 200 examples in" in printed
    assert set(report.seconds) == {"embed", "fit", "calibrate", "refit", "total"}
    assert all(seconds > 0 for seconds in report.seconds.values())
    assert report.classifier.manifest.training.seconds["total"] > 0


def test_out_of_scope_examples_train_an_output_and_pick_the_threshold() -> None:
    oos = LabelledTexts.of([(text, "oos") for text in UNRELATED * 2])
    train, validation = split_validation(sample(count=10), 0.2)
    examples = LabelledTexts(train.texts + oos.texts[:2], train.labels + oos.labels[:2])
    validation = LabelledTexts(validation.texts + oos.texts[2:], validation.labels + ("oos",) * 2)
    options = TrainOptions(fallback="UNKNOWN")
    report = train_classifier(
        "x", examples, validation=validation, options=options, embedder=embedder()
    )
    manifest = report.classifier.manifest
    assert manifest.model.oos_column and "oos" not in manifest.labels
    assert (manifest.threshold.rule, manifest.threshold.on) == ("balanced-accuracy", "score")
    assert not manifest.training.refit
    assert report.metrics["oos_recall"] == 1.0
    assert report.classifier.predict(UNRELATED[:1])[0][0] == "UNKNOWN"


def test_versions_and_references(tmp_path: Path) -> None:
    state = tmp_path / "state"
    classifier = trained()[0].classifier
    first, second = save_classifier(classifier, state), save_classifier(classifier, state)
    assert (first.name, second.name) == ("v1", "v2")
    assert classifier_path("banking", state) == second
    assert classifier_path("banking@v1", state) == first
    assert read_manifest(second).version == 2
    with pytest.raises(ConfigError, match=r"no classifier 'banking@v7'.*versions: v1, v2"):
        classifier_path("banking@v7", state)
    with pytest.raises(ConfigError, match=r"no classifier 'other'.*Classifiers here: banking"):
        classifier_path("other", state)


def test_command_line_train_and_predict(tmp_path: Path) -> None:
    import stepladder.cli.classifier  # noqa: F401  (registers `stepladder classifier`)
    from stepladder.cli.app import app

    root = write_project(tmp_path / "project", {})
    data = write_jsonl(tmp_path / "intents.jsonl", sample(count=10))
    runner = CliRunner()
    trained_run = runner.invoke(
        app, ["--project", str(root), "classifier", "train", "b", str(data)]
    )
    assert trained_run.exit_code == 0, trained_run.output
    assert (
        "saved b@v1 (10 labels, fallback 'oos') to .stepladder/classifiers/b/v1"
        in trained_run.stdout
    )
    assert "accuracy" in trained_run.stdout
    semicolons = write_csv(tmp_path / "intents.csv", sample(count=10), ";")  # sniffed
    again = runner.invoke(
        app, ["--project", str(root), "classifier", "train", "b", str(semicolons)]
    )
    assert again.exit_code == 0, again.output
    assert "saved b@v2 (10 labels" in again.stdout
    text = "I lost my card, someone may have stolen it"
    predicted = runner.invoke(app, ["--project", str(root), "classifier", "predict", "b", text])
    assert predicted.exit_code == 0, predicted.output
    label, confidence, echoed = predicted.stdout.strip().split("\t")
    assert (label, echoed) == ("lost_or_stolen_card", text)
    assert 0 < float(confidence) <= 1
    assert "decided 1 text in" in predicted.stderr
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps(text) + "\n" + json.dumps({"text": "How do I change my PIN?"}))
    from_file = runner.invoke(
        app, ["--project", str(root), "classifier", "predict", "b", "--file", str(texts)]
    )
    assert from_file.exit_code == 0, from_file.output
    lines = [line.split("\t") for line in from_file.stdout.strip().splitlines()]
    assert [(line[0], line[2]) for line in lines] == [
        ("lost_or_stolen_card", text),
        ("change_pin", "How do I change my PIN?"),
    ]
    assert "decided 2 texts in" in from_file.stderr
    nothing = runner.invoke(app, ["--project", str(root), "classifier", "predict", "b"])
    assert nothing.exit_code == 2 and "nothing to classify" in nothing.output


def write_csv(path: Path, examples: LabelledTexts, delimiter: str) -> Path:
    """Write examples as CSV with `text` and `label` columns, separated by `delimiter`."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["text", "label"])
        writer.writerows(zip(examples.texts, examples.labels, strict=True))
    return path


def test_csv_delimiters_are_sniffed_or_given(tmp_path: Path) -> None:
    examples = LabelledTexts.of([("where, oh where is my card", "card_arrival"), ("a; b", "x")])
    for delimiter in (",", ";", "\t", "|"):
        data = write_csv(tmp_path / f"sniffed{ord(delimiter)}.csv", examples, delimiter)
        assert read_examples(data) == LabelledTexts(examples.texts, examples.labels, str(data))
    pipes = write_csv(tmp_path / "given.csv", examples, "|")
    assert read_examples(pipes, delimiter="|").texts == examples.texts
    tabs = write_csv(tmp_path / "given.tsv", examples, "\t")
    assert read_examples(tabs, delimiter="tab").labels == examples.labels
    with pytest.raises(ConfigError, match=r"read with delimiter ',';.*--delimiter"):
        read_examples(pipes, delimiter=",")
    with pytest.raises(ConfigError, match="a CSV delimiter is one character"):
        read_examples(pipes, delimiter="||")


def test_texts_to_label_from_jsonl_or_lines(tmp_path: Path) -> None:
    lines = write_file(tmp_path / "texts.txt", "first text\n\n  second, with a comma \n")
    assert read_texts(lines) == ["first text", "second, with a comma"]
    jsonl = write_file(tmp_path / "t.jsonl", '"a string"\n{"text": "an object"}\n\n')
    assert read_texts(jsonl) == ["a string", "an object"]
    keyed = write_file(tmp_path / "k.jsonl", '{"utterance": "hello"}\n')
    assert read_texts(keyed, "utterance") == ["hello"]
    for name, text, problem in [
        ("e.txt", "\n \n", "no texts"),
        ("b.jsonl", "{oops\n", "line 1: not valid JSON"),
        ("n.jsonl", '"ok"\n3\n', "line 2: expected a string or an object with 'text'"),
        ("m.jsonl", '{"utterance": "hi"}\n', r"line 1: no 'text' text \(keys here: utterance\)"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            read_texts(write_file(tmp_path / name, text))
    with pytest.raises(ConfigError, match="cannot read texts"):
        read_texts(tmp_path / "missing.txt")


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    data = tmp_path / "intents.csv"
    data.write_text("utterance,intent\nwhere is my card,card_arrival\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"row 2: no 'text' column \(columns here: utterance, intent\)"
    ):
        read_examples(data)
    assert read_examples(data, "utterance", "intent").labels == ("card_arrival",)
    jsonl = tmp_path / "intents.jsonl"
    jsonl.write_text('{"text": "hi", "label": "a"}\n{"text": "yo"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"intents.jsonl, row 2: no 'label' column"):
        read_examples(jsonl)


def test_bad_example_files_are_config_errors(tmp_path: Path) -> None:
    for name, text, problem in [
        ("a.txt", "x", "unknown example file type '.txt'"),
        ("b.jsonl", "{not json\n", "line 1: not valid JSON"),
        ("c.json", '{"text": "x"}', "expected a JSON list of objects"),
        ("d.csv", "text,label\n", "no examples"),
        ("e.csv", "text,label\n  ,a\n", "row 2: empty 'text'"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            read_examples(write_file(tmp_path / name, text))
    with pytest.raises(ConfigError, match="no classifier at"):
        classifier_path(str(tmp_path / "nowhere" / "x"), tmp_path)


def test_one_label_is_not_enough() -> None:
    examples = LabelledTexts.of([("a", "x"), ("b", "x"), ("c", "oos")])
    with pytest.raises(ConfigError, match="at least two labels besides 'oos'"):
        train_classifier("one", examples, embedder=_FakeEmbedder())


def test_threshold_rules() -> None:
    similarities = np.linspace(0.0, 1.0, 201)
    assert rejection_threshold(similarities, 0.01) == pytest.approx(0.01)
    assert rejection_threshold(similarities, 0.0) == -1.0  # rejects nothing
    inside = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    outside = np.array([0.1, 0.2, 0.55])
    # rejecting below 0.575 loses one in-scope example and catches every out-of-scope one
    assert balanced_threshold(inside, np.ones(5, dtype=bool), outside) == pytest.approx(0.575)


def test_platt_scaling_is_monotone_and_calibrated() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 4000)
    right = rng.uniform(0, 1, 4000) < scores  # P(right | s) = s
    platt = fit_platt(scores, right)
    assert platt.slope > 0
    assert platt(np.array([0.5]))[0] == pytest.approx(0.5, abs=0.05)


def test_landmarks_subset_for_large_sets() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16))
    targets = np.repeat(np.arange(3), 100)
    vectors = centres[targets] + 0.3 * rng.normal(size=(300, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = fit_kernel_ridge(vectors, targets, 3)
    sampled = fit_kernel_ridge(vectors, targets, 3, exact_limit=100, landmarks=60)
    assert sampled.landmarks.shape == (60, 16)
    assert (exact.decide(vectors).best == targets).mean() > 0.95
    assert (sampled.decide(vectors).best == targets).mean() > 0.95


def write_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class _FakeEmbedder:
    name = "fake"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]


def test_nystrom_with_every_example_as_landmark_is_the_exact_fit() -> None:
    from stepladder.predictors.classifier.nystrom import exact_weights, nystrom_weights

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(120, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    targets = rng.integers(0, 3, 120)
    kernel = np.exp(2.0 * (vectors @ vectors.T - 1.0))
    exact = exact_weights(vectors, np.eye(3)[targets], 2.0, 0.1)
    streamed = nystrom_weights(vectors, targets, 3, vectors, 2.0, 0.1)
    assert np.abs(kernel @ exact - kernel @ streamed).max() < 1e-3


def test_the_fit_switches_to_nystrom_above_the_exact_limit() -> None:
    rng = np.random.default_rng(3)
    targets = np.repeat(np.arange(3), 100)
    vectors = rng.normal(size=(3, 16))[targets] + 0.3 * rng.normal(size=(300, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert fit_kernel_ridge(vectors, targets, 3, exact_limit=300).exact
    approximate = fit_kernel_ridge(vectors, targets, 3, exact_limit=299, landmarks=50)
    assert not approximate.exact and approximate.landmarks.shape == (50, 16)
    assert (approximate.decide(vectors).best == targets).mean() > 0.95
