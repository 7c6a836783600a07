"""Router quality on RouteLLM's recorded benchmarks: APGR, CPT(50%), CPT(80%), cost saving.

Data: `/work/shared/data/routing/` (RouteLLM's recorded correctness of Mixtral-8x7B-Instruct,
the weak model, and GPT-4-1106-preview, the strong one). Rows marked `contaminated` are
dropped, as RouteLLM does: MMLU 14,037, GSM8K 1,307, MT-Bench 72 prompts.

- MMLU and GSM8K: 5-fold cross-fitting (seeded random folds). For each fold, stepladder's
  router (`--kind`, default `ensemble` of cosine kNN and logistic regression on the packaged
  all-MiniLM-L6-v2 embeddings plus cheap text features) is trained on the other 4 folds,
  its hyper-parameters (k, the L2 penalty, the kNN/logistic weight) chosen by
  cross-validation inside those 4 folds only (leave-one-out for kNN, 3 inner folds for
  logistic regression; criterion: the area under the routing curve); the held-out fold
  is then scored. No row is scored by a model that saw its labels.
- MT-Bench (72 prompts, routed on the first turn): a router trained on all of MMLU + GSM8K.
- The router score is the predicted gain P(strong right) - P(weak right).
- Metrics as RouteLLM computes them (`stepladder.predictors.router.metrics`): 10 quantile
  thresholds, trapezoid area under PGR against the share of strong calls (APGR), CPT by
  interpolation. `random`: the mean over 10 seeds of a uniform random score. `oracle`: the
  true gain, ties broken at random (seeded), as the data README's reference numbers do.
- Cost saving: the cheapest threshold (over every distinct score) keeping >= 95% of GPT-4's
  quality, against always calling GPT-4, with list prices for a typical call of 500 input
  and 300 output tokens: GPT-4-1106-preview $10/$30 per million tokens -> $0.014 per call;
  Mixtral-8x7B-Instruct $0.60/$0.60 (together.ai) -> $0.00048 per call.

Embeddings are cached under `.stepladder/cache/embeddings/`; the first run embeds ~15k
prompts (about 8 minutes on 2 CPU cores).

    .venv/bin/python benchmarks/routing.py
    .venv/bin/python benchmarks/routing.py --kind knn --only gsm8k
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from routing_baselines import baseline_scores, paired_difference
from routing_holdout import holdout
from scipy import sparse

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.predictors.router.features import embed_texts, text_features
from stepladder.predictors.router.fit import FitOptions, RouterModel, fit_router_model, folds_of
from stepladder.predictors.router.lexical import Sparse, word_counts
from stepladder.predictors.router.metrics import cost_saving, evaluate_router, pgr
from stepladder.predictors.router.plots import pgr_png
from stepladder.progress import progress_bar
from stepladder.retrieval.embeddings import shared_embedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STEPLADDER_ROUTING_DATA", ROOT.parent / "shared" / "data" / "routing"))
CACHE = ROOT / ".stepladder" / "cache" / "embeddings"
ARTIFACTS = ROOT / "benchmarks" / "artifacts"
WEAK, STRONG = "mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"
IN_TOKENS, OUT_TOKENS = 500, 300
STRONG_PRICE = (IN_TOKENS * 10.0 + OUT_TOKENS * 30.0) / 1e6
WEAK_PRICE = (IN_TOKENS * 0.60 + OUT_TOKENS * 0.60) / 1e6
console = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Bench:
    name: str
    texts: list[str]
    vectors: NDArray[np.float32]
    features: NDArray[np.float64]
    words: Sparse
    weak: NDArray[np.float64]
    strong: NDArray[np.float64]

    @property
    def targets(self) -> NDArray[np.float64]:
        return np.c_[self.weak, self.strong]


def prompts(name: str) -> tuple[list[str], NDArray[np.float64]]:
    """A data set's prompts (contaminated rows dropped) and their (weak, strong) quality."""
    file = DATA / f"routellm_{name}.jsonl"
    lines = file.read_text(encoding="utf-8").split("\n")  # prompts hold U+2028: no splitlines
    rows = [
        r for r in (json.loads(line) for line in lines if line.strip()) if not r["contaminated"]
    ]
    field = "score" if name == "mtbench" else "correct"
    weak = np.array([float(r[f"{field}__{WEAK}"]) for r in rows])
    strong = np.array([float(r[f"{field}__{STRONG}"]) for r in rows])
    return [r["prompt"] for r in rows], np.c_[weak, strong]


def load(name: str) -> Bench:
    texts, quality = prompts(name)
    weak, strong = quality[:, 0], quality[:, 1]
    settings = EmbeddingSettings()
    with progress_bar(console=console) as bar:
        task = bar.add_task(f"embedding {name}", total=len(texts))
        vectors = embed_texts(
            texts, shared_embedder(settings), settings, CACHE,
            lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    return Bench(name, texts, vectors, text_features(texts), word_counts(texts), weak, strong)


def fit(
    x: NDArray[np.float32], f: NDArray[np.float64], w: Sparse, y: NDArray[np.float64], kind: str
) -> RouterModel:
    options = FitOptions(select_by="gain")
    return fit_router_model(x, f, y, kind, options, w)  # type: ignore[arg-type]


def gain(
    model: RouterModel, x: NDArray[np.float32], f: NDArray[np.float64], w: Sparse
) -> NDArray[np.float64]:
    p = model.predict(x, f, w)
    return p[:, 1] - p[:, 0]


def cross_fitted(bench: Bench, kind: str, folds: int = 5) -> tuple[NDArray[np.float64], list[str]]:
    assignment = folds_of(len(bench.texts), folds, seed=0)
    scores = np.zeros(len(bench.texts))
    chosen = []
    with progress_bar(console=console) as bar:
        task = bar.add_task(f"{bench.name}: {folds}-fold cross-fitting", total=folds)
        for fold in range(folds):
            test = assignment == fold
            train = ~test
            model = fit(
                bench.vectors[train], bench.features[train], bench.words[train],
                bench.targets[train], kind,
            )  # fmt: skip
            scores[test] = gain(model, bench.vectors[test], bench.features[test], bench.words[test])
            chosen.append(describe(model))
            bar.advance(task)
    return scores, chosen


def describe(model: RouterModel) -> str:
    parts = [model.kind]
    if model.knn is not None:
        parts.append(f"k={model.knn.k}")
    if model.logistic is not None:
        parts.append(f"l2={model.logistic.l2:g}")
    if model.kind == "ensemble":
        parts.append(f"w_knn={model.knn_weight:g}")
    if model.lexical is not None:
        parts.append(f"w_words={model.lexical_weight:g} C={model.lexical.c:g}")
    return " ".join(parts)


def baselines(bench: Bench) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    randoms = [
        evaluate_router(rng.random(len(bench.weak)), bench.weak, bench.strong) for _ in range(10)
    ]
    jitter = np.random.default_rng(1).random(len(bench.weak)) * 1e-6
    oracle = evaluate_router(bench.strong - bench.weak + jitter, bench.weak, bench.strong)
    return {
        "random": {
            k: float(np.mean([getattr(r, k) for r in randoms])) for k in ("apgr", "cpt50", "cpt80")
        },
        "oracle": {"apgr": oracle.apgr, "cpt50": oracle.cpt50, "cpt80": oracle.cpt80},
    }


def report(
    bench: Bench,
    scores: NDArray[np.float64],
    chosen: list[str],
    plain: dict[str, NDArray[np.float64]] | None = None,
) -> dict[str, object]:
    result = evaluate_router(scores, bench.weak, bench.strong)
    saving = cost_saving(scores, bench.weak, bench.strong, WEAK_PRICE, STRONG_PRICE, 0.95)
    base = baselines(bench)
    for name, values in (plain or {}).items():
        r = evaluate_router(values, bench.weak, bench.strong)
        base[name] = {"apgr": r.apgr, "cpt50": r.cpt50, "cpt80": r.cpt80}
    table = Table(
        title=f"{bench.name}: {len(scores):,} prompts; weak {result.weak_quality:.3f}, "
        f"strong {result.strong_quality:.3f}"
    )
    for column in ("router", "APGR", "CPT(50%)", "CPT(80%)"):
        table.add_column(column)
    table.add_row("stepladder", f"{result.apgr:.3f}", f"{result.cpt50:.1%}", f"{result.cpt80:.1%}")
    for name, values in base.items():
        table.add_row(
            name, f"{values['apgr']:.3f}", f"{values['cpt50']:.1%}", f"{values['cpt80']:.1%}"
        )
    console.print(table)
    console.print(
        f"{bench.name}: at >= 95% of GPT-4's quality: {saving.share:.1%} GPT-4 calls, "
        f"${saving.cost_per_call:.5f}/call vs ${STRONG_PRICE:.5f}: {saving.ratio:.2f}x cheaper "
        f"({saving.saved:.1%} saved); models chosen per fold: {'; '.join(chosen)}"
    )
    out: dict[str, object] = {
        f"{bench.name}_apgr": round(result.apgr, 4),
        f"{bench.name}_cpt50": round(result.cpt50, 4),
        f"{bench.name}_cpt80": round(result.cpt80, 4),
        f"{bench.name}_random_apgr": round(base["random"]["apgr"], 4),
        f"{bench.name}_oracle_apgr": round(base["oracle"]["apgr"], 4),
        f"{bench.name}_saving_95_ratio": round(saving.ratio, 3),
        f"{bench.name}_saving_95_strong_share": round(saving.share, 4),
    }
    if plain:
        out |= versus_best_baseline(bench, scores, plain, base)
    return out


def versus_best_baseline(
    bench: Bench,
    scores: NDArray[np.float64],
    plain: dict[str, NDArray[np.float64]],
    metrics: dict[str, dict[str, float]],
) -> dict[str, object]:
    """Each plain baseline's APGR (from `metrics`); the router minus the best, bootstrapped."""
    apgrs = {name: metrics[name]["apgr"] for name in plain}
    best = max(apgrs, key=lambda name: apgrs[name])
    difference, low, high = paired_difference(scores, plain[best], bench.weak, bench.strong)
    console.print(
        f"{bench.name}: router - best plain baseline ({best}): APGR {difference:+.3f}, "
        f"90% paired-bootstrap interval [{low:+.3f}, {high:+.3f}] (1,000 resamples)"
    )
    slug = {name: name.replace(" (", "_").replace(")", "").replace(" ", "_") for name in plain}
    return {
        **{f"{bench.name}_{slug[k]}_apgr": round(v, 4) for k, v in apgrs.items()},
        f"{bench.name}_best_baseline": best,
        f"{bench.name}_vs_best_baseline": round(difference, 4),
        f"{bench.name}_vs_best_baseline_low": round(low, 4),
        f"{bench.name}_vs_best_baseline_high": round(high, 4),
    }


def show_holdout(name: str, held: dict[str, float]) -> None:
    table = Table(
        title=f"{name}: train + calibrate (95% of GPT-4, 95% confidence) on 70%, route 30%"
    )
    for column in ("bound", "held", "ratio min / median", "share gap max / median", "within 3 pts"):
        table.add_column(column)
    for bound in ("population", "batch"):
        k = f"{name}_holdout_{bound}"
        table.add_row(
            bound, f"{held[k + '_held']}/{held[k + '_splits']}",
            f"{held[k + '_ratio_min']:.3f} / {held[k + '_ratio_median']:.3f}",
            f"{held[k + '_share_gap_max']:.1%} / {held[k + '_share_gap_median']:.1%}",
            f"{held[k + '_within_3_points']}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"sampling noise of the share gap: SD {held[k + '_share_noise_sd']:.1%}; noise alone "
        f"keeps {held[k + '_within_3_points_expected']:g} splits within 3 points "
        f"(all of them: chance {held[k + '_within_3_points_all_chance']:.1%})"
    )


def curve_lines(
    bench: Bench, scores: NDArray[np.float64]
) -> dict[str, tuple[list[float], list[float]]]:
    lines = {}
    jitter = np.random.default_rng(1).random(len(bench.weak)) * 1e-6
    named = {
        "stepladder": scores,
        "random": np.random.default_rng(0).random(len(bench.weak)),
        "oracle": bench.strong - bench.weak + jitter,
    }
    for name, values in named.items():
        r = evaluate_router(values, bench.weak, bench.strong)
        lines[f"{name} (APGR {r.apgr:.3f})"] = (
            r.curve.shares.tolist(),
            pgr(r.curve.qualities, r.weak_quality, r.strong_quality).tolist(),
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["ensemble", "knn", "logistic"], default="ensemble")
    parser.add_argument("--only", choices=["mmlu", "gsm8k", "mtbench"], default=None)
    parser.add_argument(
        "--splits", type=int, default=20, help="70/30 calibration splits (0: skip them)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    out: dict[str, object] = {"benchmark": "routing"}
    panels = {}
    benches = {name: load(name) for name in ("mmlu", "gsm8k", "mtbench")}
    for name in ("mmlu", "gsm8k"):
        if args.only in (None, name):
            bench = benches[name]
            scores, chosen = cross_fitted(bench, args.kind)
            plain = baseline_scores(bench, folds_of(len(bench.texts), 5, seed=0))
            out |= report(bench, scores, chosen, plain)
            panels[f"{name} (5-fold cross-fitted)"] = curve_lines(bench, scores)
            if args.splits:
                prices = np.array([WEAK_PRICE, STRONG_PRICE])
                held = holdout(bench, args.splits, args.kind, prices, 0.95, console)
                show_holdout(name, held)
                out |= held
    if args.only in (None, "mtbench"):
        mmlu, gsm8k, mt = benches["mmlu"], benches["gsm8k"], benches["mtbench"]
        t = time.perf_counter()
        model = fit(
            np.r_[mmlu.vectors, gsm8k.vectors], np.r_[mmlu.features, gsm8k.features],
            sparse.vstack([mmlu.words, gsm8k.words]).tocsr(),
            np.r_[mmlu.targets, gsm8k.targets], args.kind,
        )  # fmt: skip
        console.print(
            f"trained the MT-Bench router on MMLU+GSM8K in {time.perf_counter() - t:.0f} s"
        )
        scores = gain(model, mt.vectors, mt.features, mt.words)
        out |= report(mt, scores, [describe(model)])
        panels["mtbench (trained on MMLU+GSM8K)"] = curve_lines(mt, scores)
    figure = pgr_png(panels, ARTIFACTS / "routing_pgr.png")
    console.print(f"PGR curves: {figure.relative_to(ROOT)}")
    out |= {
        "kind": args.kind,
        "score": "P(strong right) - P(weak right)",
        "strong_usd_per_call": STRONG_PRICE,
        "weak_usd_per_call": WEAK_PRICE,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
