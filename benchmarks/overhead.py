"""Per-invocation overhead of stepladder over hand-written LangGraph.

Two workloads of no-op nodes, each built twice: through stepladder (`FlowBuilder`, then the
compiled LangGraph app, so each node's update is checked against its state keys' declared
types, as in every stepladder run) and by hand, the way LangGraph's docs write a graph (a
`TypedDict` state, node functions returning dicts, `StateGraph`, `add_node`, `add_edge`,
`compile`).

- `chain3`:  START -> a -> b -> c -> END
- `fanout5`: START -> split -> (w0 .. w4 in parallel) -> join -> END

Runs are interleaved to cancel drift: in each round the contestants alternate call by call
(the order rotating), and every invocation is timed on its own. The table shows the median
over all timed invocations in microseconds (robust to bursts of load from other processes);
the last line of stdout is a JSON object with the results. Ratios are stepladder time /
hand-written time.

    .venv/bin/python benchmarks/overhead.py [--rounds 15] [--invocations 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, TypedDict

from langgraph.graph import END as GRAPH_END
from langgraph.graph import START as GRAPH_START
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from rich.console import Console
from rich.table import Table

from stepladder import END, START, Flow, FlowBuilder

TARGET_RATIO = 1.10
STEPLADDER = "stepladder"
LANGGRAPH = "langgraph"
FLOW_INVOKE = "flow.invoke"
INPUT: dict[str, Any] = {"x": 1}

SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


# --- stepladder: the same sync no-op functions serve both the sync and the async path ---------


def sl_a(x: int) -> int:
    return x


def sl_b(y: int) -> int:
    return y


def sl_c(z: int) -> int:
    return z


def sl_split(x: int) -> int:
    return x


def sl_work(s: int) -> int:
    return s


def sl_join(k0: int, k1: int, k2: int, k3: int, k4: int) -> int:
    return k0


def stepladder_chain3() -> Flow:
    return (
        FlowBuilder("chain3")
        .state("x", int, input=True)
        .state("y", int)
        .state("z", int)
        .state("out", int)
        .function("a", sl_a, reads=["x"], writes=["y"])
        .function("b", sl_b, reads=["y"], writes=["z"])
        .function("c", sl_c, reads=["z"], writes=["out"])
        .compile()
    )


def stepladder_fanout5() -> Flow:
    workers = [f"w{i}" for i in range(5)]
    builder = FlowBuilder("fanout5").state("x", int, input=True).state("s", int)
    for i in range(5):
        builder.state(f"k{i}", int)
    builder.state("out", int)
    builder.function("split", sl_split, reads=["x"], writes=["s"])
    for i, worker in enumerate(workers):
        builder.function(worker, sl_work, reads=["s"], writes=[f"k{i}"])
    builder.function("join", sl_join, reads=[f"k{i}" for i in range(5)], writes=["out"])
    builder.edge(START, "split")
    for worker in workers:
        builder.edge("split", worker)
    builder.edge(workers, "join").edge("join", END)
    return builder.compile()


# --- hand-written LangGraph, as in LangGraph's docs --------------------------------------------


class Chain3State(TypedDict):
    x: int
    y: int
    z: int
    out: int


def a(state: Chain3State) -> dict[str, Any]:
    return {"y": state["x"]}


def b(state: Chain3State) -> dict[str, Any]:
    return {"z": state["y"]}


def c(state: Chain3State) -> dict[str, Any]:
    return {"out": state["z"]}


async def a_async(state: Chain3State) -> dict[str, Any]:
    return {"y": state["x"]}


async def b_async(state: Chain3State) -> dict[str, Any]:
    return {"z": state["y"]}


async def c_async(state: Chain3State) -> dict[str, Any]:
    return {"out": state["z"]}


def langgraph_chain3(use_async: bool) -> CompiledStateGraph[Any, Any, Any, Any]:
    nodes = (a_async, b_async, c_async) if use_async else (a, b, c)
    builder = StateGraph(Chain3State)
    builder.add_node("a", nodes[0])
    builder.add_node("b", nodes[1])
    builder.add_node("c", nodes[2])
    builder.add_edge(GRAPH_START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", GRAPH_END)
    return builder.compile()


class Fanout5State(TypedDict):
    x: int
    s: int
    k0: int
    k1: int
    k2: int
    k3: int
    k4: int
    out: int


def split(state: Fanout5State) -> dict[str, Any]:
    return {"s": state["x"]}


def w0(state: Fanout5State) -> dict[str, Any]:
    return {"k0": state["s"]}


def w1(state: Fanout5State) -> dict[str, Any]:
    return {"k1": state["s"]}


def w2(state: Fanout5State) -> dict[str, Any]:
    return {"k2": state["s"]}


def w3(state: Fanout5State) -> dict[str, Any]:
    return {"k3": state["s"]}


def w4(state: Fanout5State) -> dict[str, Any]:
    return {"k4": state["s"]}


def join(state: Fanout5State) -> dict[str, Any]:
    return {"out": state["k0"]}


async def split_async(state: Fanout5State) -> dict[str, Any]:
    return {"s": state["x"]}


async def w0_async(state: Fanout5State) -> dict[str, Any]:
    return {"k0": state["s"]}


async def w1_async(state: Fanout5State) -> dict[str, Any]:
    return {"k1": state["s"]}


async def w2_async(state: Fanout5State) -> dict[str, Any]:
    return {"k2": state["s"]}


async def w3_async(state: Fanout5State) -> dict[str, Any]:
    return {"k3": state["s"]}


async def w4_async(state: Fanout5State) -> dict[str, Any]:
    return {"k4": state["s"]}


async def join_async(state: Fanout5State) -> dict[str, Any]:
    return {"out": state["k0"]}


def langgraph_fanout5(use_async: bool) -> CompiledStateGraph[Any, Any, Any, Any]:
    first: Callable[..., Any] = split_async if use_async else split
    workers: tuple[Callable[..., Any], ...] = (
        (w0_async, w1_async, w2_async, w3_async, w4_async) if use_async else (w0, w1, w2, w3, w4)
    )
    last: Callable[..., Any] = join_async if use_async else join
    names = [f"w{i}" for i in range(5)]
    builder = StateGraph(Fanout5State)
    builder.add_node("split", first)
    for name, worker in zip(names, workers, strict=True):
        builder.add_node(name, worker)
    builder.add_node("join", last)
    builder.add_edge(GRAPH_START, "split")
    for name in names:
        builder.add_edge("split", name)
    builder.add_edge(names, "join")
    builder.add_edge("join", GRAPH_END)
    return builder.compile()


# --- measurement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One workload's contestants: label -> zero-argument callable running one invocation."""

    name: str
    sync: dict[str, SyncCall]
    async_: dict[str, AsyncCall]


def build_workload(name: str, flow: Flow, hand_sync: Any, hand_async: Any) -> Workload:
    """Wire up the stepladder app and the hand-written graphs, checking they agree."""
    app = flow.app
    ctx = flow.context()
    expected = hand_sync.invoke(INPUT)
    results = [
        app.invoke(INPUT, context=ctx),
        flow.invoke(INPUT),
        asyncio.run(app.ainvoke(INPUT, context=ctx)),
        asyncio.run(hand_async.ainvoke(INPUT)),
    ]
    for got in results:
        if dict(got) != dict(expected):
            raise AssertionError(f"{name}: results differ: {got!r} != {expected!r}")
    sync: dict[str, SyncCall] = {
        STEPLADDER: lambda: app.invoke(INPUT, context=ctx),
        LANGGRAPH: lambda: hand_sync.invoke(INPUT),
    }
    if name == "chain3":
        sync[FLOW_INVOKE] = lambda: flow.invoke(INPUT)
    async_: dict[str, AsyncCall] = {
        STEPLADDER: lambda: app.ainvoke(INPUT, context=ctx),
        LANGGRAPH: lambda: hand_async.ainvoke(INPUT),
    }
    return Workload(name, sync, async_)


def _rotated(labels: Sequence[str], round_index: int) -> list[str]:
    shift = round_index % len(labels)
    return [*labels[shift:], *labels[:shift]]


Samples = dict[str, list[list[float]]]  # label -> rounds -> per-invocation microseconds


def _one_round_sync(calls: dict[str, SyncCall], round_index: int, n: int) -> dict[str, list[float]]:
    """Run each contestant `n` times, alternating call by call; return each call's µs.

    Step `i` runs every contestant once, the order rotating with `i`, so all of them see the
    same machine conditions (a burst of load from another process hits both alike).
    """
    clock = time.perf_counter
    labels = list(calls)
    durations: dict[str, list[float]] = {label: [] for label in labels}
    gc.collect()
    for i in range(n):
        for label in _rotated(labels, round_index + i):
            call = calls[label]
            start = clock()
            call()
            durations[label].append((clock() - start) * 1e6)
    return durations


async def _one_round_async(
    calls: dict[str, AsyncCall], round_index: int, n: int
) -> dict[str, list[float]]:
    """As `_one_round_sync`, awaiting each invocation."""
    clock = time.perf_counter
    labels = list(calls)
    durations: dict[str, list[float]] = {label: [] for label in labels}
    gc.collect()
    for i in range(n):
        for label in _rotated(labels, round_index + i):
            call = calls[label]
            start = clock()
            await call()
            durations[label].append((clock() - start) * 1e6)
    return durations


def measure_sync(calls: dict[str, SyncCall], rounds: int, invocations: int, warmup: int) -> Samples:
    """Time `rounds` x `invocations` calls of each contestant, after `warmup` untimed ones."""
    _one_round_sync(calls, 0, warmup)
    samples: Samples = {label: [] for label in calls}
    for r in range(rounds):
        for label, durations in _one_round_sync(calls, r, invocations).items():
            samples[label].append(durations)
    return samples


async def measure_async(
    calls: dict[str, AsyncCall], rounds: int, invocations: int, warmup: int
) -> Samples:
    """As `measure_sync`, awaiting `ainvoke` in the running event loop."""
    await _one_round_async(calls, 0, warmup)
    samples: Samples = {label: [] for label in calls}
    for r in range(rounds):
        for label, durations in (await _one_round_async(calls, r, invocations)).items():
            samples[label].append(durations)
    return samples


@dataclass(frozen=True)
class Result:
    """Medians for one workload on one path."""

    workload: str
    path: str
    stepladder_us: float  # median over all timed invocations
    langgraph_us: float
    paired_ratio: float  # median over rounds of (round median stepladder / round median langgraph)
    iqr: float  # interquartile range of the per-round ratios, a noise indicator
    mean_ratio: float  # mean stepladder / mean langgraph (includes GC pauses and outliers)
    flow_invoke_us: float | None = None

    @property
    def ratio(self) -> float:
        return self.stepladder_us / self.langgraph_us


def _flat(rounds: list[list[float]]) -> list[float]:
    return [d for batch in rounds for d in batch]


def summarize(workload: str, path: str, samples: Samples) -> Result:
    """Reduce one workload's samples to medians and ratios."""
    ratios = [
        statistics.median(s) / statistics.median(h)
        for s, h in zip(samples[STEPLADDER], samples[LANGGRAPH], strict=True)
    ]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    stepladder, langgraph = _flat(samples[STEPLADDER]), _flat(samples[LANGGRAPH])
    flow_invoke = samples.get(FLOW_INVOKE)
    return Result(
        workload=workload,
        path=path,
        stepladder_us=statistics.median(stepladder),
        langgraph_us=statistics.median(langgraph),
        paired_ratio=statistics.median(ratios),
        iqr=quartiles[2] - quartiles[0],
        mean_ratio=statistics.fmean(stepladder) / statistics.fmean(langgraph),
        flow_invoke_us=statistics.median(_flat(flow_invoke)) if flow_invoke else None,
    )


def render(results: list[Result], rounds: int, invocations: int, console: Console) -> None:
    title = (
        f"stepladder vs hand-written LangGraph: median µs per invocation "
        f"({rounds} rounds x {invocations})"
    )
    table = Table(title=title)
    columns = (
        "workload",
        "path",
        "stepladder µs",
        "langgraph µs",
        "ratio",
        "paired",
        "IQR",
        "mean",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("workload", "path") else "right")
    table.add_column(f"<= {TARGET_RATIO:.2f}", justify="center")
    for r in results:
        ok = "[green]yes[/green]" if r.ratio <= TARGET_RATIO else "[red]no[/red]"
        table.add_row(
            r.workload,
            r.path,
            f"{r.stepladder_us:,.1f}",
            f"{r.langgraph_us:,.1f}",
            f"{r.ratio:.3f}",
            f"{r.paired_ratio:.3f}",
            f"{r.iqr:.3f}",
            f"{r.mean_ratio:.3f}",
            ok,
        )
    console.print(table)
    for r in results:
        if r.flow_invoke_us is not None:
            console.print(
                f"{r.workload} flow.invoke (validates input with pydantic, new RunContext): "
                f"{r.flow_invoke_us:,.1f} µs ({r.flow_invoke_us / r.langgraph_us:.3f}x langgraph)"
            )
    console.print(
        f"[dim]python {platform.python_version()}, langgraph {version('langgraph')}, "
        f"stepladder {version('stepladder')}. ratio: median over all invocations, stepladder / "
        "langgraph; paired: median of per-round ratios; IQR: their interquartile range; "
        "mean: ratio of means (counts GC pauses and outliers)[/dim]"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument(
        "--invocations", type=int, default=200, help="invocations per round (default 200)"
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="untimed invocations first (default 100)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.invocations < 1 or args.warmup < 0:
        parser.error("--rounds and --invocations must be >= 1, --warmup >= 0")

    workloads = [
        build_workload(
            "chain3", stepladder_chain3(), langgraph_chain3(False), langgraph_chain3(True)
        ),
        build_workload(
            "fanout5", stepladder_fanout5(), langgraph_fanout5(False), langgraph_fanout5(True)
        ),
    ]
    console = Console()
    if not console.is_terminal:
        console = Console(width=100)
    progress = Console(stderr=True)
    results: list[Result] = []
    for w in workloads:
        progress.print(f"[dim]timing {w.name} invoke ...[/dim]")
        samples = measure_sync(w.sync, args.rounds, args.invocations, args.warmup)
        results.append(summarize(w.name, "invoke", samples))

    async def run_async() -> None:
        for w in workloads:
            progress.print(f"[dim]timing {w.name} ainvoke ...[/dim]")
            samples = await measure_async(w.async_, args.rounds, args.invocations, args.warmup)
            results.append(summarize(w.name, "ainvoke", samples))

    asyncio.run(run_async())
    render(results, args.rounds, args.invocations, console)

    by_key = {(r.workload, r.path): r for r in results}
    chain3, fanout5 = by_key["chain3", "invoke"], by_key["fanout5", "invoke"]
    chain3_async, fanout5_async = by_key["chain3", "ainvoke"], by_key["fanout5", "ainvoke"]
    report: dict[str, Any] = {
        "benchmark": "overhead",
        "chain3_ratio": round(chain3.ratio, 4),
        "fanout5_ratio": round(fanout5.ratio, 4),
        "chain3_async_ratio": round(chain3_async.ratio, 4),
        "fanout5_async_ratio": round(fanout5_async.ratio, 4),
        "chain3_us": round(chain3.stepladder_us, 2),
        "fanout5_us": round(fanout5.stepladder_us, 2),
        "langgraph_chain3_us": round(chain3.langgraph_us, 2),
        "langgraph_fanout5_us": round(fanout5.langgraph_us, 2),
        "chain3_async_us": round(chain3_async.stepladder_us, 2),
        "fanout5_async_us": round(fanout5_async.stepladder_us, 2),
        "langgraph_chain3_async_us": round(chain3_async.langgraph_us, 2),
        "langgraph_fanout5_async_us": round(fanout5_async.langgraph_us, 2),
        "chain3_flow_invoke_us": round(chain3.flow_invoke_us or 0.0, 2),
        "chain3_paired_ratio": round(chain3.paired_ratio, 4),
        "fanout5_paired_ratio": round(fanout5.paired_ratio, 4),
        "rounds": args.rounds,
        "invocations": args.invocations,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
