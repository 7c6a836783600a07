"""Saved routers: versioned folders under the project's state folder.

```
.stepladder/routers/<name>/v<N>/manifest.json   tiers, embedding model, model, training,
                                                calibration (once calibrated)
.stepladder/routers/<name>/v<N>/arrays.npz      model arrays and held-out predictions
```

`name` loads the newest version, `name@v2` a given one. Calibrating rewrites the manifest of
the version it calibrates (the arrays do not change).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from stepladder.config.artifacts import MANIFEST, read_manifest_file, saved_versions
from stepladder.errors import ConfigError
from stepladder.retrieval.embeddings import EmbeddingFunction
from stepladder.routing.fit import KnnModel, LogisticModel, RouterModel
from stepladder.routing.lexical import LexicalModel
from stepladder.routing.manifest import RouterManifest
from stepladder.routing.router import HeldOut, Router

__all__ = [
    "list_routers",
    "load_router",
    "read_router_manifest",
    "router_path",
    "routers_dir",
    "save_router",
    "write_router_manifest",
]

ARRAYS = "arrays.npz"
_REFERENCE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(@v(?P<version>\d+))?$")
_lock = threading.Lock()
_routers: dict[tuple[str, int, int], Router] = {}


def routers_dir(state_dir: Path) -> Path:
    """Where a project keeps its routers (`<state_dir>/routers`)."""
    return state_dir / "routers"


def router_path(reference: str, state_dir: Path, version: int | None = None) -> Path:
    """The folder of a router: `name` (newest version), `name@vN`, or a folder path.

    Raises:
        ConfigError: If no such router exists, naming the ones that do.
    """
    match = _REFERENCE.match(reference)
    if match is None:
        folder = Path(reference)
        if (folder / MANIFEST).is_file():
            return folder
        raise ConfigError(f"no router at {folder}: it has no {MANIFEST}.")
    home = routers_dir(state_dir)
    versions = saved_versions(home / match["name"])
    wanted = version if version is not None else match["version"]
    if wanted is not None and int(wanted) in versions:
        return home / match["name"] / f"v{int(wanted)}"
    if wanted is None and versions:
        return home / match["name"] / f"v{max(versions)}"
    known = ", ".join(list_routers(state_dir)) or "(none)"
    hint = f"; trained versions: {', '.join(f'v{v}' for v in sorted(versions))}" if versions else ""
    raise ConfigError(
        f"no router '{reference}'{f' version {wanted}' if wanted else ''} in {home}{hint}. "
        f"Routers here: {known}. Train one with `stepladder router train {match['name']} "
        "--run TIER=RUN_ID --run TIER=RUN_ID --metric METRIC`."
    )


def list_routers(state_dir: Path) -> list[str]:
    """The names of the project's routers (those with at least one saved version)."""
    home = routers_dir(state_dir)
    return sorted(p.name for p in home.iterdir() if saved_versions(p)) if home.is_dir() else []


def save_router(router: Router, state_dir: Path) -> Path:
    """Save as the next version of its name (written to a staging folder, then renamed)."""
    home = routers_dir(state_dir) / router.manifest.name
    version = max(saved_versions(home), default=0) + 1
    router.manifest = router.manifest.model_copy(update={"version": version})
    folder = home / f"v{version}"
    home.mkdir(parents=True, exist_ok=True)
    staging = home / f".v{version}.tmp-{time.time_ns()}"
    staging.mkdir()
    np.savez_compressed(staging / ARRAYS, **_arrays(router))
    (staging / MANIFEST).write_text(router.manifest.model_dump_json(indent=2), "utf-8")
    staging.rename(folder)
    router.path = folder
    return folder


def write_router_manifest(folder: Path, manifest: RouterManifest) -> None:
    """Replace a saved router's manifest atomically (calibration records go here)."""
    staging = folder / f".{MANIFEST}.{time.time_ns()}"
    staging.write_text(manifest.model_dump_json(indent=2), "utf-8")
    staging.replace(folder / MANIFEST)


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


def read_router_manifest(folder: Path) -> RouterManifest:
    """Read and check a router's manifest (no arrays are loaded).

    Raises:
        ConfigError: If it is missing, unreadable or not a router manifest.
    """
    return read_manifest_file(folder, RouterManifest, "router")


def load_router(folder: Path, embedder: EmbeddingFunction | None = None) -> Router:
    """Load a router folder; cached per process while its files are unchanged.

    Args:
        folder: The router's version folder.
        embedder: An embedding function to predict with; it must be the router's model.

    Raises:
        ConfigError: If files are missing or inconsistent, or `embedder` is another model.
    """
    manifest_file, arrays = folder / MANIFEST, folder / ARRAYS
    stamps = [f.stat().st_mtime_ns if f.is_file() else -1 for f in (manifest_file, arrays)]
    key = (str(folder.resolve()), stamps[0], stamps[1])
    manifest = read_router_manifest(folder)
    if embedder is not None and embedder.name != manifest.embedding.name:
        raise ConfigError(
            f"router '{manifest.name}@v{manifest.version}' was trained with embedding model "
            f"'{manifest.embedding.name}', not '{embedder.name}': predicting with another "
            "model gives meaningless answers. Use its model, or retrain the router."
        )
    with _lock:
        cached = _routers.get(key)
    if cached is not None and embedder is None:
        return cached
    model, held_out = _load_arrays(arrays, manifest)
    router = Router(manifest, model, held_out, embedder, folder)
    if embedder is None:
        with _lock:
            _routers[key] = router
    return router


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
