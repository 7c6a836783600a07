"""What a LoRA training gives back: the adapter on its base, the loss history, time and memory."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StepReport", "TrainedAdapter", "TrainingResult", "peak_rss_gb", "reset_peak_rss"]


@dataclass(frozen=True)
class TrainingResult:
    """What a training did.

    Attributes:
        steps: Optimizer steps done, counting those before a resume.
        planned_steps: Steps `epochs` and `max_steps` allowed.
        stopped: `completed`, or `early_stop` (validation loss stopped improving).
        train_loss: `(step, loss)` of every step (mean over the batch's answer tokens).
        validation_loss: `(step, loss)` of every measurement, step 0 being the base model.
        best_step: The step whose adapter is kept (lowest validation loss), if measured.
        best_validation_loss: Its validation loss.
        train_examples: Examples trained on.
        validation_examples: Examples the validation loss is measured on.
        too_long: Examples left out for being longer than `max_length` tokens.
        tokens: Tokens trained on (prompts and answers, all steps).
        seconds: Training time, summed over resumed runs (loading the model not counted).
        peak_rss_gb: The process's peak resident memory during the training, in GB (since
            `reset_peak_rss`; where it cannot be reset, since the process started).
        resumed_from: The checkpoint's step this run started from, if it resumed.
        precision: The arithmetic it ran in (`fp32` or `bf16`; `auto` resolved).
    """

    steps: int
    planned_steps: int
    stopped: str
    train_loss: tuple[tuple[int, float], ...]
    validation_loss: tuple[tuple[int, float], ...]
    best_step: int | None
    best_validation_loss: float | None
    train_examples: int
    validation_examples: int
    too_long: int
    tokens: int
    seconds: float
    peak_rss_gb: float
    resumed_from: int | None
    precision: str


@dataclass(frozen=True)
class StepReport:
    """One finished optimizer step, as `on_step` callbacks see it."""

    step: int
    planned_steps: int
    loss: float
    validation_loss: float | None


@dataclass(frozen=True)
class TrainedAdapter:
    """A trained LoRA on its base model.

    Attributes:
        model: The PEFT model: the base with the LoRA layers in place (the best adapter).
        result: How the training went.
    """

    model: Any
    result: TrainingResult

    def unload(self) -> Any:
        """Take the LoRA layers out again and return the plain base model."""
        return self.model.unload()


CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
RESET_PEAK = "5"
"""What resets the process's peak resident memory to its current size (Linux)."""


def reset_peak_rss() -> bool:
    """Start measuring the peak resident memory afresh (Linux); whether it could."""
    try:
        CLEAR_REFS.write_text(RESET_PEAK, encoding="ascii")
    except OSError:
        return False
    return True


def peak_rss_gb() -> float:
    """This process's peak resident memory (since `reset_peak_rss`), in GB.

    On Linux it reads `VmHWM` in `/proc/self/status`, the mark `reset_peak_rss` resets
    (`getrusage`'s `ru_maxrss` is also the maximum of marks saved when threads exit, which
    no reset clears); elsewhere `ru_maxrss`.
    """
    try:
        for line in STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1e6  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (1e9 if sys.platform == "darwin" else 1e6)
