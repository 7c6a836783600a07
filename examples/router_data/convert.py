"""Convert RouteLLM's and RouterBench's published files to `stepladder router train --data` rows.

    python examples/router_data/convert.py routellm routellm_gsm8k.jsonl gsm8k.jsonl \\
        --tier small=mixtral-8x7b-instruct-v0.1 --tier frontier=gpt-4-1106-preview
    python examples/router_data/convert.py routerbench routerbench_0shot.pkl rb.jsonl \\
        --tier small=mistralai/mistral-7b-chat --tier frontier=gpt-4-1106-preview

RouteLLM (`routellm/evals/`, as recorded in `shared/data/routing/`): fields `id`, `prompt`,
`contaminated` and per model `correct__<model>` (true/false) or, for MT-Bench,
`score__<model>` (a 1-10 judge score, written as score / 10). Contaminated rows are dropped,
as RouteLLM does. No costs are recorded: pass `--price` to `router calibrate`.

RouterBench (`withmartian/routerbench`, `routerbench_0shot.pkl`, a pandas DataFrame; reading
it needs pandas): columns `sample_id`, `prompt`, `eval_name`, one column per model holding
its quality (0..1), and `<model>|total_cost` (USD). `--eval-name` keeps one benchmark's rows.
Without `--tier`, every model found becomes a tier named after it.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

QUALITY_FIELDS = (("correct__", 1.0), ("score__", 10.0))  # prefix, divisor


def routellm_rows(
    rows: Iterable[Mapping[str, Any]],
    tiers: Mapping[str, str] | None = None,
    keep_contaminated: bool = False,
) -> Iterator[dict[str, Any]]:
    """RouteLLM rows as data rows; `tiers` maps tier name -> model (default: every model)."""
    for row in rows:
        if row.get("contaminated") and not keep_contaminated:
            continue
        found = _routellm_quality(row)
        chosen = tiers or {m: m for m in found}
        if not all(found.get(m) is not None for m in chosen.values()):
            continue  # a model without a recorded answer for this prompt
        quality = {tier: found[model] for tier, model in chosen.items()}
        yield {"id": str(row["id"]), "prompt": row["prompt"], "quality": quality}


def _routellm_quality(row: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in row.items():
        for prefix, divisor in QUALITY_FIELDS:
            if key.startswith(prefix) and "router_" not in key:
                out[key[len(prefix) :]] = None if value is None else float(value) / divisor
    return out


def routerbench_rows(
    records: Iterable[Mapping[str, Any]],
    tiers: Mapping[str, str],
    eval_name: str | None = None,
) -> Iterator[dict[str, Any]]:
    """RouterBench records (`DataFrame.to_dict("records")`) as data rows with costs."""
    for record in records:
        if eval_name is not None and record.get("eval_name") != eval_name:
            continue
        quality = {tier: _number(record.get(model)) for tier, model in tiers.items()}
        cost = {tier: _number(record.get(f"{model}|total_cost")) for tier, model in tiers.items()}
        if any(v is None for v in (*quality.values(), *cost.values())):
            continue  # a model without a score or cost for this prompt
        yield {
            "id": str(record["sample_id"]),
            "prompt": str(record["prompt"]),
            "quality": quality,
            "cost": cost,
        }


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["routellm", "routerbench"])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--tier", action="append", default=[], help="TIER=MODEL, cheapest first")
    parser.add_argument("--eval-name", help="RouterBench: keep one benchmark's rows")
    parser.add_argument("--keep-contaminated", action="store_true", help="RouteLLM only")
    args = parser.parse_args(argv)
    tiers = dict(value.split("=", 1) for value in args.tier)
    if args.source == "routellm":
        with args.input.open(encoding="utf-8") as f:
            rows = routellm_rows(map(json.loads, f), tiers or None, args.keep_contaminated)
            count = _write(args.output, rows)
    else:
        import pandas as pd  # RouterBench publishes a pickled DataFrame

        frame = pd.read_pickle(args.input)
        tiers = tiers or {m: m for m in frame.columns if f"{m}|total_cost" in frame.columns}
        count = _write(
            args.output, routerbench_rows(frame.to_dict("records"), tiers, args.eval_name)
        )
    print(f"wrote {count} rows to {args.output}")
    return 0


def _write(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


if __name__ == "__main__":
    raise SystemExit(main())
