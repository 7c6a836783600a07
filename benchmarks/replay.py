"""Record once, replay: a full eval against replayed evals of the example support flow.

The example project (`examples/`: the support flow, its eval set, SmolLM2-135M-Instruct on the
embedded llama.cpp server) is copied to a temporary folder, with its trained classifier. One
project stays open, so the model server starts once (a warm-up case first). Each repeat runs:

1. `recorded`: the eval, recorded (`stepladder eval SPEC`);
2. with the last node's (`reply`) instructions changed, in turn (the order flips each repeat):
   `full_changed`, the eval of the changed flow without replay (what a change costs today), and
   `last_node_changed`, the same eval replayed from the recorded run's record (`stepladder eval
   SPEC --replay RUN_ID`): `reply` runs, `classify` and `extract` are served from the record;
3. `nothing_changed`: the flow as recorded, replayed again: no node should run.

`speedup_last_node_changed` is `full_changed` over `last_node_changed`: both run the changed
`reply`, whose answers (and so their length and time) may differ from the recorded ones.
Wall time is the eval's (cases, scoring, writing results and the record); model calls are the
calls of the nodes that ran (a full run's from its record). `identical_nothing_changed` says
whether every case's outputs and scores equal the recorded run's. Medians over the repeats.

    .venv/bin/python benchmarks/replay.py [--split test] [--limit 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import stepladder
from stepladder.api import EvalResult
from stepladder.replay import load_record, record_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SPEC = "evalsets/support.yaml"
FLOW = "flows/support.yaml"
ORIGINAL = "instructions: Write a short, friendly reply from the support team to the customer."
CHANGED = (
    "instructions: Write a short, friendly reply from the support team to the customer, "
    "and thank them for their patience."
)


def copy_project(target: Path) -> Path:
    """The example project under `target`, with its trained classifier (no other state)."""
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".stepladder"))
    classifiers = EXAMPLES / ".stepladder" / "classifiers"
    if not classifiers.is_dir():
        raise SystemExit("train the example classifier first: make examples")
    shutil.copytree(classifiers, target / ".stepladder" / "classifiers")
    return target


def set_reply(root: Path, instructions: str) -> None:
    """Write the reply node's instructions into the project's support flow."""
    path = root / FLOW
    text = path.read_text(encoding="utf-8")
    for line in (ORIGINAL, CHANGED):
        text = text.replace(line, instructions)
    path.write_text(text, encoding="utf-8")


def timed_eval(project: Any, options: dict[str, Any], **replay: Any) -> tuple[float, EvalResult]:
    """One eval's wall time and result."""
    started = time.perf_counter()
    result = project.eval(SPEC, **options, **replay)
    return time.perf_counter() - started, result


def outcome(result: EvalResult) -> dict[str, Any]:
    """Every case's outputs and scores, for comparing two runs."""
    return {
        r.case_id: (r.outputs, {name: score.value for name, score in r.scores.items()})
        for r in result.record.results
    }


def recorded_calls(root: Path, run_id: str) -> int:
    """The model calls of a recorded (full) run."""
    record = load_record(record_path(root / ".stepladder", run_id))
    return sum(call.model_calls for call in record.calls)


def run(root: Path, options: dict[str, Any], repeats: int) -> dict[str, list[Any]]:
    """The three evals, `repeats` times, on one open project."""
    seen: dict[str, list[Any]] = {key: [] for key in (
        "full_s", "changed_s", "last_s", "same_s", "full_calls", "changed_calls", "last_calls",
        "same_calls", "identical", "last_ran", "last_replayed")}  # fmt: skip
    with stepladder.open_project(root) as project:
        project.eval(SPEC, **{**options, "limit": 1}, record=False)  # warm-up: starts the model
        for repeat in range(repeats):
            set_reply(root, ORIGINAL)
            full_s, full = timed_eval(project, options)
            set_reply(root, CHANGED)
            if repeat % 2:
                last_s, last = timed_eval(project, options, replay=full.run_id)
                changed_s, changed = timed_eval(project, options)
            else:
                changed_s, changed = timed_eval(project, options)
                last_s, last = timed_eval(project, options, replay=full.run_id)
            set_reply(root, ORIGINAL)
            same_s, same = timed_eval(project, options, replay=full.run_id)
            assert last.replay is not None and same.replay is not None
            seen["full_s"].append(full_s)
            seen["changed_s"].append(changed_s)
            seen["last_s"].append(last_s)
            seen["same_s"].append(same_s)
            seen["full_calls"].append(recorded_calls(root, full.run_id))
            seen["changed_calls"].append(recorded_calls(root, changed.run_id))
            seen["last_calls"].append(last.replay["total"]["model_calls"])
            seen["same_calls"].append(same.replay["total"]["model_calls"])
            seen["identical"].append(outcome(same) == outcome(full))
            seen["last_ran"].append({n: c["ran"] for n, c in last.replay["nodes"].items()})
            seen["last_replayed"].append(
                {n: c["replayed"] for n, c in last.replay["nodes"].items()}
            )
            print(
                f"repeat {repeat + 1}: recorded {full_s:.1f} s ({seen['full_calls'][-1]} calls), "
                f"changed, full {changed_s:.1f} s ({seen['changed_calls'][-1]} calls), "
                f"changed, replayed {last_s:.1f} s ({seen['last_calls'][-1]} calls, ran "
                f"{seen['last_ran'][-1]}), nothing changed {same_s:.2f} s "
                f"({seen['same_calls'][-1]} calls, identical {seen['identical'][-1]})",
                flush=True,
            )
    return seen


def main() -> None:
    """Run the benchmark and print its numbers, the last line as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", help="eval split (default: test)")
    parser.add_argument("--limit", type=int, default=8, help="cases per eval (default: 8)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (default: 3)")
    args = parser.parse_args()
    options = {"split": args.split, "limit": args.limit}
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as folder:
        seen = run(copy_project(Path(folder) / "examples"), options, args.repeats)
    full, changed, last, same = (
        statistics.median(seen[k]) for k in ("full_s", "changed_s", "last_s", "same_s")
    )
    result = {
        "benchmark": "replay",
        "speedup_last_node_changed": round(changed / last, 2),
        "model_calls_nothing_changed": max(seen["same_calls"]),
        "identical_nothing_changed": all(seen["identical"]),
        "speedup_nothing_changed": round(full / same, 1),
        "full_s": round(full, 2),
        "full_changed_s": round(changed, 2),
        "last_node_changed_s": round(last, 2),
        "nothing_changed_s": round(same, 3),
        "model_calls_full": statistics.median(seen["full_calls"]),
        "model_calls_full_changed": statistics.median(seen["changed_calls"]),
        "model_calls_last_node_changed": statistics.median(seen["last_calls"]),
        "ran_last_node_changed": seen["last_ran"][-1],
        "replayed_last_node_changed": seen["last_replayed"][-1],
        "cases": args.limit,
        "split": args.split,
        "repeats": args.repeats,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
