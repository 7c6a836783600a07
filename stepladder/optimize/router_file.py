"""Router data from a JSONL file: each row a prompt, each tier's quality, and optionally cost.

One row per line:

    {"prompt": "...", "quality": {"small": 0.0, "frontier": 1.0},
     "cost": {"small": 0.0002, "frontier": 0.01}, "id": "q-17"}

- `prompt`: the text the router sees (a non-empty string).
- `quality`: per tier, a number in [0, 1] (0/1 correctness or a scaled score; true/false
  read as 1/0). Every row names the same tiers, at least two.
- `cost` (optional): per tier, USD per call (>= 0), the same tiers as `quality`.
- `id` (optional): fixes the row's cross-fitting fold; by default a hash of the prompt, so
  repeated prompts share a fold.

Tier order (cheapest first): by mean cost when any row gives costs (ties keep the first
row's order), else the order of the first row's `quality` keys. Blank lines are skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stepladder.errors import UserError
from stepladder.predictors.router.manifest import TierRecord

__all__ = ["RouterFile", "prompt_id", "read_router_file"]


@dataclass(frozen=True)
class RouterFile:
    """The rows of a router data file, tiers cheapest first.

    Attributes:
        path: The file.
        ids: Each row's id.
        texts: Each row's prompt.
        quality: Per tier, each row's quality.
        cost: Per tier, each row's cost (NaN where a row gives none); empty if no row does.
    """

    path: Path
    ids: list[str]
    texts: list[str]
    quality: dict[str, NDArray[np.float64]]
    cost: dict[str, NDArray[np.float64]]

    @property
    def tiers(self) -> list[str]:
        """The tiers, cheapest first."""
        return list(self.quality)

    def mean_costs(self) -> dict[str, float]:
        """Mean cost per call of each tier over the rows giving one (empty: no costs)."""
        return {t: float(np.nanmean(c)) for t, c in self.cost.items()}

    def cost_matrix(self, tiers: list[str]) -> NDArray[np.float64] | None:
        """Costs (rows, `tiers` columns), a missing cost filled by its tier's mean; or None."""
        if not self.cost:
            return None
        means = self.mean_costs()
        columns = [np.where(np.isnan(self.cost[t]), means[t], self.cost[t]) for t in tiers]
        return np.stack(columns, axis=1)

    def tier_records(self) -> dict[str, TierRecord]:
        """Per tier, its mean quality and mean cost per call (0 when no costs are given)."""
        costs = self.mean_costs()
        return {
            t: TierRecord(quality=float(q.mean()), cost_usd_per_call=costs.get(t, 0.0))
            for t, q in self.quality.items()
        }


def prompt_id(prompt: str) -> str:
    """The default id of a row: the first 16 hex digits of sha256(prompt)."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def read_router_file(path: Path) -> RouterFile:
    """Read and check a router data file (the format is in this module's docstring).

    Raises:
        UserError: For a missing or empty file, or a bad row: invalid JSON, a missing
            prompt, quality outside [0, 1], a negative cost, fewer than two tiers, or tiers
            that differ from the first row's; naming the file, line and field.
    """
    if not path.is_file():
        raise UserError(f"--data {path}: no such file (expected JSONL rows of prompt/quality).")
    ids: list[str] = []
    texts: list[str] = []
    quality: list[dict[str, float]] = []
    cost: list[dict[str, float] | None] = []
    tiers: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        row = _row(line, where)
        prompt = _prompt(row, where)
        scores = _values(row.get("quality"), "quality", where, upper=1.0)
        if not tiers:
            tiers = list(scores)
            if len(tiers) < 2:
                raise UserError(
                    f"{where}: `quality` names {len(tiers)} tier(s) ({', '.join(tiers)}); a "
                    "router chooses between at least two, e.g. "
                    '{"small": 0.0, "frontier": 1.0}.'
                )
        _same_tiers(scores, tiers, "quality", where)
        costs = None
        if row.get("cost") is not None:
            costs = _values(row["cost"], "cost", where, upper=None)
            _same_tiers(costs, tiers, "cost", where)
        ids.append(_id(row, prompt, where))
        texts.append(prompt)
        quality.append(scores)
        cost.append(costs)
    if not ids:
        raise UserError(f"--data {path}: no rows (expected one JSON object per line).")
    return _assemble(path, ids, texts, quality, cost, tiers)


def _row(line: str, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: invalid JSON ({error.msg}, column {error.colno}).") from None
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected a JSON object with `prompt` and `quality`.")
    return row


def _prompt(row: dict[str, Any], where: str) -> str:
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        got = "missing" if prompt is None else f"got {json.dumps(prompt)[:40]}"
        raise UserError(f"{where}: `prompt` must be a non-empty string ({got}).")
    return prompt


def _id(row: dict[str, Any], prompt: str, where: str) -> str:
    value = row.get("id")
    if value is None:
        return prompt_id(prompt)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UserError(f"{where}: `id` must be a string or an integer; got {json.dumps(value)}.")
    return str(value)


def _values(value: Any, field: str, where: str, upper: float | None) -> dict[str, float]:
    """A tier -> number object, each number checked against [0, upper]."""
    if not isinstance(value, dict) or not value:
        shown = "missing" if value is None else f"got {json.dumps(value)[:40]}"
        raise UserError(
            f'{where}: `{field}` must be an object of tier -> number, e.g. {{"small": 0.0, '
            f'"frontier": 1.0}} ({shown}).'
        )
    out = {}
    for tier, raw in value.items():
        number = float(raw) if isinstance(raw, int | float) else math.nan
        if not math.isfinite(number) or number < 0 or (upper is not None and number > upper):
            bound = f"a number in [0, {upper:g}]" if upper is not None else "a number >= 0 (USD)"
            raise UserError(f"{where}: `{field}.{tier}` is {json.dumps(raw)}; it must be {bound}.")
        out[str(tier)] = number
    return out


def _same_tiers(values: dict[str, float], tiers: list[str], field: str, where: str) -> None:
    if set(values) != set(tiers):
        missing = ", ".join(t for t in tiers if t not in values)
        extra = ", ".join(t for t in values if t not in tiers)
        parts = (missing and f"lacks {missing}", extra and f"adds {extra}")
        found = "; ".join(p for p in parts if p)
        raise UserError(
            f"{where}: `{field}` {found}; every row must name the first row's tiers: "
            f"{', '.join(tiers)}."
        )


def _assemble(
    path: Path,
    ids: list[str],
    texts: list[str],
    quality: list[dict[str, float]],
    cost: list[dict[str, float] | None],
    tiers: list[str],
) -> RouterFile:
    """Columns per tier, ordered cheapest first when costs are given."""
    quality_columns = {t: np.array([q[t] for q in quality]) for t in tiers}
    cost_columns: dict[str, NDArray[np.float64]] = {}
    if any(c is not None for c in cost):
        cost_columns = {t: np.array([math.nan if c is None else c[t] for c in cost]) for t in tiers}
        means = {t: float(np.nanmean(c)) for t, c in cost_columns.items()}
        tiers = sorted(tiers, key=lambda t: means[t])  # stable: ties keep the first row's order
        cost_columns = {t: cost_columns[t] for t in tiers}
    return RouterFile(path, ids, texts, {t: quality_columns[t] for t in tiers}, cost_columns)
