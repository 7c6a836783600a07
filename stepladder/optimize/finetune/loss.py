"""The completion-only loss: cross-entropy over the answer's tokens of a right-padded batch.

The examples of one node share most of their prompt (the system message: instructions,
fields, labels), and only the request and the answer differ. A batch whose prompts start
with the same tokens runs that prefix once and lends its key/value cache to every row
(`shared_prefix`, `collate(prefix=...)`): the same loss and gradients, with the prefix's
cost paid once per batch instead of once per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepladder.optimize.finetune.encoding import IGNORE_INDEX, EncodedExample

__all__ = ["MIN_SHARED_PREFIX", "collate", "completion_loss", "shared_prefix"]

MIN_SHARED_PREFIX = 16
"""The shortest common prompt start worth running once for the whole batch."""


def shared_prefix(examples: Sequence[EncodedExample]) -> int:
    """How many leading tokens all the examples' prompts share (0 when under the minimum).

    At most each prompt but its last token, so every row still predicts its first answer
    token from a position of its own.
    """
    if len(examples) < 2:
        return 0
    limit = min(example.prompt_length for example in examples) - 1
    first = examples[0].input_ids
    length = 0
    while length < limit and all(e.input_ids[length] == first[length] for e in examples):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


def completion_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """The summed cross-entropy over a batch's answer tokens, and how many there are.

    Logits are computed only from the first answer position on (`logits_to_keep`), so the
    output head, large for a small model, does not run over the prompts. A batch with
    `prefix_ids` runs them once, and its rows continue from their key/value cache.
    """
    # Lazy: torch is the optional `tune` extra.
    import torch
    from torch.nn import functional  # lazy: the `tune` extra

    labels = batch["labels"]
    answer = labels != IGNORE_INDEX
    first = int(answer.to(torch.int64).argmax(dim=1).min())
    keep = torch.arange(max(first - 1, 0), labels.shape[1] - 1, device=labels.device)
    mask, cache = batch["attention_mask"], None
    prefix = batch.get("prefix_ids")
    if prefix is not None:
        cache = model(input_ids=prefix, use_cache=True).cache
        cache.batch_repeat_interleave(labels.shape[0])
        mask = torch.cat([torch.ones_like(prefix).expand(labels.shape[0], -1), mask], dim=1)
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=mask,
        cache=cache,
        logits_to_keep=keep,
        use_cache=cache is not None,
    ).logits
    targets = labels[:, keep + 1]
    total = functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return total, int((targets != IGNORE_INDEX).sum())


def collate(
    examples: Sequence[EncodedExample], pad_id: int, device: Any, prefix: int = 0
) -> dict[str, Any]:
    """Pad a batch to its longest example (right side): ids, attention mask and labels.

    With `prefix`, the first `prefix` tokens (the same in every example: `shared_prefix`)
    go once into `prefix_ids`, and the rest of each example is padded.
    """
    # Lazy: torch is the optional `tune` extra.
    import torch

    width = max(len(example) for example in examples) - prefix
    ids, mask, labels = [], [], []
    for example in examples:
        pad = width - (len(example) - prefix)
        ids.append([*example.input_ids[prefix:], *([pad_id] * pad)])
        mask.append([1] * (len(example) - prefix) + [0] * pad)
        labels.append([*example.labels[prefix:], *([IGNORE_INDEX] * pad)])
    batch = {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
        "labels": torch.tensor(labels, device=device),
    }
    if prefix:
        batch["prefix_ids"] = torch.tensor([examples[0].input_ids[:prefix]], device=device)
    return batch
