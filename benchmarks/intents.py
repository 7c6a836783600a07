"""Intent accuracy, out-of-scope recall and decision latency of the embedding classifier.

Trains `stepladder.predictors.classifier` embedding classifiers (the packaged
all-MiniLM-L6-v2) on public intent data and scores them on the held-out test split:

- `clinc150`: CLINC150 `data_full.json`; trained on `train` + `oos_train` (out-of-scope
  examples, label `oos`), calibrated and thresholded on `val` + `oos_val`, tested on
  `test` (4,500 in-scope) + `oos_test` (1,000 out-of-scope).
- `banking77`: Banking77; it has no validation split, so the classifier holds out a seeded,
  stratified 10% of `train.csv` for calibration and the threshold, trains on the rest, and is
  tested on `test.csv` (3,080).

`accuracy` is in-scope accuracy with out-of-scope rejection on: an in-scope query sent to the
fallback label counts as an error. `oos_recall` is the share of out-of-scope test queries sent
to the fallback label (null for Banking77, which has none). `p50_ms` is the median time of a
single-query `predict` (embedding included) over `--latency-queries` test queries.

Embeddings are cached under `.stepladder/cache/embeddings/` (gitignored), so only the first run
embeds the ~25k texts (a few minutes on 2 CPU cores).

    .venv/bin/python benchmarks/intents.py --dataset clinc150
    .venv/bin/python benchmarks/intents.py --dataset banking77
    .venv/bin/python benchmarks/intents.py --dataset clinc150 --scale   # 10k and 100k rows
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.predictors.classifier.data import LabelledTexts
from stepladder.predictors.classifier.model import (
    EmbeddingClassifier,
    load_classifier,
    save_classifier,
)
from stepladder.predictors.classifier.train import TrainOptions, train_classifier
from stepladder.retrieval.embedding_cache import embed_cached

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "intents"
CACHE = ROOT / ".stepladder" / "cache" / "embeddings"
OOS = "oos"
console = Console(stderr=True, highlight=False)


def load_clinc(folder: Path) -> tuple[LabelledTexts, LabelledTexts | None, LabelledTexts]:
    data = json.loads((folder / "clinc150" / "data_full.json").read_text(encoding="utf-8"))

    def split(*names: str) -> LabelledTexts:
        rows = [(text, label) for name in names for text, label in data[name]]
        return LabelledTexts.of(rows, f"clinc150 {'+'.join(names)}")

    return split("train", "oos_train"), split("val", "oos_val"), split("test", "oos_test")


def load_banking(folder: Path) -> tuple[LabelledTexts, LabelledTexts | None, LabelledTexts]:
    def split(name: str) -> LabelledTexts:
        with (folder / "banking77" / f"{name}.csv").open(encoding="utf-8", newline="") as file:
            rows = [(row["text"], row["category"]) for row in csv.DictReader(file)]
        return LabelledTexts.of(rows, f"banking77 {name}.csv")

    return split("train"), None, split("test")


def score(labels: list[str], truth: tuple[str, ...]) -> dict[str, float | None]:
    gold = np.array(truth)
    predicted = np.array(labels)
    inside = gold != OOS

    def share(hits: np.ndarray) -> float | None:
        return float(hits.mean()) if hits.size else None

    return {
        "accuracy": share(predicted[inside] == gold[inside]),
        "oos_recall": share(predicted[~inside] == OOS),
        "rejected": share(predicted[inside] == OOS),
    }


def latency(
    classifier: EmbeddingClassifier, texts: tuple[str, ...], count: int, seed: int
) -> dict[str, float]:
    predict = classifier.predict_timed
    sample = random.Random(seed).sample(list(texts), min(count, len(texts)))
    for text in sample[:5]:
        predict([text])  # warm up
    totals, decides = [], []
    for text in sample:
        started = time.perf_counter()
        result = predict([text])
        totals.append(time.perf_counter() - started)
        decides.append(result.decide_seconds)
    return {
        "p50_ms": statistics.median(totals) * 1000,
        "p90_ms": statistics.quantiles(totals, n=10)[-1] * 1000,
        "decide_p50_ms": statistics.median(decides) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["clinc150", "banking77"], required=True)
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the intents data")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scale", action="store_true", help="train seconds and peak RSS at 10k and 100k rows"
    )
    parser.add_argument(
        "--scale-rows", type=int, nargs="+", default=[10_000, 100_000], help="sizes for --scale"
    )
    parser.add_argument(
        "--scale-kinds", nargs="+", choices=["classifier", "router"],
        default=["classifier", "router"], help="what --scale measures",
    )  # fmt: skip
    args = parser.parse_args()
    if args.scale:
        from intents_scale import scale  # sibling script

        sizes, kinds = tuple(args.scale_rows), tuple(args.scale_kinds)
        print(json.dumps(scale(args.dataset, sizes, args.seed, console, kinds)), flush=True)
        return
    loader = load_clinc if args.dataset == "clinc150" else load_banking
    train, validation, test = loader(args.data)
    report = train_classifier(
        f"intents-{args.dataset}",
        train,
        EmbeddingSettings(),
        validation=validation,
        options=TrainOptions(oos_label=OOS, seed=args.seed),
        cache_dir=CACHE,
        console=console,
    )
    with tempfile.TemporaryDirectory() as folder:
        saved = save_classifier(report.classifier, Path(folder))
        started = time.perf_counter()
        classifier = load_classifier(saved)
        results: dict[str, float | None] = {"load_s": time.perf_counter() - started}
        results |= evaluate(classifier, test)
        if args.dataset == "banking77":  # no out-of-scope test data: try another domain's
            unrelated = load_clinc(args.data)[2].select_label(OOS)
            results["other_domain_rejected"] = evaluate(classifier, unrelated)["oos_recall"]
        timing = latency(classifier, test.texts, args.latency_queries, args.seed)
    show(args.dataset, report.metrics, report.seconds, results, timing)
    manifest = report.classifier.manifest
    details = {
        "validation": report.metrics,
        "threshold": manifest.threshold.model_dump(),
        "train_seconds": {k: round(v, 2) for k, v in report.seconds.items()},
        "examples": manifest.training.examples,
        "test": {k: None if v is None else round(v, 4) for k, v in results.items()},
        "p90_ms": round(timing["p90_ms"], 2),
        "decide_p50_ms": round(timing["decide_p50_ms"], 3),
    }
    print(json.dumps({"details": details}))
    recall = results["oos_recall"]
    final = {
        "benchmark": "intents",
        "dataset": args.dataset,
        "accuracy": round(results["accuracy"] or 0.0, 4),
        "oos_recall": None if recall is None else round(recall, 4),
        "p50_ms": round(timing["p50_ms"], 2),
    }
    print(json.dumps(final), flush=True)


def evaluate(classifier: EmbeddingClassifier, data: LabelledTexts) -> dict[str, float | None]:
    """Score a labelled set in one batch (embeddings cached)."""
    key = classifier.manifest.embedding.settings.model_dump_json()
    vectors = embed_cached(data.texts, classifier.embedder, key, CACHE)
    started = time.perf_counter()
    labels = [p.label for p in classifier.decide(vectors)]
    batch_ms = (time.perf_counter() - started) * 1000 / len(data)
    return {**score(labels, data.labels), "batch_decide_ms": batch_ms}


def show(
    dataset: str,
    validation: dict[str, float | int | None],
    seconds: dict[str, float],
    results: dict[str, float | None],
    timing: dict[str, float],
) -> None:
    table = Table(title=f"embedding classifier on {dataset}")
    for column in ("measure", "value"):
        table.add_column(column)
    rows = [
        ("validation accuracy (rejection on)", validation["accuracy"]),
        ("validation out-of-scope recall", validation["oos_recall"]),
        ("test accuracy (rejection on)", results["accuracy"]),
        ("test out-of-scope recall", results["oos_recall"]),
        ("test in-scope rejected", results["rejected"]),
        ("CLINC150 out-of-scope queries rejected", results.get("other_domain_rejected")),
        ("train s", ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())),
        ("load s", results["load_s"]),
        ("batch decide ms per query", results["batch_decide_ms"]),
        ("single-query p50 / p90 ms", f"{timing['p50_ms']:.2f} / {timing['p90_ms']:.2f}"),
        ("single-query decide p50 ms", timing["decide_p50_ms"]),
    ]
    for name, value in rows:
        shown = "-" if value is None else f"{value:.4f}" if isinstance(value, float) else value
        table.add_row(name, str(shown))
    console.print(table)


if __name__ == "__main__":
    main()
