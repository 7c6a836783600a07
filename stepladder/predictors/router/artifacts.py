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

from stepladder.errors import ConfigError
from stepladder.predictors.artifacts import ArtifactKind, check_embedder
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
    model = router.model
    out: dict[str, Any] = {}
    if model.knn is not None:
        out |= {"knn_vectors": model.knn.vectors, "knn_targets": model.knn.targets}
    if model.logistic is not None:
        lr = model.logistic
        out |= {"lr_mean": lr.mean, "lr_scale": lr.scale, "lr_weights": lr.weights}
        out |= {"lr_bias": lr.bias}
    if model.lexical is not None:
        words = model.lexical
        out |= {"lex_idf": words.idf, "lex_weights": words.weights, "lex_bias": words.bias}
    if router.held_out is not None:
        held = router.held_out
        out |= {"held_ids": held.ids, "held_p": held.probabilities, "held_y": held.targets}
    return out


def _load_arrays(file: Path, manifest: RouterManifest) -> tuple[RouterModel, HeldOut | None]:
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise ConfigError(f"{file}: cannot read the router arrays: {error}.") from error
    info = manifest.model
    try:
        knn = logistic = None
        if info.kind in ("knn", "ensemble"):
            assert info.k is not None and info.smoothing is not None
            knn = KnnModel(arrays["knn_vectors"], arrays["knn_targets"], info.k, info.smoothing)
        if info.kind in ("logistic", "ensemble"):
            assert info.l2 is not None
            logistic = LogisticModel(
                arrays["lr_mean"], arrays["lr_scale"], arrays["lr_weights"], arrays["lr_bias"],
                info.l2,
            )  # fmt: skip
        lexical = None
        if info.lexical_weight > 0:
            assert info.lexical_c is not None
            lexical = LexicalModel(
                arrays["lex_idf"], arrays["lex_weights"], arrays["lex_bias"], info.lexical_c
            )
    except (KeyError, AssertionError) as error:
        raise ConfigError(f"{file}: router arrays lack {error}; retrain the router.") from None
    held = None
    if "held_p" in arrays:
        held = HeldOut(arrays["held_ids"], arrays["held_p"], arrays["held_y"])
    model = RouterModel(
        info.kind, knn, logistic, info.knn_weight, dict(info.selection), lexical,
        info.lexical_weight,
    )  # fmt: skip
    return model, held
