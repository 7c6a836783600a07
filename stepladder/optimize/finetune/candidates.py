"""Trained adapters waiting for their verdict: written beside the saved versions, kept or dropped.

```
<state_dir>/adapters/.training/<name>/         checkpoints of a training under way
<state_dir>/adapters/.candidates/<name>-<hash>/ a trained adapter, not a registered version
```

`tune` and the DSPy provider both write a candidate, evaluate the flow on it (a folder is a
valid `adapter:` reference), then `keep_candidate` registers it as `NAME@vN` through
`save_adapter` (staging, then rename) and `drop_candidate` removes it and its checkpoints.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stepladder.optimize.finetune.gguf_export import export_adapter
from stepladder.predictors.adapters import (
    ADAPTERS,
    AdapterFiles,
    AdapterManifest,
    SavedAdapter,
    read_adapter_manifest,
    save_adapter,
)
from stepladder.predictors.artifacts import MANIFEST

__all__ = [
    "CANDIDATES",
    "TRAINING",
    "candidate_folder",
    "drop_candidate",
    "keep_candidate",
    "training_folder",
    "write_candidate",
]

CANDIDATES = ".candidates"
TRAINING = ".training"


def training_folder(state_dir: Path, name: str) -> Path:
    """Where adapter `name`'s training keeps its checkpoints (a killed one resumes there)."""
    return ADAPTERS.home(state_dir) / TRAINING / name


def candidate_folder(state_dir: Path, name: str, data_hash: str) -> Path:
    """Where a trained adapter waits for its verdict (outside the registered versions)."""
    return ADAPTERS.home(state_dir) / CANDIDATES / f"{name}-{data_hash[:12]}"


def write_candidate(folder: Path, manifest: AdapterManifest, model: Any) -> None:
    """Export the adapter, with its manifest, to a fresh candidate folder (not registered)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        files = AdapterFiles(folder)
        export_adapter(model, files.peft, files.gguf)
        (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2), "utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def keep_candidate(
    state_dir: Path, candidate: Path, metrics_after: Mapping[str, float] | None = None
) -> SavedAdapter:
    """Register a candidate as the next version of its adapter (`drop_candidate` removes it).

    Args:
        state_dir: The project's state folder.
        candidate: The candidate's folder.
        metrics_after: Scores with the adapter, for the manifest.
    """
    manifest = read_adapter_manifest(candidate)
    if metrics_after is not None:
        manifest = manifest.model_copy(update={"metrics_after": dict(metrics_after)})

    def copy_exports(files: AdapterFiles) -> None:
        source = AdapterFiles(candidate)
        shutil.copytree(source.peft, files.peft)
        shutil.copyfile(source.gguf, files.gguf)

    return save_adapter(manifest, state_dir, copy_exports)


def drop_candidate(state_dir: Path, candidate: Path) -> None:
    """Delete a candidate and the training checkpoints of its adapter (and emptied folders)."""
    shutil.rmtree(candidate, ignore_errors=True)
    training = training_folder(state_dir, candidate.name.rsplit("-", 1)[0])
    shutil.rmtree(training, ignore_errors=True)
    for folder in (candidate.parent, training.parent):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
