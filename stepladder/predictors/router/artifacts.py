"""Saved routers: versioned folders under the project's state folder (`ROUTERS`).

```
.stepladder/routers/<name>/v<N>/manifest.json   tiers, embedding model, model, training,
                                                calibration (once calibrated)
.stepladder/routers/<name>/v<N>/arrays.npz      model arrays and held-out predictions
```

`name` loads the newest version, `name@v2` a given one. Calibrating rewrites the manifest of
the version it calibrates (the arrays do not change).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.errors import ConfigError
from stepladder.predictors.artifacts import ArtifactKind, check_embedder
from stepladder.predictors.router.crossfit import CrossFittedModel
from stepladder.predictors.router.fit import KnnModel, LogisticModel, RouterModel
from stepladder.predictors.router.lexical import LexicalModel
from stepladder.predictors.router.manifest import RouterManifest
from stepladder.predictors.router.router import HeldOut, Router
from stepladder.retrieval.embeddings import EmbeddingFunction

__all__ = [
    "ROUTERS",
    "list_routers",
    "load_router",
    "read_router_manifest",
    "router_path",
    "routers_dir",
    "save_router",
    "write_router_manifest",
]

ARRAYS = "arrays.npz"
ROUTERS = ArtifactKind(
    what="router",
    folder="routers",
    manifest=RouterManifest,
    data_files=(ARRAYS,),
    train_command="stepladder router train {name} --run TIER=RUN_ID --run TIER=RUN_ID "
    "--metric METRIC",
)


def routers_dir(state_dir: Path) -> Path:
    """Where a project keeps its routers (`<state_dir>/routers`)."""
    return ROUTERS.home(state_dir)


def router_path(reference: str, state_dir: Path, version: int | None = None) -> Path:
    """The folder of a router: `name` (newest version), `name@vN`, or a folder path.

    Raises:
        ConfigError: If no such router exists, naming the ones that do.
    """
    return ROUTERS.path(reference, state_dir, version)


def list_routers(state_dir: Path) -> list[str]:
    """The names of the project's routers (those with at least one saved version)."""
    return ROUTERS.names(state_dir)


def save_router(router: Router, state_dir: Path) -> Path:
    """Save as the next version of its name (written to a staging folder, then renamed)."""

    def write_arrays(folder: Path) -> None:
        np.savez_compressed(folder / ARRAYS, **_arrays(router))

    folder, router.manifest = ROUTERS.save(router.manifest, state_dir, write_arrays)
    router.path = folder
    return folder


def write_router_manifest(folder: Path, manifest: RouterManifest) -> None:
    """Replace a saved router's manifest atomically (calibration records go here)."""
    ROUTERS.write_manifest(folder, manifest)


def read_router_manifest(folder: Path) -> RouterManifest:
    """Read and check a router's manifest (no arrays are loaded).

    Raises:
        ConfigError: If it is missing, unreadable or not a router manifest.
    """
    return ROUTERS.read_manifest(folder)


def load_router(folder: Path, embedder: EmbeddingFunction | None = None) -> Router:
    """Load a router folder; cached per process while its files are unchanged.

    Args:
        folder: The router's version folder.
        embedder: An embedding function to predict with; it must be the router's model.

    Raises:
        ConfigError: If files are missing or inconsistent, or `embedder` is another model.
    """

    def build(manifest: RouterManifest) -> Router:
        check_embedder(manifest, embedder, "router")
        model, held_out = _load_arrays(folder / ARRAYS, manifest)
        return Router(manifest, model, held_out, embedder, folder)

    return ROUTERS.load(folder, build, cache=embedder is None)


def _arrays(router: Router) -> dict[str, Any]:
    folded = router.model
    out: dict[str, Any] = {}
    knn = folded.chosen.knn  # every fold model's kNN holds all rows (a mask picks its own)
    if len(folded.models) > 1:
        out["fold_rows"] = folded.rows
    for i, model in enumerate(folded.models):
        out |= _model_arrays(model, f"f{i}_" if len(folded.models) > 1 else "")
    if knn is not None:
        out |= {"knn_vectors": knn.vectors, "knn_targets": knn.targets}
    if router.held_out is not None:
        held = router.held_out
        out |= {"held_ids": held.ids, "held_p": held.probabilities, "held_y": held.targets}
    return out


def _model_arrays(model: RouterModel, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if model.logistic is not None:
        lr = model.logistic
        out |= {"lr_mean": lr.mean, "lr_scale": lr.scale, "lr_weights": lr.weights}
        out |= {"lr_bias": lr.bias}
    if model.lexical is not None:
        words = model.lexical
        out |= {"lex_idf": words.idf, "lex_weights": words.weights, "lex_bias": words.bias}
    return {prefix + k: v for k, v in out.items()}


def _load_arrays(file: Path, manifest: RouterManifest) -> tuple[CrossFittedModel, HeldOut | None]:
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise ConfigError(f"{file}: cannot read the router arrays: {error}.") from error
    folds = manifest.model.folds
    try:
        rows = arrays["fold_rows"] if folds > 1 else np.zeros(0, dtype=np.int64)
        models = [_model(arrays, manifest, rows, fold, folds) for fold in range(folds)]
    except (KeyError, AssertionError) as error:
        raise ConfigError(f"{file}: router arrays lack {error}; retrain the router.") from None
    held = None
    if "held_p" in arrays:
        held = HeldOut(arrays["held_ids"], arrays["held_p"], arrays["held_y"])
    return CrossFittedModel(tuple(models), rows), held


def _model(
    arrays: dict[str, Any], manifest: RouterManifest, rows: NDArray[np.int64], fold: int,
    folds: int,
) -> RouterModel:  # fmt: skip
    """Fold `fold`'s model (the only model when `folds` is 1)."""
    info = manifest.model
    prefix = f"f{fold}_" if folds > 1 else ""
    knn = logistic = lexical = None
    if info.kind in ("knn", "ensemble"):
        assert info.k is not None and info.smoothing is not None
        vectors, targets = arrays["knn_vectors"], arrays["knn_targets"]
        outside = rows != fold
        allowed = outside if folds > 1 and outside.any() else None  # else it read every row
        count = len(vectors) if allowed is None else int(allowed.sum())
        knn = KnnModel(vectors, targets, min(info.k, max(count - 1, 1)), info.smoothing, allowed)
    if info.kind in ("logistic", "ensemble"):
        assert info.l2 is not None
        logistic = LogisticModel(
            arrays[prefix + "lr_mean"], arrays[prefix + "lr_scale"],
            arrays[prefix + "lr_weights"], arrays[prefix + "lr_bias"], info.l2,
        )  # fmt: skip
    if info.lexical_weight > 0:
        assert info.lexical_c is not None
        lexical = LexicalModel(
            arrays[prefix + "lex_idf"], arrays[prefix + "lex_weights"],
            arrays[prefix + "lex_bias"], info.lexical_c,
        )  # fmt: skip
    return RouterModel(
        info.kind, knn, logistic, info.knn_weight, dict(info.selection), lexical,
        info.lexical_weight,
    )  # fmt: skip
