"""Labelled examples for embedding classifiers: JSONL, JSON or CSV files of text and label.

Each row holds a text and its label, under configurable column names (`text` and `label` by
default). A missing column, an empty file or an empty text is reported as a `ConfigError`
naming the file, the row and the columns that are there.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stepladder.errors import ConfigError

__all__ = ["LabelledTexts", "label_summary", "read_examples", "split_validation"]

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with one label each.

    Attributes:
        texts: The texts.
        labels: The label of each text.
        source: Where they came from (a file path or a description).
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str = "examples"

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]], source: str = "examples") -> LabelledTexts:
        """Build from (text, label) pairs."""
        rows = list(pairs)
        return cls(tuple(t for t, _ in rows), tuple(lb for _, lb in rows), source)

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> Counter[str]:
        """How many examples each label has."""
        return Counter(self.labels)

    def select_label(self, label: str) -> LabelledTexts:
        """The examples labelled `label`."""
        return self.select(i for i, lb in enumerate(self.labels) if lb == label)

    def select(self, indices: Iterable[int]) -> LabelledTexts:
        """The examples at `indices`, in that order."""
        chosen = list(indices)
        return LabelledTexts(
            tuple(self.texts[i] for i in chosen), tuple(self.labels[i] for i in chosen), self.source
        )


def read_examples(
    path: str | Path, text_field: str = "text", label_field: str = "label"
) -> LabelledTexts:
    """Read labelled examples from a JSONL, JSON (a list of objects) or CSV/TSV file.

    Raises:
        ConfigError: If the file is missing, unreadable, empty, or a row lacks a column.
    """
    file = Path(path)
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigError(
            f"{file}: unknown example file type '{file.suffix}'; use one of "
            f"{', '.join(SUFFIXES)} with columns '{text_field}' and '{label_field}'."
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot read examples: {error}.") from error
    rows = _parse(file, text)
    if not rows:
        raise ConfigError(
            f"{file}: no examples; each row needs '{text_field}' and '{label_field}'."
        )
    pairs = [_pair(file, number, row, text_field, label_field) for number, row in rows]
    return LabelledTexts.of(pairs, str(file))


def _parse(file: Path, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        return [(number, row) for number, row in enumerate(reader, start=2)]
    if suffix == ".json":
        data = _load_json(file, text, 1)
        if not isinstance(data, list):
            raise ConfigError(
                f"{file}: expected a JSON list of objects, not {type(data).__name__}."
            )
        return [(number, _object(file, number, item)) for number, item in enumerate(data, 1)]
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return [(n, _object(file, n, _load_json(file, line, n))) for n, line in lines]


def _load_json(file: Path, text: str, line: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{file}, line {line}: not valid JSON: {error.msg}.") from error


def _object(file: Path, number: int, item: Any) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{file}, row {number}: expected an object, not {type(item).__name__}.")
    return item


def _pair(
    file: Path, number: int, row: Mapping[str, Any], text_field: str, label_field: str
) -> tuple[str, str]:
    for field in (text_field, label_field):
        if row.get(field) is None:
            there = ", ".join(str(k) for k in row if k is not None) or "(none)"
            raise ConfigError(
                f"{file}, row {number}: no '{field}' column (columns here: {there}). Name the "
                f"columns with --text-field and --label-field (text_field, label_field in Python)."
            )
    text, label = str(row[text_field]).strip(), str(row[label_field]).strip()
    if not text or not label:
        raise ConfigError(
            f"{file}, row {number}: empty '{text_field if not text else label_field}'."
        )
    return text, label


def label_summary(labels: Sequence[str], limit: int = 8) -> str:
    """The labels as a short comma-separated list (`a, b, c, ... (40 in all)`)."""
    unique = sorted(set(labels))
    shown = ", ".join(unique[:limit])
    return shown if len(unique) <= limit else f"{shown}, ... ({len(unique)} in all)"


def split_validation(
    examples: LabelledTexts, share: float, seed: int = 0
) -> tuple[LabelledTexts, LabelledTexts]:
    """Hold out `share` of each label's examples (at least one, never a label's only one)."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(examples.labels):
        by_label.setdefault(label, []).append(index)
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) > 1:
            count = max(1, round(share * len(members)))
            held.extend(rng.permutation(members)[:count].tolist())
    chosen = set(held)
    train = examples.select(i for i in range(len(examples)) if i not in chosen)
    validation = examples.select(sorted(chosen))
    source = f"{share:.0%} of {examples.source} (seed {seed})"
    return train, LabelledTexts(validation.texts, validation.labels, source)
