"""The completion-only loss: cross-entropy over the answer's tokens of a right-padded batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepladder.optimize.finetune.encoding import IGNORE_INDEX, EncodedExample

__all__ = ["collate", "completion_loss"]


def completion_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """The summed cross-entropy over a batch's answer tokens, and how many there are.

    Logits are computed only from the first answer position on (`logits_to_keep`), so the
    output head, large for a small model, does not run over the prompts.
    """
    # Lazy: torch is the optional `tune` extra.
    import torch
    from torch.nn import functional  # lazy: the `tune` extra

    labels = batch["labels"]
    answer = labels != IGNORE_INDEX
    first = int(answer.to(torch.int64).argmax(dim=1).min())
    keep = torch.arange(max(first - 1, 0), labels.shape[1] - 1, device=labels.device)
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        logits_to_keep=keep,
        use_cache=False,
    ).logits
    targets = labels[:, keep + 1]
    total = functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return total, int((targets != IGNORE_INDEX).sum())


def collate(examples: Sequence[EncodedExample], pad_id: int, device: Any) -> dict[str, Any]:
    """Pad a batch to its longest example (right side): ids, attention mask and labels."""
    # Lazy: torch is the optional `tune` extra.
    import torch

    width = max(len(example) for example in examples)
    ids, mask, labels = [], [], []
    for example in examples:
        pad = width - len(example)
        ids.append([*example.input_ids, *([pad_id] * pad)])
        mask.append([1] * len(example) + [0] * pad)
        labels.append([*example.labels, *([IGNORE_INDEX] * pad)])
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
        "labels": torch.tensor(labels, device=device),
    }
