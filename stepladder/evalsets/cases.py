"""Eval cases: one JSON object per line (`id`, `inputs`, `expected`, `tags`, `split`, `meta`).

```
{"id": "c1", "inputs": {"message": "refund order 5512"}, "expected": {"category": "REFUND"}}
```

A file with mistakes is reported at once: every bad line (up to `MAX_PROBLEMS`) with its
line number and the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from stepladder.errors import EvalSetError
from stepladder.specs.locations import valid_choices

__all__ = ["EvalCase", "load_cases"]

MAX_PROBLEMS = 20


class EvalCase(BaseModel):
    """One case of an eval set.

    Attributes:
        id: A unique id within the set.
        inputs: The flow's input state.
        expected: The expected value of each scored state key (a key left out is not scored).
        tags: Labels to slice results by (`hard`, `billing`, ...).
        split: The split the case belongs to (`train`, `dev`, `test`, ...), if any.
        meta: Where the case came from, for people (not scored): `stepladder capture` puts
            the trace id, capture time and the production answer here.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="A unique id within the set.")
    inputs: dict[str, Any] = Field(description="The flow's input state.")
    expected: dict[str, Any] = Field(
        default_factory=dict, description="Expected value of each scored state key."
    )
    tags: list[str] = Field(default_factory=list, description="Labels to slice results by.")
    split: str | None = Field(default=None, description="The split the case belongs to.")
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Provenance and notes for people (not scored)."
    )


class _Problems:
    """Problems found in a cases file, each tied to a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            line, message = self.items[0]
            raise EvalSetError(f"{self.path} line {line}: {message}.")
        shown = [f"line {line}: {message}" for line, message in self.items[:MAX_PROBLEMS]]
        more = len(self.items) - len(shown)
        text = f"{self.path}: {len(self.items)} problems in the eval cases: " + "; ".join(shown)
        raise EvalSetError(text + (f" (and {more} more)." if more > 0 else "."))


def load_cases(path: Path, splits: Sequence[str] = ()) -> list[EvalCase]:
    """Read eval cases from a JSONL file (blank lines are skipped).

    Args:
        path: The cases file.
        splits: The split names cases may use; when given, any other split is an error.

    Raises:
        EvalSetError: If the file is missing, empty, or has invalid lines, naming every
            problem with its line number and field.
    """
    text = _read(path)
    problems = _Problems(path)
    cases: list[EvalCase] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        case = _parse_line(line, number, problems)
        if case is None:
            continue
        if case.id in first_line:
            problems.add(number, f"duplicate id '{case.id}' (first on line {first_line[case.id]})")
            continue
        first_line[case.id] = number
        if splits and case.split is not None and case.split not in splits:
            problems.add(
                number, f"split: unknown split '{case.split}'. Valid: {valid_choices(splits)}"
            )
        cases.append(case)
    problems.raise_if_any()
    if not cases:
        raise EvalSetError(
            f"{path}: no cases; an eval set needs at least one case, one JSON object per line "
            '(for example {"id": "c1", "inputs": {...}, "expected": {...}}).'
        )
    return cases


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise EvalSetError(f"{path}: eval cases file not found.") from error
    except (OSError, UnicodeDecodeError) as error:
        raise EvalSetError(f"{path}: cannot read eval cases file: {error}.") from error


def _parse_line(line: str, number: int, problems: _Problems) -> EvalCase | None:
    """One line as a case, or None after recording what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        problems.add(number, f"not valid JSON ({error.msg} at column {error.colno})")
        return None
    except (RecursionError, ValueError):  # nesting past Python's recursion; a huge integer
        problems.add(number, "the JSON nests too deeply or holds an integer too long to read")
        return None
    if not isinstance(data, dict):
        problems.add(
            number,
            f"a case must be a JSON object with `id` and `inputs`, not a {type(data).__name__}",
        )
        return None
    try:
        return EvalCase.model_validate(data)
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            problems.add(number, _describe(detail))
        return None


def _describe(detail: ErrorDetails) -> str:
    where = ".".join(str(part) for part in detail["loc"]) or "case"
    kind = detail["type"]
    if kind == "extra_forbidden":
        fields = valid_choices(EvalCase.model_fields)
        return f"{where}: unknown field. Valid fields: {fields}"
    if kind == "missing":
        return f"{where}: required field is missing"
    got = detail.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{where}: {detail['msg']}{shown}"
