"""The names of the optimizers `stepladder optimize` offers (a leaf module: the CLI's help)."""

__all__ = ["OPTIMIZERS"]

OPTIMIZERS = ("bootstrap", "mipro", "gepa", "finetune")
"""The optimizers `optimize` offers: `finetune` trains a LoRA adapter (`finetune.bootstrap`)."""
