"""Labelled examples for embedding classifiers: JSONL, JSON or CSV files of text and label.

Each row holds a text and its label, under configurable column names (`text` and `label` by
default). A CSV file may use any one-character delimiter: given, or sniffed from its first
lines (`csv.Sniffer`, among `,` `;` tab `|` `:`), with `,` (`.csv`) or tab (`.tsv`) when the
sniffer cannot tell. A missing column, an empty file or an empty text is reported as a
`ConfigError` naming the file, the row and the columns that are there. `read_texts` reads texts
to label: JSONL (a string or an object per line) or plain text, one per line.
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

__all__ = [
    "LabelledTexts",
    "csv_delimiter",
    "label_summary",
    "read_examples",
    "read_texts",
    "split_validation",
]

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
SNIFF_LINES = 50
"""The delimiter is sniffed from this many first lines."""
SNIFFED_DELIMITERS = ",;\t|:"
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


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
    path: str | Path,
    text_field: str = "text",
    label_field: str = "label",
    delimiter: str | None = None,
) -> LabelledTexts:
    """Read labelled examples from a JSONL, JSON (a list of objects) or CSV/TSV file.

    Args:
        path: The file.
        text_field: The column holding the text.
        label_field: The column holding the label.
        delimiter: A CSV file's column separator (one character, or `tab`); None
            sniffs it from the file.

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
    hint = ""
    if file.suffix.lower() in (".csv", ".tsv"):
        delimiter = csv_delimiter(file, text, delimiter)
        hint = f" The file was read with delimiter {delimiter!r}; set another with --delimiter."
    rows = _parse(file, text, delimiter)
    if not rows:
        raise ConfigError(
            f"{file}: no examples; each row needs '{text_field}' and '{label_field}'."
        )
    pairs = [_pair(file, number, row, text_field, label_field, hint) for number, row in rows]
    return LabelledTexts.of(pairs, str(file))


def csv_delimiter(file: Path, text: str, given: str | None = None) -> str:
    """The column separator of a CSV file: `given` (checked), else sniffed from its first lines.

    Raises:
        ConfigError: If `given` is not one character (or `tab`).
    """
    if given is not None:
        delimiter = DELIMITER_NAMES.get(given.lower(), given)
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ConfigError(
                f"--delimiter {given!r}: a CSV delimiter is one character, such as ',', ';', "
                "'|' or 'tab'."
            )
        return delimiter
    sample = "\n".join(text.splitlines()[:SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFFED_DELIMITERS).delimiter
    except csv.Error:
        return "\t" if file.suffix.lower() == ".tsv" else ","


def _parse(file: Path, text: str, delimiter: str | None) -> list[tuple[int, Mapping[str, Any]]]:
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter=delimiter or ",")
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
    file: Path,
    number: int,
    row: Mapping[str, Any],
    text_field: str,
    label_field: str,
    hint: str = "",
) -> tuple[str, str]:
    for field in (text_field, label_field):
        if row.get(field) is None:
            there = ", ".join(str(k) for k in row if k is not None) or "(none)"
            raise ConfigError(
                f"{file}, row {number}: no '{field}' column (columns here: {there}). Name the "
                f"columns with --text-field and --label-field (text_field, label_field in "
                f"Python).{hint}"
            )
    text, label = str(row[text_field]).strip(), str(row[label_field]).strip()
    if not text or not label:
        raise ConfigError(
            f"{file}, row {number}: empty '{text_field if not text else label_field}'."
        )
    return text, label


def read_texts(path: str | Path, text_field: str = "text") -> list[str]:
    """Read texts to label: JSONL, or plain text with one text per line.

    A `.jsonl` (or `.ndjson`) file holds per line a JSON string or an object with the text
    under `text_field`; any other file is one text per line. Blank lines are skipped.

    Raises:
        ConfigError: If the file is unreadable, holds no text, or a JSON line is not a
            string or lacks `text_field` (naming the line).
    """
    file = Path(path)
    try:
        content = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot read texts: {error}.") from error
    lines = [(n, line) for n, line in enumerate(content.splitlines(), start=1) if line.strip()]
    if file.suffix.lower() in JSON_LINES_SUFFIXES:
        texts = [_text_of(file, n, _load_json(file, line, n), text_field) for n, line in lines]
    else:
        texts = [line.strip() for _, line in lines]
    if not texts:
        raise ConfigError(f"{file}: no texts (one per line, or JSONL).")
    return texts


def _text_of(file: Path, number: int, item: Any, text_field: str) -> str:
    if isinstance(item, Mapping) and isinstance(item.get(text_field), str):
        return str(item[text_field])
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        there = ", ".join(str(k) for k in item) or "(none)"
        raise ConfigError(
            f"{file}, line {number}: no '{text_field}' text (keys here: {there}); name the key "
            "with --text-field."
        )
    raise ConfigError(
        f"{file}, line {number}: expected a string or an object with '{text_field}', not "
        f"{type(item).__name__}."
    )


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
