"""Training checkpoints: what a killed training needs to go on where it stopped.

A checkpoint is a folder `step-NNNNNN` under the training's checkpoint folder, holding the LoRA
weights, the best LoRA weights so far, the optimizer's state, the random generator's state and
the progress (`state.json`). It is written under a temporary name and renamed when complete, so
a training killed while writing one resumes from the one before. Only the newest is kept.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stepladder.errors import ConfigError

__all__ = ["Checkpoint", "Progress", "latest_checkpoint", "save_checkpoint"]

PREFIX = "step-"
STATE_FILE = "state.json"
TENSORS_FILE = "tensors.pt"


@dataclass
class Progress:
    """Where a training stands: the part of a checkpoint that is plain data.

    Attributes:
        fingerprint: What was trained (data, hyper-parameters, base model); a checkpoint
            resumes only the same training.
        step: Optimizer steps done.
        seconds: Training time so far, over every resumed run.
        train_loss: `[step, loss]` after each step.
        validation_loss: `[step, loss]` at each measurement.
        best_step: The step of the lowest validation loss, if measured.
        best_loss: That loss.
        evaluations_without_gain: Measurements since the best one (early stopping).
        tokens: Tokens trained on (prompt and answer).
        stopped: Why the training ended (`completed`, `early_stop`), None while it runs.
    """

    fingerprint: str
    step: int = 0
    seconds: float = 0.0
    train_loss: list[list[float]] = field(default_factory=list)
    validation_loss: list[list[float]] = field(default_factory=list)
    best_step: int | None = None
    best_loss: float | None = None
    evaluations_without_gain: int = 0
    tokens: int = 0
    stopped: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A saved checkpoint: its progress and its tensors (loaded with torch).

    Attributes:
        folder: Where it is.
        progress: Where the training stood.
        tensors: `adapter`, `best_adapter` (or None), `optimizer` and `rng` state.
    """

    folder: Path
    progress: Progress
    tensors: dict[str, Any]


def save_checkpoint(root: Path, progress: Progress, tensors: dict[str, Any]) -> Path:
    """Write a checkpoint for `progress.step` under `root` and drop the older ones."""
    # Lazy: torch is the optional `tune` extra.
    import torch

    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{progress.step:06d}"
    staging = root / f".{final.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        torch.save(tensors, staging / TENSORS_FILE)
        (staging / STATE_FILE).write_text(json.dumps(asdict(progress)), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for older in _complete(root):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)
    return final


def latest_checkpoint(root: Path, fingerprint: str) -> Checkpoint | None:
    """The newest complete checkpoint under `root`, or None when there is none.

    Raises:
        ConfigError: If it belongs to another training (other data or settings), or is
            unreadable; the message says to delete the folder to start over.
    """
    found = _complete(root)
    if not found:
        return None
    folder = found[-1]
    try:
        progress = Progress(**json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))
        if progress.fingerprint != fingerprint:
            raise ConfigError(
                f"the checkpoint {folder} is from another training (other data, settings or "
                f"base model), so it cannot be resumed: delete {root} to start over, or train "
                f"with the data and settings it was made with."
            )
        # Lazy: torch is the optional `tune` extra.
        import torch

        tensors = torch.load(folder / TENSORS_FILE, map_location="cpu", weights_only=True)
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        raise ConfigError(
            f"the checkpoint {folder} cannot be read ({error}): delete {root} to start over."
        ) from error
    return Checkpoint(folder=folder, progress=progress, tensors=tensors)


def _complete(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and path.name.startswith(PREFIX))
