"""Build the example eval sets from the data samples under `examples/data/` (deterministic).

- `examples/evalsets/support.jsonl`: 2 messages per Bitext intent (54 cases) from
  `data/bitext/support_sample.csv`, expecting the category and the entity (type and value,
  null when the message names none); tags are the category and the intent; the first of each
  pair is split `dev`, the second `test`.
- `examples/data/bitext/category_train.csv`: the sample's other messages (none is an eval case)
  with their category: what the example's embedding classifier is trained on.
- `examples/evalsets/support_category.jsonl`: the category alone, for optimizing the classify
  node: the messages of `category_train.csv` (split `train`) and the support cases (splits
  `dev` and `test`, unchanged).
- `examples/evalsets/faq.jsonl`: the second paraphrased query of each of the 40 StackFAQ
  threads, expecting that thread first among the retrieved passages; split `test`.

    python scripts/make_example_evalsets.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def support_cases() -> list[dict[str, object]]:
    """Two cases per intent, in the sample's order."""
    rows = list(csv.DictReader((EXAMPLES / "data/bitext/support_sample.csv").open()))
    cases: list[dict[str, object]] = []
    taken: dict[str, int] = {}
    for index, row in enumerate(rows):
        seen = taken.get(row["intent"], 0)
        if seen >= 2:
            continue
        taken[row["intent"]] = seen + 1
        cases.append({
            "id": f"support-{index:03d}",
            "inputs": {"message": row["instruction"]},
            "expected": {"category": row["category"],
                         "entity_type": row["entity_type"] or None,
                         "entity_value": row["entity_value"] or None},
            "tags": [row["category"], row["intent"]],
            "split": "dev" if seen == 0 else "test",
        })  # fmt: skip
    return cases


def category_training_rows() -> list[dict[str, str]]:
    """The sample's messages that are not eval cases, with their category."""
    rows = list(csv.DictReader((EXAMPLES / "data/bitext/support_sample.csv").open()))
    in_eval = {c["inputs"]["message"] for c in support_cases()}  # type: ignore[index]
    return [{"text": r["instruction"], "label": r["category"]}
            for r in rows if r["instruction"] not in in_eval]  # fmt: skip


def support_category_cases() -> list[dict[str, object]]:
    """The training messages (split `train`), then the support cases, expecting the category."""
    train = [{"id": f"category-{index:03d}", "inputs": {"message": row["text"]},
              "expected": {"category": row["label"]}, "tags": [row["label"]], "split": "train"}
             for index, row in enumerate(category_training_rows())]  # fmt: skip
    held = [{**case, "expected": {"category": case["expected"]["category"]}}  # type: ignore[index]
            for case in support_cases()]  # fmt: skip
    return train + held


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """A CSV file with a header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{path}: {len(rows)} rows")


def faq_cases() -> list[dict[str, object]]:
    """The second paraphrase of each thread."""
    queries = [json.loads(line) for line in (EXAMPLES / "data/stackfaq/queries.jsonl").open()]
    cases: list[dict[str, object]] = []
    count: dict[str, int] = {}
    for query in queries:
        count[query["thread"]] = count.get(query["thread"], 0) + 1
        if count[query["thread"]] == 2:
            cases.append({
                "id": f"faq-{query['thread'].split('-')[-1]}",
                "inputs": {"question": query["query"]},
                "expected": {"passages": query["thread"]},
                "tags": [query["thread"]],
                "split": "test",
            })  # fmt: skip
    return cases


def write(path: Path, cases: list[dict[str, object]]) -> None:
    """One JSON object per line."""
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    write(EXAMPLES / "evalsets/support.jsonl", support_cases())
    write(EXAMPLES / "evalsets/support_category.jsonl", support_category_cases())
    write(EXAMPLES / "evalsets/faq.jsonl", faq_cases())
    write_csv(EXAMPLES / "data/bitext/category_train.csv", category_training_rows())
