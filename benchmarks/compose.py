"""Composed flows: a map over a slow model server, a map against hand-written `Send`, a subflow.

Three measurements, each the median of its repeats (the last line of stdout is a JSON object):

- `map_efficiency_at_8`: a flow whose one node is a `generate` node mapped over 64 elements at
  `concurrency: 8`, on an `openai-compatible` tier pointed at a loopback server (asyncio, in a
  child process) that answers every chat request after 500 ms. Ideal time is 64 / 8 x 0.5 s =
  4 s; efficiency is ideal / measured (target >= 0.90).
- `map_over_langgraph_send`: a `function` node mapped over 256 elements, each an async 1 ms
  sleep, against a hand-written LangGraph graph doing the same with `Send` (START -> Send per
  element -> worker -> a node that orders the results). Calls alternate between the two;
  ratio of medians, stepladder / LangGraph (target <= 1.10).
- `subflow_over_inline`: a chain of four async 1 ms function nodes whose middle two run as a
  subflow, against the same four nodes inlined in one flow (target <= 1.10). The subflow's own
  cost, with no-op nodes, is reported apart in microseconds (`subflow_overhead_us`). For
  reference, the same chain in plain LangGraph (the middle two nodes a compiled subgraph added
  as a node, against them inline) gives `langgraph_subgraph_over_inline`: what LangGraph's own
  nested run costs on the same machine, with no stepladder code.

    .venv/bin/python benchmarks/compose.py [--repeats 5] [--invocations 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import operator
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

from delayed_server import serve  # type: ignore[import-not-found]
from langgraph.graph import END as GRAPH_END
from langgraph.graph import START as GRAPH_START
from langgraph.graph import StateGraph
from langgraph.types import Send
from rich.console import Console
from rich.table import Table

from stepladder import Flow, FlowBuilder, open_project

ELEMENTS_SLOW, CONCURRENCY, DELAY_S = 64, 8, 0.5
ELEMENTS_FAST = 256
FAST_MAP = {"over": "items", "as": "item", "into": "results", "concurrency": ELEMENTS_FAST}
TARGET_EFFICIENCY, TARGET_RATIO = 0.90, 1.10
console = Console(stderr=True)
CONTENT = '{"summary": "ok"}'  # what the delayed model answers


# --- 1. a map over a model server that answers in 500 ms --------------------------------------


@contextmanager
def slow_project(port: int) -> Iterator[Path]:
    """A temporary project: the delayed tier and a flow mapping a generate node over a list."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "stepladder.yaml").write_text(
            "name: bench\ntiers:\n  small: {runtime: openai-compatible, "
            f'base_url: "http://127.0.0.1:{port}/v1", model: delayed, timeout_s: 600}}\n'
        )
        (root / "flows").mkdir()
        (root / "flows/summaries.yaml").write_text(
            "name: summaries\nstate:\n  parts: {type: 'list[str]', input: true}\n  part: str\n"
            "  summary: str\n  summaries: list[str]\nnodes:\n"
            "  - {id: summarize, kind: generate, reads: [part], output: summary, retries: 0,\n"
            f"     map: {{over: parts, as: part, into: summaries, concurrency: {CONCURRENCY}}}}}\n"
        )
        yield root


async def map_efficiency(root: Path, repeats: int) -> list[float]:
    """Efficiency (ideal / measured) of each repeat, after one warm-up run."""
    parts = [f"part {i}" for i in range(ELEMENTS_SLOW)]
    ideal = ELEMENTS_SLOW / CONCURRENCY * DELAY_S
    found: list[float] = []
    async with open_project(root) as project:
        await project.arun("summaries", {"parts": parts[:CONCURRENCY]})  # start the tier
        for _ in range(repeats):
            started = time.perf_counter()
            result = await project.arun("summaries", {"parts": parts})
            seconds = time.perf_counter() - started
            assert result.state["summaries"] == ["ok"] * ELEMENTS_SLOW
            found.append(ideal / seconds)
            console.print(f"map of {ELEMENTS_SLOW} at {CONCURRENCY}: {seconds:.3f} s")
    return found


# --- 2. a map of 1 ms function nodes against hand-written Send --------------------------------


async def work(item: int) -> int:
    """One element's 1 ms of (awaited) work."""
    await asyncio.sleep(0.001)
    return item * 2


def stepladder_map() -> Flow:
    return (
        FlowBuilder("fast_map")
        .state("items", "list[int]", input=True)
        .state("item", int)
        .state("doubled", int)
        .state("results", "list[int]")
        .function(
            "double",
            work,
            reads=["item"],
            writes=["doubled"],
            map={"over": "items", "as": "item", "into": "results", "concurrency": ELEMENTS_FAST},
        )
        .compile()
    )


class MapState(TypedDict, total=False):
    items: list[int]
    pairs: Annotated[list[tuple[int, int]], operator.add]
    results: list[int]


class Element(TypedDict):
    item: int
    index: int


async def hand_worker(element: Element) -> dict[str, Any]:
    return {"pairs": [(element["index"], await work(element["item"]))]}


async def hand_collect(state: MapState) -> dict[str, Any]:
    return {"results": [value for _, value in sorted(state.get("pairs", []))]}


def fan_out(state: MapState) -> list[Send]:
    return [Send("worker", {"item": v, "index": i}) for i, v in enumerate(state["items"])]


def langgraph_map() -> Any:
    graph = StateGraph(MapState)
    graph.add_node("worker", hand_worker)  # type: ignore[call-overload]
    graph.add_node("collect", hand_collect)
    graph.add_conditional_edges(GRAPH_START, fan_out, ["worker"])
    graph.add_edge("worker", "collect")
    graph.add_edge("collect", GRAPH_END)
    return graph.compile()


# --- 3. a chain through a subflow against the same nodes inlined -------------------------------


async def step(x: int) -> int:
    await asyncio.sleep(0.001)
    return x + 1


def noop(x: int) -> int:
    return x + 1


def chain(kind: str, fn: Callable[[int], Any]) -> Flow:
    """x -> a -> [b -> c] -> d, the middle two in a subflow (`subflow`) or inline."""
    names = {"a": "x1", "b": "x2", "c": "x3", "d": "x4"}
    outer = FlowBuilder(f"chain_{kind}").state("x0", int, input=True)
    for key in names.values():
        outer.state(key, int)
    outer.function("a", _renamed(fn, "x0"), reads=["x0"], writes=["x1"])
    if kind == "subflow":
        inner = (
            FlowBuilder("middle")
            .state("x1", int, input=True)
            .state("x2", int)
            .state("x3", int)
            .function("b", _renamed(fn, "x1"), reads=["x1"], writes=["x2"])
            .function("c", _renamed(fn, "x2"), reads=["x2"], writes=["x3"])
        )
        outer.subflow("middle", inner, inputs={"x1": "x1"}, outputs={"x3": "x3"})
    else:
        outer.function("b", _renamed(fn, "x1"), reads=["x1"], writes=["x2"])
        outer.function("c", _renamed(fn, "x2"), reads=["x2"], writes=["x3"])
    outer.function("d", _renamed(fn, "x3"), reads=["x3"], writes=["x4"])
    return outer.compile()


def _renamed(fn: Callable[[int], Any], key: str) -> Callable[..., Any]:
    """`fn` taking its argument as `key` (function nodes get their reads by name)."""
    if asyncio.iscoroutinefunction(fn):

        async def call_async(**kwargs: int) -> Any:
            return await fn(kwargs[key])

        call_async.__signature__ = _signature(key)  # type: ignore[attr-defined]
        return call_async

    def call(**kwargs: int) -> Any:
        return fn(kwargs[key])

    call.__signature__ = _signature(key)  # type: ignore[attr-defined]
    return call


class ChainState(TypedDict, total=False):
    x0: int
    x1: int
    x2: int
    x3: int
    x4: int


def langgraph_chain(nested: bool) -> Any:
    """The chain in plain LangGraph: b and c inline, or a compiled subgraph added as a node."""

    def node(source: str, target: str) -> Callable[[ChainState], Awaitable[dict[str, int]]]:
        async def run(state: ChainState) -> dict[str, int]:
            return {target: await step(state[source])}  # type: ignore[literal-required]

        return run

    def line(nodes: list[tuple[str, Any]]) -> Any:
        graph = StateGraph(ChainState)
        previous = GRAPH_START
        for name, action in nodes:
            graph.add_node(name, action)
            graph.add_edge(previous, name)
            previous = name
        graph.add_edge(previous, GRAPH_END)
        return graph.compile()

    middle = [("b", node("x1", "x2")), ("c", node("x2", "x3"))]
    inner = [("middle", line(middle))] if nested else middle
    return line([("a", node("x0", "x1")), *inner, ("d", node("x3", "x4"))])


def _signature(key: str) -> Any:
    import inspect

    parameter = inspect.Parameter(key, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)
    return inspect.Signature([parameter])


# --- timing ------------------------------------------------------------------------------------


async def alternate(
    calls: dict[str, Callable[[], Awaitable[object]]], repeats: int, invocations: int
) -> dict[str, float]:
    """The median seconds of each call, calls alternating one by one (order rotating)."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm up
        await calls[name]()
    for round_ in range(repeats):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for _ in range(invocations):
            for name in order:
                started = time.perf_counter()
                await calls[name]()
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


async def fast_parts(repeats: int, invocations: int) -> dict[str, float]:
    items = list(range(ELEMENTS_FAST))
    expected = [2 * i for i in items]
    ours, theirs = stepladder_map(), langgraph_map()

    async def run_ours() -> None:
        assert (await ours.ainvoke({"items": items}))["results"] == expected

    async def run_theirs() -> None:
        assert (await theirs.ainvoke({"items": items}))["results"] == expected

    maps = await alternate({"stepladder": run_ours, "langgraph": run_theirs}, repeats, invocations)
    sub, inline = chain("subflow", step), chain("inline", step)
    chains = await alternate(
        {"subflow": lambda: sub.ainvoke({"x0": 0}), "inline": lambda: inline.ainvoke({"x0": 0})},
        repeats,
        invocations,
    )
    sub0, inline0 = chain("subflow", noop), chain("inline", noop)
    noops = await alternate(
        {"subflow": lambda: sub0.ainvoke({"x0": 0}), "inline": lambda: inline0.ainvoke({"x0": 0})},
        repeats,
        invocations,
    )
    nested, flat = langgraph_chain(nested=True), langgraph_chain(nested=False)
    plain = await alternate(
        {"subgraph": lambda: nested.ainvoke({"x0": 0}), "inline": lambda: flat.ainvoke({"x0": 0})},
        repeats,
        invocations,
    )
    return {
        "map_stepladder_ms": maps["stepladder"] * 1000,
        "map_langgraph_ms": maps["langgraph"] * 1000,
        "map_over_langgraph_send": maps["stepladder"] / maps["langgraph"],
        "chain_subflow_ms": chains["subflow"] * 1000,
        "chain_inline_ms": chains["inline"] * 1000,
        "subflow_over_inline": chains["subflow"] / chains["inline"],
        "subflow_overhead_us": (noops["subflow"] - noops["inline"]) * 1e6,
        "langgraph_subgraph_over_inline": plain["subgraph"] / plain["inline"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats (rounds) of each part")
    parser.add_argument("--invocations", type=int, default=40, help="calls per round (2, 3)")
    args = parser.parse_args()
    # The CPU-bound parts first: the model part leaves the tier's client and the tracing
    # exporter's threads behind, which would compete with them for the interpreter.
    fast = asyncio.run(fast_parts(args.repeats, args.invocations))
    ports: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=serve, args=(DELAY_S, CONTENT, ports), daemon=True)
    child.start()
    try:
        with slow_project(ports.get(timeout=30)) as root:
            efficiency = asyncio.run(map_efficiency(root, args.repeats))
    finally:
        child.terminate()
    result: dict[str, Any] = {
        "benchmark": "compose",
        "map_efficiency_at_8": round(statistics.median(efficiency), 4),
        "map_over_langgraph_send": round(fast["map_over_langgraph_send"], 4),
        "subflow_over_inline": round(fast["subflow_over_inline"], 4),
        "subflow_overhead_us": round(fast["subflow_overhead_us"], 1),
        "langgraph_subgraph_over_inline": round(fast["langgraph_subgraph_over_inline"], 4),
        "map_stepladder_ms": round(fast["map_stepladder_ms"], 3),
        "map_langgraph_ms": round(fast["map_langgraph_ms"], 3),
        "chain_subflow_ms": round(fast["chain_subflow_ms"], 3),
        "chain_inline_ms": round(fast["chain_inline_ms"], 3),
        "targets": {"map_efficiency_at_8": TARGET_EFFICIENCY,
                    "map_over_langgraph_send": TARGET_RATIO, "subflow_over_inline": TARGET_RATIO},
    }  # fmt: skip
    table = Table(title="composed flows (medians)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    for key, target in result["targets"].items():
        table.add_row(
            key, f"{result[key]:.3f}", f"{'>=' if 'efficiency' in key else '<='} {target}"
        )
    table.add_row("subflow overhead (no-op nodes)", f"{result['subflow_overhead_us']:.0f} us", "")
    table.add_row(
        "plain LangGraph subgraph / inline", f"{result['langgraph_subgraph_over_inline']:.3f}", ""
    )
    console.print(table)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
