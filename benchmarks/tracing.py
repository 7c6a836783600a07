"""What tracing costs: a 10-node flow run with tracing off and on, and the cost of one span.

The flow is ten `function` nodes in a chain, each doing about 1 ms of CPU work. Each round
runs it once untraced and once traced (order alternating), through `run_flow` as
`stepladder run` does, with the project store's real set-up: a `BatchSpanProcessor` into the
JSONL files (in a temporary folder). `on_over_off` is the median traced run time over the
median untraced one (a traced run has 11 spans plus their previews).

`us_per_span` times `--spans` node spans (stepladder's `node_span`, four attributes each)
opened and closed in a tight loop on the same provider, including writing them all to the JSONL
store at the end (a flush), divided by the number of spans; the median of 9 such batches. The
last line of stdout is a JSON object.

    .venv/bin/python benchmarks/tracing.py [--rounds 300] [--spans 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from stepladder import FlowBuilder
from stepladder.config.tracing import TracingSettings
from stepladder.flows import Flow, run_flow
from stepladder.tracing import Tracing, node_span

NODES = 10
WORK_SECONDS = 0.001
TARGET_RATIO = 1.05
TARGET_US_PER_SPAN = 30.0


def busy(value: int) -> int:
    """About a millisecond of CPU work."""
    until = time.perf_counter() + WORK_SECONDS
    while time.perf_counter() < until:
        value = (value * 31 + 7) % 1_000_003
    return value


def ten_node_flow() -> Flow:
    """START -> n0 -> ... -> n9 -> END, each node `busy` on the previous node's value."""
    builder = FlowBuilder("ten_nodes").state("v0", int, input=True)
    for index in range(NODES):
        builder.state(f"v{index + 1}", int)
        builder.function(f"n{index}", _node(index), reads=[f"v{index}"], writes=[f"v{index + 1}"])
    return builder.compile()


def _node(index: int) -> Any:
    def node(**values: int) -> int:
        return busy(values[f"v{index}"])

    node.__signature__ = _signature(f"v{index}")  # type: ignore[attr-defined]
    return node


def _signature(name: str) -> Any:
    import inspect

    parameter = inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)
    return inspect.Signature([parameter], return_annotation=int)


async def time_runs(flow: Flow, tracing: Tracing, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds per run, untraced and traced, alternating which goes first."""
    off: list[float] = []
    on: list[float] = []
    for index in track(range(rounds), description="runs (off/on)"):
        order = [(off, None), (on, tracing)] if index % 2 == 0 else [(on, tracing), (off, None)]
        for times, maybe in order:
            started = time.perf_counter()
            await run_flow(flow, {"v0": index}, tracing=maybe)
            times.append(time.perf_counter() - started)
    return off, on


def time_spans(tracing: Tracing, count: int) -> float:
    """Microseconds per node span (stepladder's own helper), flushed to disk at the end."""
    started = time.perf_counter()
    for _ in range(count):
        with node_span(tracing, "ten_nodes", "n0", "function", None):
            pass
    tracing.flush()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--spans", type=int, default=5000)
    args = parser.parse_args()
    flow = ten_node_flow()
    with tempfile.TemporaryDirectory() as folder:
        tracing = Tracing.for_project(TracingSettings(), Path(folder))
        asyncio.run(time_runs(flow, tracing, 5))  # warm-up
        off, on = asyncio.run(time_runs(flow, tracing, args.rounds))
        us_per_span = statistics.median(
            time_spans(tracing, args.spans) for _ in track(range(9), description="spans")
        )
        tracing.shutdown()
        span_lines = sum(1 for f in Path(folder).rglob("*.jsonl") for _ in f.open())
    result = {
        "benchmark": "tracing",
        "on_over_off": round(statistics.median(on) / statistics.median(off), 4),
        "us_per_span": round(us_per_span, 2),
        "off_ms_p50": round(statistics.median(off) * 1000, 3),
        "on_ms_p50": round(statistics.median(on) * 1000, 3),
        "rounds": args.rounds,
        "spans_written": span_lines,
        "machine": f"{platform.machine()} {platform.python_version()}",
    }
    show(result)
    print(json.dumps(result))


def show(result: dict[str, Any]) -> None:
    """A small table against the targets."""
    table = Table(title="tracing overhead (10 nodes x ~1 ms)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("run p50 off / on (ms)", f"{result['off_ms_p50']} / {result['on_ms_p50']}", "")
    table.add_row("on / off", str(result["on_over_off"]), f"<= {TARGET_RATIO}")
    table.add_row("us per span", str(result["us_per_span"]), f"<= {TARGET_US_PER_SPAN}")
    Console(stderr=True).print(table)


if __name__ == "__main__":
    main()
