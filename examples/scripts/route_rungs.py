"""Route the classify node between its two real rungs, and show what routing changes.

The support flow's classify node answers with the embedding classifier (milliseconds, no
model call) and climbs to the small model when the classifier is unsure. With the small
model tuned (`make tune`), both rungs are worth routing between. This runs, with the CLI a
user would type (each command is printed before it runs):

1. the `category` eval's `train` split once per rung: `--tier embeddings` (the classifier
   alone) and `--tier small --adapter classify=ADAPTER` (the tuned model alone);
2. `stepladder router train support-rung` on those two runs, and `router calibrate
   --target-quality Q`;
3. the `test` split four ways: each rung alone, the flow as it is (`category`: the
   classifier, the model when the classifier's confidence is under 0.5), and the flow with
   the route node in front (`category_routed`);
4. `stepladder eval compare` of the flow without and with the route node.

It ends with one table (quality, cost per case, the share each rung answered, latency) and,
as its last line, the same as JSON. From `examples/` (or `make route` from the root):

    python scripts/route_rungs.py --adapter support-classify [--target-quality 0.95]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

EXAMPLES = Path(__file__).resolve().parents[1]
ROUTER = "support-rung"
console = Console(stderr=True, highlight=False)


def stepladder(*args: str) -> str:
    """Run `stepladder ARGS` in the example project, printing the command; its stdout."""
    command = [sys.executable, "-m", "stepladder", *args]
    console.print(f"[bold]$ stepladder {shlex.join(args)}[/]")
    done = subprocess.run(command, cwd=EXAMPLES, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stepladder {shlex.join(args)} failed (exit {done.returncode})")
    return done.stdout


def evaluate(spec: str, split: str, *options: str) -> dict[str, Any]:
    """One eval run's summary (`eval --json`)."""
    return dict(json.loads(stepladder("eval", f"evalsets/{spec}.yaml", "--split", split,
                                      *options, "--json")))  # fmt: skip


def row(label: str, summary: dict[str, Any]) -> dict[str, Any]:
    """What the table shows of one run."""
    quality = next(m for m in summary["metrics"] if m["name"] == "category")
    shares = {s["rung"]: round(s["share"], 4) for s in summary["rungs"] if s["node"] == "classify"}
    return {
        "run": label, "run_id": summary["run_id"], "accuracy": round(quality["mean"], 4),
        "accuracy_ci": [round(quality["low"], 4), round(quality["high"], 4)],
        "cost_per_case_usd": summary["cost_per_case_usd"],
        "latency_p50_s": round(summary["latency_p50_s"], 4), "share": shares,
    }  # fmt: skip


def show(rows: list[dict[str, Any]]) -> None:
    """The test split, four ways, side by side."""
    table = Table(title="category on the test split: each rung alone, the ladder, the router")
    for column in ("run", "accuracy [95% CI]", "cost / case", "p50 s", "answered by"):
        table.add_column(column, justify="left" if column in {"run", "answered by"} else "right")
    for item in rows:
        low, high = item["accuracy_ci"]
        shares = ", ".join(f"{rung} {share:.0%}" for rung, share in item["share"].items())
        table.add_row(item["run"], f"{item['accuracy']:.3f} [{low:.3f}, {high:.3f}]",
                      f"${item['cost_per_case_usd']:.6f}", f"{item['latency_p50_s']:.3f}",
                      shares or "-")  # fmt: skip
    Console(highlight=False).print(table)


def main() -> None:
    """Per-rung runs, the router, the four test runs and the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True, help="the classify node's tuned adapter")
    parser.add_argument("--target-quality", type=float, default=0.95,
                        help="of the best rung's quality, at 95%% confidence")  # fmt: skip
    args = parser.parse_args()
    tuned = ("--adapter", f"classify={args.adapter}")
    runs = {
        "embeddings": evaluate("category_route", "train", "--tier", "embeddings"),
        "small": evaluate("category_route", "train", "--tier", "small", *tuned),
    }
    print(stepladder("router", "train", ROUTER, *(f"--run={r['run_id']}" for r in runs.values()),
                     "--metric", "category"), end="")  # fmt: skip
    print(stepladder("router", "calibrate", ROUTER, "--target-quality", str(args.target_quality)),
          end="")  # fmt: skip
    ladder = evaluate("category_route", "test", *tuned)
    routed = evaluate("category_routed", "test", *tuned)
    rows = [
        row("classifier alone", evaluate("category_route", "test", "--tier", "embeddings")),
        row("tuned model alone", evaluate("category_route", "test", "--tier", "small", *tuned)),
        row("ladder (confidence < 0.5 climbs)", ladder),
        row("router (route node)", routed),
    ]
    print(stepladder("eval", "compare", ladder["run_id"], routed["run_id"]), end="")
    show(rows)
    print(json.dumps({"route": "category", "adapter": args.adapter,
                      "target_quality": args.target_quality, "runs": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
