"""One supervised example for a node: the exact chat messages it sends, and the gold answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainingExample", "input_hash"]


@dataclass(frozen=True)
class TrainingExample:
    """What a node sends at run time, and the answer it should give.

    Attributes:
        node: The node's id in its flow.
        messages: The chat messages exactly as the node sends them (role and content), in
            order: the system message, any demos, the user message.
        completion: The assistant's answer the model should learn: the JSON the node's output
            schema requires, as the constrained adapter expects it back.
        source: Where the example came from, for messages (`evalset:support#12`,
            `capture:cases/3.json`, `review:<thread>`).
        input_hash: `input_hash` of the case's flow inputs, to keep test cases out of training.
    """

    node: str
    messages: tuple[Mapping[str, str], ...]
    completion: str
    source: str
    input_hash: str


def input_hash(inputs: Mapping[str, Any]) -> str:
    """A stable hash of a case's inputs (keys sorted, JSON), the same for equal inputs."""
    text = json.dumps(dict(inputs), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
