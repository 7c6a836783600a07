"""Training at scale (`intents.py --scale`): seconds and peak memory at 10k and 100k rows.

Each measurement runs in its own child process, so its peak resident memory (`ru_maxrss`)
is its own:

- `classifier`: rows resampled from the data set's training split, each with one extra word
  drawn from the training vocabulary (so almost every text is new and is embedded for real,
  in a fresh, empty cache); validation is the real validation split. Embedding and fitting
  are timed apart (the embedding model runs at a fixed rate per text, the fit is what grows).
- `router`: a cross-fitted `ensemble` router (5 fold models, kNN + logistic regression +
  the word model) on rows resampled from RouteLLM's MMLU prompts, one extra word per text,
  embedded for real (whole prompts, in a fresh, empty cache), then fitted. Embedding, text
  features and the fit are timed apart. It is the same whichever `--dataset` is given.

The last line the parent prints is a JSON object.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def perturbed(texts: list[str], rows: int, seed: int) -> tuple[list[str], list[int]]:
    """`rows` texts resampled from `texts`, each with one extra word; and their sources."""
    rng = random.Random(seed)
    vocabulary = sorted({w for t in texts for w in t.split()})
    picks = [rng.randrange(len(texts)) for _ in range(rows)]
    return [f"{texts[i]} {rng.choice(vocabulary)}" for i in picks], picks


def classifier_child(dataset: str, rows: int, seed: int) -> dict[str, Any]:
    """Embed and fit a classifier on `rows` resampled rows; seconds, examples, peak MB."""
    import intents  # sibling script: the data loaders

    from stepladder.config.retrieval import EmbeddingSettings
    from stepladder.predictors.classifier.data import LabelledTexts
    from stepladder.predictors.classifier.train import TrainOptions, train_classifier

    loader = intents.load_clinc if dataset == "clinc150" else intents.load_banking
    train, validation, test = loader(intents.DATA)
    texts, picks = perturbed(list(train.texts), rows, seed)
    examples = LabelledTexts.of(
        [(t, train.labels[i]) for t, i in zip(texts, picks, strict=True)], f"{dataset} x{rows}"
    )
    with tempfile.TemporaryDirectory() as cache:
        report = train_classifier(
            f"scale-{rows}", examples, EmbeddingSettings(), validation=validation,
            options=TrainOptions(oos_label=intents.OOS, seed=seed), cache_dir=Path(cache),
        )  # fmt: skip
    vectors = report.classifier.embedder.embed(list(test.texts[:500]))
    labels = [p.label for p in report.classifier.decide(np.asarray(vectors, np.float32))]
    accuracy = intents.score(labels, test.labels[:500])["accuracy"]
    return {
        "embed_s": round(report.seconds["embed"], 1),
        "fit_s": round(report.seconds["fit"], 1),
        "examples": len(examples),
        "texts_per_s": round((len(texts) + len(validation or ())) / report.seconds["embed"], 1),
        "accuracy_first_500_test": None if accuracy is None else round(accuracy, 4),
        "peak_mb": round(peak_mb()),
    }


def router_child(rows: int, seed: int) -> dict[str, Any]:
    """Embed and fit a cross-fitted ensemble router on `rows` MMLU rows; seconds, MB."""
    import routing  # sibling script: the MMLU prompts and labels

    from stepladder.config.retrieval import EmbeddingSettings
    from stepladder.predictors.router.crossfit import fit_cross_fitted, hash_folds
    from stepladder.predictors.router.features import embed_texts, text_features
    from stepladder.predictors.router.fit import FitOptions
    from stepladder.predictors.router.lexical import word_counts
    from stepladder.retrieval.embeddings import shared_embedder

    texts_all, targets = routing.prompts("mmlu")
    texts, picks = perturbed(texts_all, rows, seed)
    settings = EmbeddingSettings()
    embedder = shared_embedder(settings)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        vectors = embed_texts(texts, embedder, settings, Path(cache))
    embedded = time.perf_counter()
    features, words = text_features(texts), word_counts(texts)
    featured = time.perf_counter()
    fit_cross_fitted(
        (vectors, features, words), targets[np.array(picks)], "ensemble",
        FitOptions(select_by="gain"), hash_folds(texts, 5), 5,
    )  # fmt: skip
    done = time.perf_counter()
    return {
        "embed_s": round(embedded - started, 1),
        "texts_per_s": round(rows / (embedded - started), 1),
        "features_s": round(featured - embedded, 1),
        "fit_s": round(done - featured, 1),
        "total_s": round(done - started, 1),
        "examples": rows,
        "peak_mb": round(peak_mb()),
    }


def measure(kind: str, rows: int, dataset: str, seed: int) -> dict[str, Any]:
    """Run one measurement in a child process and return what it printed."""
    command = [sys.executable, str(Path(__file__)), kind, str(rows), dataset, str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"], "rows": rows}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def scale(
    dataset: str,
    sizes: tuple[int, ...],
    seed: int,
    console: Any,
    kinds: tuple[str, ...] = ("classifier", "router"),
) -> dict[str, Any]:
    """Classifier and router measurements at each size, shown as they arrive."""
    out: dict[str, Any] = {"benchmark": "intents-scale", "dataset": dataset}
    for rows in sizes:
        for kind in kinds:
            console.print(f"{kind}: {rows:,} rows (a child process) ...")
            result = measure(kind, rows, dataset, seed)
            console.print(f"  {result}")
            out[f"{kind}_{rows}"] = result
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    what, count, data_set, seed_text = sys.argv[1:5]
    if what == "classifier":
        result = classifier_child(data_set, int(count), int(seed_text))
    else:
        result = router_child(int(count), int(seed_text))
    print(json.dumps(result), flush=True)
