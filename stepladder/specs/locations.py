"""YAML documents that remember where each item came from, and how to name an item.

A `LocatedDocument` pairs the plain data (from PyYAML's safe loader) with a map from each
item's path (`("nodes", 2, "reads", 0)`) to its line, so errors can say `nodes[2].reads[0]
(flows/x.yaml, line 14)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stepladder.specs.spec_yaml import SpecYAMLError, compose_spec, read_spec_text

__all__ = [
    "LocatedDocument",
    "Path_",
    "describe_yaml_error",
    "format_path",
    "load_yaml",
    "near_miss",
    "read_spec_text",
    "valid_choices",
]

Path_ = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a path the way a YAML reader thinks of it: `nodes[2].reads[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def near_miss(word: str, choices: Iterable[str]) -> str | None:
    """Return the closest choice to `word`, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def valid_choices(choices: Iterable[str]) -> str:
    """Format a list of valid choices for an error message."""
    items = sorted(set(choices))
    return ", ".join(items) if items else "(none)"


@dataclass(frozen=True)
class LocatedDocument:
    """Parsed YAML data plus the line of every item in it.

    Attributes:
        data: The document as plain Python data.
        source: The file it came from, or None for text or dicts.
        lines: 1-based line of each item, keyed by its path.
    """

    data: Any
    source: Path | None = None
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Return the line of the item at `path`, or of its nearest located parent."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def where(self, path: Sequence[str | int]) -> str:
        """Describe an item as `nodes[2].reads[0] (file.yaml, line 14)`."""
        place = format_path(path)
        line = self.line_of(path)
        origin = [str(self.source)] if self.source else []
        if line is not None and (self.source or self.lines):
            origin.append(f"line {line}")
        return f"{place} ({', '.join(origin)})" if origin else place


def load_yaml(text: str, source: Path | None = None) -> LocatedDocument:
    """Parse spec YAML once, with bounded work, recording the line of every item.

    Anchors and aliases, nesting deeper than 100 levels, duplicate keys and text over the
    size limit are refused (see `stepladder.specs.spec_yaml`).

    Raises:
        yaml.YAMLError: On a syntax error or a refused document (callers turn it into their
            own error with `describe_yaml_error`).
    """
    data, lines = compose_spec(text)
    return LocatedDocument(data=data, source=source, lines=lines)


def describe_yaml_error(error: yaml.YAMLError, source: Path | None) -> str:
    """Turn a PyYAML syntax error, or a refused spec document, into one readable sentence."""
    if isinstance(error, SpecYAMLError):
        return _describe_refusal(error, source)
    if isinstance(error, yaml.reader.ReaderError):
        return (
            f"{source or 'YAML text'}: invalid YAML: unacceptable character "
            f"#x{error.character:04x} at character {error.position + 1}: {error.reason}."
        )
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    where = str(source) if source else "YAML text"
    if mark is not None:
        where += f", line {mark.line + 1}, column {mark.column + 1}"
    detail = f"{context}, {problem}" if context else problem
    if isinstance(error, yaml.constructor.ConstructorError) and "tag" in problem:
        detail += (
            "; spec files take plain YAML only (mappings, lists, strings, numbers, booleans): "
            "remove the `!` tag"
        )
    return f"{where}: invalid YAML: {detail}."


def _describe_refusal(error: SpecYAMLError, source: Path | None) -> str:
    """`nodes (flows/x.yaml, line 30): duplicate key ...`, or `flows/x.yaml, line 3: ...`."""
    where = str(source) if source else "YAML text"
    if error.line is not None:
        where += f", line {error.line}"
    if error.path:
        where = f"{format_path(error.path)} ({where})"
    return f"{where}: {error.problem}."
