"""`map:`: a node run once per element of a list, on LangGraph's `Send`.

A mapped node `X` becomes three graph nodes:

- `X` reads the list (`over`), refuses a value that is not a list or is longer than
  `max_items` (before any element runs) and clears the map's private channel;
- `X.each`, one `Send` task per element, runs the node on the state with `as` set to the
  element, at most `concurrency` at a time in one run, and writes `(index, result)` to the
  private channel. Each task's write is checkpointed as it finishes, so after a kill only
  the unfinished elements run again;
- `X.collect` puts the results in `into`, in the order of `over` (and the failures in
  `errors`), and is where the node's outgoing edges start.

An element that raises fails the run (`on_error: fail`), is left out (`skip`), or leaves null
in its slot and a record `{index, error}` in `errors` (`collect`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypedDict

from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import GraphBubbleUp
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from opentelemetry import trace

from stepladder.errors import NodeError, UserError
from stepladder.flows.pacing import StartPacer
from stepladder.flows.spec import FlowSpec
from stepladder.flows.state_check import KeyCheck
from stepladder.nodes import BuiltNode, MapSpec, RunContext
from stepladder.nodes.base import NodeSpecBase, State
from stepladder.nodes.traced import traced
from stepladder.tracing import attributes as names
from stepladder.tracing import node_span

__all__ = ["PRIVATE", "add_mapped", "map_problems", "node_writes", "public"]

PRIVATE = "__map_"
"""The prefix of a map's private channel (its elements' results until they are collected)."""
INDEX = "__map_index__"
COUNT = "__map_count__"
EACH, COLLECT = ".each", ".collect"
_RESET = "__reset__"
_GATES: dict[int, dict[tuple[str, str], _Gate]] = {}


def public(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without the maps' private channels (what a run shows of its state)."""
    return {k: v for k, v in values.items() if not k.startswith(PRIVATE)}


def node_writes(node: NodeSpecBase) -> list[str]:
    """The state keys a node's run writes: a mapped node's `into` (and `errors`)."""
    if node.map is None:
        return list(node.writes)
    return [node.map.into, *([node.map.errors] if node.map.errors else [])]


def _results(old: list[Any] | None, new: Any) -> list[Any]:
    """The private channel's reducer: results append; the dispatcher's marker clears them."""
    if new == _RESET:
        return []
    return [*(old or []), *new]


def add_mapped(
    graph: StateGraph[Any, RunContext, Any, Any],
    node: NodeSpecBase,
    built: BuiltNode,
    checks: Mapping[str, KeyCheck],
) -> str:
    """Add mapped `node` to `graph`; its exit's id.

    `built` is the node checked and recorded (`stepladder.replay.recorded`), untraced: each
    element's call has its own replay key, its inputs holding the element.
    """
    spec = node.map
    assert spec is not None
    channel = f"{PRIVATE}{node.id}__"
    private = TypedDict(  # type: ignore[misc]
        f"{node.id}_map", {channel: Annotated[list[Any], _results]}, total=False
    )
    each, collect = node.id + EACH, node.id + COLLECT
    graph.add_node(node.id, _callable(_dispatcher(node, spec, channel), node.id))
    graph.add_node(each, _callable(_worker(node, spec, built, channel), each),
                   input_schema=private)  # fmt: skip
    graph.add_node(collect, _callable(_collector(node, spec, channel, checks), collect),
                   input_schema=private)  # fmt: skip
    graph.add_conditional_edges(node.id, _sender(node, spec, each, collect), [each, collect])
    graph.add_edge(each, collect)
    return collect


def _callable(afunc: Callable[..., Any], name: str) -> RunnableCallable:
    return RunnableCallable(None, afunc, name=name, trace=False)


def _dispatcher(node: NodeSpecBase, spec: MapSpec, channel: str) -> Callable[..., Any]:
    async def dispatch(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        items = state.get(spec.over)
        if not isinstance(items, list):
            raise NodeError(
                node.id,
                f"maps over state key '{spec.over}', which holds a {type(items).__name__}, "
                "not a list.",
            )
        if len(items) > spec.max_items:
            raise NodeError(
                node.id,
                f"'{spec.over}' holds {len(items):,} elements, over the map's max_items "
                f"({spec.max_items:,}); no element was run. Split the list, or raise "
                "`map.max_items`.",
            )
        context = runtime.context
        if context is not None and context.tracing is not None:
            shown = {spec.over: f"{len(items)} elements"}
            with node_span(context.tracing, context.flow_name, node.id, "map", shown) as span:
                if span.is_recording():
                    span.set_attribute(names.MAP_NODE, node.id)
        return {channel: _RESET}

    return dispatch


def _sender(node: NodeSpecBase, spec: MapSpec, each: str, collect: str) -> Callable[[State], Any]:
    tier_key = node.tier_key()
    reads = [key for key in [*node.reads, *([tier_key] if tier_key else [])] if key != spec.as_]

    def send(state: State) -> list[Send] | str:
        items = state.get(spec.over) or []
        if not items:
            return collect
        shared = {key: state.get(key) for key in reads}
        count = len(items)
        return [Send(each, {**shared, spec.as_: item, INDEX: i, COUNT: count})
                for i, item in enumerate(items)]  # fmt: skip

    return send


def _worker(
    node: NodeSpecBase, spec: MapSpec, built: BuiltNode, channel: str
) -> Callable[..., Any]:
    element = traced(node, BuiltNode(afunc=_indexed(node.id, built))).afunc
    single = node.writes[0] if len(node.writes) == 1 else None
    limit, over, on_error = spec.concurrency, spec.over, spec.on_error

    async def run_element(payload: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        index = payload[INDEX]
        gate = _gate(runtime.context, node.id, limit)
        # Elements queue only when the list is longer than the concurrency: keep them apart.
        pacer = gate.paced() if payload.get(COUNT, 0) > limit else None
        async with gate.semaphore:
            if pacer is not None:
                await pacer.wait_turn()
            try:
                update = await element(payload, runtime)
            except GraphBubbleUp:  # a review pause (or a parent command), not a failure
                raise
            except UserError:  # a mistake in the project, not in this element
                raise
            except Exception as error:
                reason = _reason(node.id, error)
                if on_error == "fail":
                    message = f"element {index} of '{over}' failed: {reason}"
                    raise NodeError(node.id, message) from error
                return {channel: [[index, False, reason]]}
            finally:
                if pacer is not None:
                    pacer.case_finished()
        value = update.get(single) if single else {k: update.get(k) for k in node.writes}
        return {channel: [[index, True, value]]}

    return run_element


def _reason(node_id: str, error: Exception) -> str:
    """Why an element failed: the error's type and message, without the node's name."""
    text = str(error)
    prefix = f"node '{node_id}': "
    if isinstance(error, NodeError) and text.startswith(prefix):
        return text[len(prefix) :]
    return f"{type(error).__name__}: {text}"


def _indexed(node_id: str, built: BuiltNode) -> Callable[..., Any]:
    """`built`, marking its node span with the element's index (when the run is traced)."""
    inner = built.afunc

    async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        if context is not None and context.tracing is not None:
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attributes({names.MAP_NODE: node_id, names.MAP_INDEX: state[INDEX]})
        return await inner(state, runtime)

    return run


def _collector(
    node: NodeSpecBase, spec: MapSpec, channel: str, checks: Mapping[str, KeyCheck]
) -> Callable[..., Any]:
    check = checks.get(spec.into)

    async def collect(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        results = sorted(state.get(channel) or [], key=lambda entry: entry[0])
        into: list[Any] = []
        failures: list[dict[str, Any]] = []
        for index, ok, value in results:
            if ok:
                into.append(value)
                continue
            failures.append({"index": index, "error": value})
            if spec.on_error == "collect":
                into.append(None)
        if check is not None and not check.fits(into):
            raise NodeError(
                node.id,
                f"collected {check.problem(into)} into '{spec.into}', declared "
                f"{check.declared}: each element's result is the node's write "
                f"({', '.join(node.writes) or 'none'}).",
            )
        update: dict[str, Any] = {spec.into: into}
        if spec.errors:
            update[spec.errors] = failures
        return update

    return collect


class _Gate:
    """What the elements of one map in one run share: a semaphore and a start pacer.

    When the list is longer than the concurrency, an element that finishes lets the next one
    start; starts are spaced (`StartPacer`) so that elements whose model answers arrive
    together do not then march in step, each wave paying every element's CPU time. The pacer
    is made when the first such element starts, and counts only the elements it spaces.
    """

    __slots__ = ("pacer", "semaphore")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.pacer: StartPacer | None = None

    def paced(self) -> StartPacer:
        """The pacer of the elements that queue (made on first use)."""
        if self.pacer is None:
            self.pacer = StartPacer()
        return self.pacer


def _gate(context: RunContext | None, node_id: str, limit: int) -> _Gate:
    """The run's gate for `node_id` (one per run: its usage ledger is the run's)."""
    owner: object = context.usage if context is not None else _gate
    key = id(owner)
    per_node = _GATES.get(key)
    if per_node is None:
        per_node = _GATES[key] = {}
        if owner is not _gate:
            weakref.finalize(owner, _GATES.pop, key, None)
    name = (context.flow_name if context is not None else "", node_id)
    found = per_node.get(name)
    if found is None:
        found = per_node[name] = _Gate(limit)
    return found


def map_problems(spec: FlowSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Each problem of the flow's `map:` specs: (YAML path, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    state = spec.state
    for index, node in enumerate(spec.nodes):
        if node.map is None:
            continue
        found = _problems_of(node, node.map, state)
        problems.extend((("nodes", index, "map", *path), message) for path, message in found)
    return problems


def _problems_of(
    node: NodeSpecBase, spec: MapSpec, state: Mapping[str, Any]
) -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = []
    keys = {"over": spec.over, "as": spec.as_, "into": spec.into}
    if spec.errors is not None:
        keys["errors"] = spec.errors
    for field, key in keys.items():
        if key not in state:
            found.append(((field,), f"unknown state key '{key}'; declare it under `state:`."))
            continue
        kind = state[key].parsed_type.name
        if field != "as" and kind not in ("list", "any"):
            found.append(((field,), f"'{key}' is {state[key].type}, not a list."))
    if found:
        return found
    over, element = state[spec.over].parsed_type, state[spec.as_].parsed_type
    inner = over.inner
    if inner is not None and _differ(inner, element):
        message = f"'{spec.as_}' is {state[spec.as_].type}, but the elements of "
        found.append((("as",), message + f"'{spec.over}' are {_text(inner)}."))
    if spec.on_error == "collect":
        item = state[spec.into].parsed_type.inner
        if item is not None and item.name not in ("optional", "any"):
            message = "with on_error collect a failed element leaves null in its slot: "
            found.append(
                (("into",), message + f"declare '{spec.into}' list[optional[{_text(item)}]].")
            )
    elif spec.errors is not None:
        found.append((("errors",), "`errors` is filled only with `on_error: collect`."))
    if spec.as_ in node.writes:
        found.append((("as",), f"the node writes '{spec.as_}', which holds its element."))
    return found


def _differ(inner: Any, element: Any) -> bool:
    """Whether a list's element type and the `as` key's type differ (`any` fits all)."""
    return "any" not in (element.name, inner.name) and _text(inner) != _text(element)


def _text(expression: Any) -> str:
    if expression.name == "ref":
        return str(expression.reference)
    if expression.inner is None:
        return str(expression.name)
    return f"{expression.name}[{_text(expression.inner)}]"
