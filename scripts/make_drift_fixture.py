"""Write the drift tests' Banking77 and CLINC150 texts (tests/fixtures/intents/drift_sets.json).

Drawn from ../shared/data/intents; run from the project root.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.evalsets.drift_project import DRAWS, FIXTURE, draw_intent_sets, draw_key


def main() -> None:
    """Draw every set the tests use and write them as one JSON file."""
    sets = {draw_key(*draw): dataclasses.asdict(draw_intent_sets(*draw)) for draw in DRAWS}
    FIXTURE.write_text(json.dumps(sets, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
