"""Draw the example's routing cases from the full Bitext sample (deterministic).

The support flow's classify node has two real rungs: the embedding classifier (trained on
`examples/data/bitext/category_train.csv`) and the small model with its tuned adapter (`make
tune`, trained on `evalsets/support_category.yaml`'s train and dev cases). A router between
them must learn from messages neither rung was trained on: this draws them from the full
Bitext CSV (4,514 rows, in `../shared/data/support/bitext/`), leaving out every message of
the example's own sample (compared case-folded), and writes them to
`examples/evalsets/category_route.jsonl` as cases expecting the category, split `train`
(what the router learns from) and `test` (routed and compared).

    python scripts/make_route_sample.py [--source BITEXT.csv] [--train 300] [--test 150]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SOURCE = Path(__file__).resolve().parents[2] / (
    "shared/data/support/bitext/Bitext_Sample_Customer_Support_Training_Dataset_4514.csv"
)
SEED = 20


def folded(text: str) -> str:
    """The message compared case- and space-insensitively."""
    return " ".join(text.casefold().split())


def draw(source: Path, count: int) -> list[dict[str, str]]:
    """`count` distinct messages of `source` that the example's sample does not hold."""
    with (EXAMPLES / "data/bitext/support_sample.csv").open(encoding="utf-8") as handle:
        taken = {folded(row["instruction"]) for row in csv.DictReader(handle)}
    rows: dict[str, dict[str, str]] = {}
    with source.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = folded(row["instruction"])
            if key not in taken and key not in rows:
                rows[key] = {"text": row["instruction"], "label": row["category"]}
    drawn = list(rows.values())
    random.Random(SEED).shuffle(drawn)
    if len(drawn) < count:
        raise SystemExit(f"{source}: {len(drawn)} new messages, {count} wanted")
    return drawn[:count]


def main() -> None:
    """Draw the cases and write the eval set's case file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the full Bitext CSV")
    parser.add_argument("--train", type=int, default=300, help="cases the router learns from")
    parser.add_argument("--test", type=int, default=150, help="cases routed and compared")
    args = parser.parse_args()
    rows = draw(args.source, args.train + args.test)
    cases = [
        {"id": f"route-{index:03d}", "inputs": {"message": row["text"]},
         "expected": {"category": row["label"]}, "tags": [row["label"]],
         "split": "train" if index < args.train else "test"}
        for index, row in enumerate(rows)
    ]  # fmt: skip
    out = EXAMPLES / "evalsets/category_route.jsonl"
    out.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
