"""Training at scale (`intents.py --scale`): seconds and peak memory at 10k and 100k rows.

Each measurement runs in its own child process, so its peak resident memory (`ru_maxrss`)
is its own:

- `classifier`: rows resampled from the data set's training split, each with one extra word
  drawn from the training vocabulary (so almost every text is new and is embedded for real,
  in a fresh, empty cache); validation is the real validation split. Embedding and fitting
  are timed apart (the embedding model runs at a fixed rate per text, the fit is what grows).
- `router`: the fit of a cross-fitted `ensemble` router (5 fold models, kNN + logistic
  regression + the word model) on rows resampled from RouteLLM's MMLU prompts: embeddings
  from the routing cache with a little Gaussian noise, one extra word per text. Embedding
  is not timed again (the same model as the classifier's, at the rate measured there). It
  is the same whichever `--dataset` is given.

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
    """Fit a cross-fitted ensemble router on `rows` rows resampled from MMLU; seconds, MB."""
    import routing  # sibling script: the cached MMLU embeddings

    from stepladder.predictors.router.crossfit import fit_cross_fitted, hash_folds
    from stepladder.predictors.router.features import text_features
    from stepladder.predictors.router.fit import FitOptions
    from stepladder.predictors.router.lexical import word_counts

    bench = routing.load("mmlu")
    texts, picks = perturbed(bench.texts, rows, seed)
    index = np.array(picks)
    noise = np.random.default_rng(seed).normal(0, 0.01, (rows, bench.vectors.shape[1]))
    vectors = (bench.vectors[index] + noise).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    features, words = text_features(texts), word_counts(texts)
    featured = time.perf_counter()
    fit_cross_fitted(
        (vectors, features, words), bench.targets[index], "ensemble",
        FitOptions(select_by="gain"), hash_folds(texts, 5), 5,
    )  # fmt: skip
    return {
        "features_s": round(featured - started, 1),
        "fit_s": round(time.perf_counter() - featured, 1),
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


def scale(dataset: str, sizes: tuple[int, ...], seed: int, console: Any) -> dict[str, Any]:
    """Classifier and router measurements at each size, shown as they arrive."""
    out: dict[str, Any] = {"benchmark": "intents-scale", "dataset": dataset}
    for rows in sizes:
        for kind in ("classifier", "router"):
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
