"""Metrics for list outputs: set precision, recall and F1 over extracted items.

Items are matched by a key: the item itself (strings casefolded and stripped when
`normalize`), a field of dict items (`key: name`, dotted paths reach nested fields) or a
Python callable (`key: module:function`, given one item, returning something hashable).
Duplicates count once. An empty output has precision 1 (it claims nothing wrong), an empty
expected list recall 1 (there was nothing to find); both empty score 1 on all three.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal

from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metric_base import MetricContext
from stepladder.evalsets.results import MetricScore

__all__ = ["SetMetric", "SetMetricKind", "field_key", "set_scores"]

SetMetricKind = Literal["set_precision", "set_recall", "set_f1"]
KeyFunction = Callable[[Any], Any]


def field_key(path: str) -> KeyFunction:
    """A key function reading the dotted field `path` of a dict item (or an attribute)."""
    parts = path.split(".")

    def key(item: Any) -> Any:
        for part in parts:
            item = item.get(part) if isinstance(item, dict) else getattr(item, part, None)
        return item

    return key


def _hashable(value: Any, normalize: bool) -> Hashable:
    if isinstance(value, str):
        return " ".join(value.split()).casefold() if normalize else value
    if isinstance(value, Hashable):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def set_scores(
    output: Any, expected: Any, key: KeyFunction | None = None, normalize: bool = True
) -> tuple[float, float, float]:
    """Precision, recall and F1 of the items of `output` against those of `expected`."""
    got = _keys(output, key, normalize)
    wanted = _keys(expected, key, normalize)
    hits = len(got & wanted)
    precision = hits / len(got) if got else 1.0
    recall = hits / len(wanted) if wanted else 1.0
    if not got and not wanted:
        return 1.0, 1.0, 1.0
    if not got or not wanted or hits == 0:
        return precision, recall, 0.0
    return precision, recall, 2 * precision * recall / (precision + recall)


def _keys(items: Any, key: KeyFunction | None, normalize: bool) -> set[Hashable]:
    if items is None:
        return set()
    listed = items if isinstance(items, list | tuple | set) else [items]
    return {_hashable(key(item) if key else item, normalize) for item in listed}


@dataclass(frozen=True)
class SetMetric:
    """Set precision, recall or F1 of a list output (`kind`), items matched by `key`."""

    name: str
    field: str
    kind: SetMetricKind
    key: KeyFunction | None = None
    normalize: bool = True
    expected_null: str = dataclass_field(default="match", kw_only=True)

    @property
    def binary(self) -> bool:
        """Any value in [0, 1]."""
        return False

    async def score(
        self, output: Any, expected: Any, case: EvalCase, context: MetricContext
    ) -> MetricScore:
        """The metric's share, with all three in the detail."""
        precision, recall, f1 = set_scores(output, expected, self.key, self.normalize)
        value = {"set_precision": precision, "set_recall": recall, "set_f1": f1}[self.kind]
        detail = f"precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}"
        return MetricScore(value=value, binary=False, detail=detail)
