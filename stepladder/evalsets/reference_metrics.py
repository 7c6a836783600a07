"""Metrics that compare an output with the expected value, with no model.

Kinds: exact, label, token F1, contains, numeric and JSON fields. An expected null wants no
value: with `expected_null="match"` (the default) it scores 1 only when the output is null too;
with `expected_null="skip"` the case is not scored at all (`scores_case` leaves it out).
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from stepladder.evalsets.cases import EvalCase
from stepladder.evalsets.metric_base import MetricContext
from stepladder.evalsets.results import MetricScore

__all__ = [
    "ContainsMetric",
    "ExactMetric",
    "JsonFieldsMetric",
    "LabelMetric",
    "NumericMetric",
    "TokenF1Metric",
    "ToolCallsMetric",
    "label_of",
    "parse_number",
    "token_f1",
]

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MISSING = object()


@dataclass(frozen=True)
class _Comparison:
    """A metric computed from output and expected alone; an expected null wants no value.

    Attributes:
        name: The metric's name.
        field: The state key scored.
        expected_null: `match`: an expected null scores 1 when the output is null too, else
            0; `skip`: a case expecting null is not scored (see `scores_case`).
    """

    name: str
    field: str
    expected_null: str = dataclass_field(default="match", kw_only=True)

    @property
    def binary(self) -> bool:
        """Whether every score is 0 or 1."""
        return True

    async def score(
        self, output: Any, expected: Any, case: EvalCase, context: MetricContext
    ) -> MetricScore:
        """Score `output` against `expected`."""
        if expected is None:
            ok = output is None
            detail = "" if ok else f"expected no value, got {_short(output)}"
            return MetricScore(value=float(ok), binary=self.binary, detail=detail)
        return self.compare(output, expected)

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """Score a non-null expected value."""
        raise NotImplementedError


@dataclass(frozen=True)
class ExactMetric(_Comparison):
    """Output equals expected; with `normalize`, strings are stripped and casefolded."""

    normalize: bool = True

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """1 when equal, else 0."""
        ok = _canonical(output, self.normalize) == _canonical(expected, self.normalize)
        return _verdict(ok, output, expected)


@dataclass(frozen=True)
class LabelMetric(_Comparison):
    """The output label is the expected one (or one of a list), ignoring case."""

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """1 when the labels match, else 0."""
        wanted = expected if isinstance(expected, list) else [expected]
        got = label_of(output)
        ok = got is not None and got in {label_of(w) for w in wanted}
        return _verdict(ok, output, expected)


@dataclass(frozen=True)
class TokenF1Metric(_Comparison):
    """SQuAD-style token F1 (the best over a list of expected answers)."""

    @property
    def binary(self) -> bool:
        """Token F1 takes any value in [0, 1]."""
        return False

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """The token F1 of output against expected."""
        references = expected if isinstance(expected, list) else [expected]
        value = max(token_f1(_text(output), _text(r)) for r in references) if references else 0.0
        return MetricScore(value=value, binary=False, detail=f"token F1 {value:.3f}")


@dataclass(frozen=True)
class ContainsMetric(_Comparison):
    """The expected text, or all (or any) texts of a list, appear in the output."""

    all: bool = True
    normalize: bool = True

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """1 when the texts appear, else 0, naming the missing ones."""
        pieces = [_text(p) for p in (expected if isinstance(expected, list) else [expected])]
        text = _text(output)
        if self.normalize:
            text, pieces = _squash(text), [_squash(p) for p in pieces]
        missing = [piece for piece in pieces if piece not in text]
        ok = not missing if self.all else len(missing) < len(pieces)
        detail = "" if ok else "missing: " + ", ".join(repr(piece) for piece in missing)
        return MetricScore(value=float(ok), binary=True, detail=detail)


@dataclass(frozen=True)
class NumericMetric(_Comparison):
    """Output and expected are the same number, within `tolerance` (absolute or relative)."""

    tolerance: float = 0.0
    relative: bool = False

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """1 when the numbers agree within the tolerance, else 0."""
        want, got = parse_number(expected), parse_number(output)
        if want is None:
            return MetricScore(value=0.0, detail=f"expected {_short(expected)} is not a number")
        if got is None:
            return MetricScore(value=0.0, detail=f"no number in the output {_short(output)}")
        allowed = self.tolerance * abs(want) if self.relative else self.tolerance
        difference = abs(got - want)
        ok = difference <= allowed or math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
        detail = "" if ok else f"got {got:g}, expected {want:g} (off by {difference:g})"
        return MetricScore(value=float(ok), binary=True, detail=detail)


@dataclass(frozen=True)
class JsonFieldsMetric(_Comparison):
    """The share of the named fields (dotted paths) whose values match exactly."""

    fields: tuple[str, ...] = ()

    @property
    def binary(self) -> bool:
        """Binary only when one field is compared."""
        return len(self.fields) == 1

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """The share of matching fields, naming the others."""
        want, got = _mapping(expected), _mapping(output)
        if want is None:
            return self._zero(f"expected {_short(expected)} is not an object")
        if got is None:
            return self._zero(f"output {_short(output)} is not an object")
        wrong = [f for f in self.fields if _lookup(got, f) != _lookup(want, f)]
        value = 1.0 - len(wrong) / len(self.fields)
        detail = f"mismatched: {', '.join(wrong)}" if wrong else ""
        return MetricScore(value=value, binary=self.binary, detail=detail)

    def _zero(self, detail: str) -> MetricScore:
        return MetricScore(value=0.0, binary=self.binary, detail=detail)


@dataclass(frozen=True)
class ToolCallsMetric(_Comparison):
    """Every expected call is in the trajectory: a step of that tool, with those arguments.

    The expected value is a call (`{tool, arguments}`) or a list of them, such as the gold
    steps of a worked task (other keys, like `observation`, are not compared); a call
    without `arguments` matches any. The output is the agent's trajectory (its steps).
    """

    def compare(self, output: Any, expected: Any) -> MetricScore:
        """1 when every expected call was made, else 0, naming those that were not."""
        wanted = expected if isinstance(expected, list) else [expected]
        made = [step for step in (output or []) if isinstance(step, Mapping)]
        missing = [call for call in wanted if not any(_made(call, step) for step in made)]
        detail = "not called: " + ", ".join(_call(c) for c in missing) if missing else ""
        return MetricScore(value=float(not missing), binary=True, detail=detail)


def _made(call: Any, step: Mapping[str, Any]) -> bool:
    if not isinstance(call, Mapping) or step.get("tool") != call.get("tool"):
        return False
    return "arguments" not in call or step.get("arguments") == call["arguments"]


def _call(call: Any) -> str:
    if not isinstance(call, Mapping):
        return _short(call)
    arguments = json.dumps(call.get("arguments", "..."), ensure_ascii=False, default=str)
    return f"{call.get('tool')}({arguments})"


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: tokens lowercased, without punctuation and articles (a, an, the)."""
    predicted, wanted = _tokens(prediction), _tokens(reference)
    if not predicted or not wanted:
        return float(predicted == wanted)
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def parse_number(value: Any) -> float | None:
    """A number from a number or the first number in a string (`"$1,234.50"` is 1234.5)."""
    value = _plain(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    try:
        return float(match.group().replace(",", ""))
    except ValueError:
        return None


def _tokens(text: str) -> list[str]:
    lowered = text.lower()
    kept = "".join(
        ch
        for ch in lowered
        if ch not in string.punctuation and not unicodedata.category(ch).startswith("P")
    )
    return _ARTICLES.sub(" ", kept).split()


def _plain(value: Any) -> Any:
    """Enum members as their values, pydantic models as JSON-like dicts."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _canonical(value: Any, normalize: bool) -> Any:
    """`value` as plain data, strings stripped and casefolded when `normalize`."""
    value = _plain(value)
    if isinstance(value, str):
        return value.strip().casefold() if normalize else value
    if isinstance(value, list | tuple):
        return [_canonical(item, normalize) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item, normalize) for key, item in value.items()}
    return value


def label_of(value: Any) -> str | None:
    """A label as the `label` metric compares it: stripped, casefolded (None stays None)."""
    value = _plain(value)
    return None if value is None else str(value).strip().casefold()


def _text(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


def _mapping(value: Any) -> dict[str, Any] | None:
    value = _plain(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return _canonical(value, normalize=False) if isinstance(value, dict) else None


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _short(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _verdict(ok: bool, output: Any, expected: Any) -> MetricScore:
    detail = "" if ok else f"got {_short(output)}, expected {_short(expected)}"
    return MetricScore(value=float(ok), binary=True, detail=detail)
