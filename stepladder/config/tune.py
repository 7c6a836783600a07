"""Fine-tuning settings: the LoRA hyper-parameters `stepladder tune` uses.

```yaml
tune:
  rank: 16                   # LoRA rank
  alpha: 32                  # LoRA alpha (the update is scaled by alpha / rank)
  learning_rate: 0.002
  lr_schedule: constant      # or linear / cosine: decays to 0 at the last planned step
  batch_size: 16
  epochs: 1                  # passes over the training examples (max_steps caps them)
  validation: 0.1            # held out for early stopping: a share (< 1) or a count (>= 1)
  threads: 2                 # CPU threads (default: the tier's `threads`)
  precision: auto            # bf16 where the CPU/GPU computes it natively, else fp32
```
The defaults suit a ~135M model on a 2-core CPU: measured on 480 short examples, rank 16 on
all linear layers at lr 2e-3 in batches of 16 learned an 11-way classification in 30 steps.
The command's options override these for one run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ALL_LINEAR", "LrSchedule", "TuneSettings"]

ALL_LINEAR: Literal["all-linear"] = "all-linear"

LrSchedule = Literal["constant", "linear", "cosine"]
"""How the learning rate moves over the planned steps (`TuneSettings.lr_schedule`)."""


class TuneSettings(BaseModel):
    """LoRA fine-tuning of a tier's base model (PEFT), on CPU or GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(default=16, ge=1, le=1024, description="LoRA rank (r).")
    alpha: int = Field(
        default=32, ge=1, description="LoRA alpha: the update is scaled by alpha / rank."
    )
    dropout: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Dropout on the LoRA path while training (0 spares a copy of every LoRA "
        "layer's input: a step on 2 cores took 10.3 s and 3.7 GB instead of 13.1 s and "
        "4.3 GB at 0.05).",
    )
    target_modules: Literal["all-linear"] | list[str] = Field(
        default=ALL_LINEAR,
        description="Layers that get a LoRA: 'all-linear' (every linear layer but the output "
        "head) or module names such as [q_proj, v_proj].",
    )
    learning_rate: float = Field(default=2e-3, gt=0, description="AdamW learning rate.")
    lr_schedule: LrSchedule = Field(
        default="constant",
        description="How the learning rate moves over the planned steps: constant, or from "
        "`learning_rate` down to 0 at the last step along a line or a half cosine (Hugging "
        "Face Trainer's and TRL's default is linear). A decaying rate settles the adapter at "
        "the end instead of leaving it where the last batches pushed it.",
    )
    batch_size: int = Field(default=16, ge=1, description="Examples per optimizer step.")
    epochs: int = Field(
        default=1, ge=1, description="Passes over the training examples (`max_steps` caps it)."
    )
    max_steps: int | None = Field(
        default=None, ge=1, description="Most optimizer steps, whatever `epochs` allows."
    )
    validation: float = Field(
        default=0.1,
        ge=0.0,
        description="Examples held out for validation loss and early stopping, when the data "
        "has no validation split of its own: a share (below 1) or a count (1 and above); 0 "
        "holds none out (no early stop).",
    )
    eval_every: int = Field(
        default=10, ge=1, description="Steps between two validation-loss measurements."
    )
    early_stop_patience: int = Field(
        default=3,
        ge=0,
        description="Stop after this many validation measurements in a row without a new best "
        "loss (the best adapter is kept); 0 never stops early.",
    )
    checkpoint_every: int = Field(
        default=10,
        ge=1,
        description="Steps between two checkpoints; a killed training resumes from the last.",
    )
    max_batch_tokens: int = Field(
        default=384,
        ge=1,
        description="Most tokens (padded) in one forward pass, besides a prompt start the rows "
        "share (it runs once per part, as one row): a larger batch runs in parts whose "
        "gradients add up to the same step, so memory stays bounded (activations take a few "
        "MB a token on a CPU). 384 keeps a 135M model's training under 4 GB; 768 is about a "
        "fifth faster and takes about 0.75 GB more. Raise it on a GPU.",
    )
    share_prefix: bool = Field(
        default=True,
        description="Run the prompt start a batch's examples share (the node's instructions) "
        "once per batch and continue each example from its cache: the same loss and "
        "gradients, computed several times faster for a node with a long prompt.",
    )
    max_length: int = Field(
        default=1024,
        ge=8,
        description="Longest example in tokens (prompt and answer); longer ones are left out "
        "and counted, never cut (a cut prompt is not what the node sends).",
    )
    seed: int = Field(default=0, description="Seed for the LoRA init, batch order and dropout.")
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads for training (default: the tier's threads)."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Arithmetic while training: bf16 autocast, fp32, or auto (bf16 where the "
        "CPU or GPU computes bfloat16 natively, fp32 elsewhere). The adapter is saved in fp32 "
        "either way.",
    )
    base_model: str | None = Field(
        default=None,
        description="A local model folder (Hugging Face layout) to train on, for a tier not "
        "served from a GGUF file (sglang, openai-compatible); a llamacpp tier trains on its "
        "own GGUF.",
    )

    @field_validator("validation")
    @classmethod
    def _share_or_count(cls, value: float) -> float:
        if value >= 1 and not float(value).is_integer():
            raise ValueError(
                f"validation is a share below 1 (0.1) or a whole count of examples (50), "
                f"not {value}"
            )
        return value

    def validation_size(self, examples: int) -> int:
        """How many of `examples` to hold out for validation (at least 1 when asked, if any)."""
        if self.validation <= 0 or examples < 2:
            return 0
        wanted = round(examples * self.validation) if self.validation < 1 else int(self.validation)
        return min(max(wanted, 1), examples - 1)
