"""Write the drift tests' Banking77 and CLINC150 texts (tests/fixtures/intents/drift_sets.json).

Each draw picks eval and other intents at random (seeded) from ../shared/data/intents.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.monitor.drift_project import DRAWS, FIXTURE, IntentSets, draw_key

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "intents"


def main() -> None:
    """Draw every set the tests use and write them as one JSON file."""
    sets = {draw_key(*draw): dataclasses.asdict(draw_intent_sets(*draw)) for draw in DRAWS}
    FIXTURE.write_text(json.dumps(sets, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size // 1024} KiB)")


def draw_intent_sets(intents: int, per_intent: int, production: int, seed: int) -> IntentSets:
    """The eval set and the production traffic of one draw."""
    test, train = _banking("test.csv"), _banking("train.csv")
    rng = random.Random(seed)
    names = sorted(test)
    rng.shuffle(names)
    chosen, others = names[:intents], names[intents : 2 * intents]
    eval_rows = [(text, intent) for intent in chosen for text in test[intent][:per_intent]]
    each = -(-production // intents)
    same = [text for intent in chosen for text in rng.sample(train[intent], each)][:production]
    remix = rng.sample([text for intent in chosen for text in train[intent]], production)
    other = rng.sample([text for intent in others for text in train[intent]], production)
    return IntentSets(eval_rows, same, remix, other, _clinc(rng, production))


def _banking(name: str) -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    with (DATA / "banking77" / name).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"])
    return by_intent


def _clinc(rng: random.Random, count: int) -> list[str]:
    data = json.loads((DATA / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((DATA / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    money = {intent for name in ("banking", "credit_cards") for intent in domains[name]}
    in_scope = [text for text, intent in data["test"] if intent not in money]
    out_of_scope = [text for text, _ in data["oos_test"]]
    oos = count // 4
    return rng.sample(in_scope, count - oos) + rng.sample(out_of_scope, oos)


if __name__ == "__main__":
    main()
