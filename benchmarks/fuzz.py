"""Fuzz the CLI with mutated projects and count the outcomes.

Runs the fuzz suite's generator (`tests/fuzz`) over N cases, drawn from seeds `SEED..SEED+N-1`:
mutated flow files, settings files, eval specs and run inputs, plus hostile references that try
to run code. Each case runs through the CLI in a worker process with a per-case timeout and a
memory bound. The last line of stdout is a JSON object:

    {"benchmark": "fuzz", "cases": N, "clear_errors": .., "tracebacks": 0, "hangs": 0,
     "code_executed": 0, ...}

    .venv/bin/python benchmarks/fuzz.py [--cases 1000] [--seed 0] [--show 5]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stepladder.progress import progress_bar
from tests.fuzz.cases import FuzzCase, generate_case
from tests.fuzz.harness import FuzzWorker, Outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="Failures to print in full.")
    args = parser.parse_args()
    statuses: collections.Counter[str] = collections.Counter()
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures: list[tuple[int, FuzzCase, Outcome]] = []
    executed = 0
    started = time.perf_counter()
    with FuzzWorker() as worker, progress_bar() as bar:
        task = bar.add_task("fuzz", total=args.cases)
        for seed in range(args.seed, args.seed + args.cases):
            case = generate_case(random.Random(seed))
            outcome = worker.run(case)
            statuses[outcome.status] += 1
            by_kind[case.kind][outcome.status] += 1
            executed += outcome.code_executed
            if not outcome.acceptable:
                failures.append((seed, case, outcome))
            bar.advance(task)
    seconds = time.perf_counter() - started
    for seed, case, outcome in failures[: args.show]:
        print(f"--- seed {seed}: {outcome.status}, exit {outcome.exit_code}", file=sys.stderr)
        print(case.describe()[:800], file=sys.stderr)
        print(outcome.output[-1200:], file=sys.stderr)
    result = {
        "benchmark": "fuzz",
        "cases": args.cases,
        "seed": args.seed,
        "ok": statuses["ok"],
        "clear_errors": statuses["clear"],
        "tracebacks": statuses["traceback"],
        "hangs": statuses["hang"],
        "memory": statuses["memory"],
        "crashes": statuses["crash"],
        "code_executed": executed,
        "seconds": round(seconds, 1),
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
