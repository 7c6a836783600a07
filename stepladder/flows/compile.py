"""`compile_flow`: check a `FlowSpec`, resolve its references and build a LangGraph graph."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph._internal._runnable import RunnableCallable  # the runnable add_node builds
from langgraph.graph import END as GRAPH_END
from langgraph.graph import START as GRAPH_START
from langgraph.graph import StateGraph
from pydantic import BaseModel

from stepladder.errors import FlowCompileError, ReferenceError_, RunError
from stepladder.flows.checks import check_flow
from stepladder.flows.flow import Flow
from stepladder.flows.map_node import add_mapped
from stepladder.flows.spec import END, START, EdgeSpec, FlowSpec
from stepladder.flows.state_check import check_defaults, checked, state_checks
from stepladder.flows.subflow import FlowSource, Subflows, subflow_builder
from stepladder.nodes import Artifacts, BuildContext, RunContext
from stepladder.nodes.llm.ladder import check_escalation
from stepladder.nodes.subflow import FlowNodeSpec
from stepladder.nodes.traced import traced
from stepladder.replay import recorded
from stepladder.specs.references import ReferencePolicy

__all__ = ["compile_flow"]

OTHERWISE = "otherwise"
_REDUCERS: dict[str, Callable[[Any, Any], Any]] = {
    "append": operator.add,
    "merge": lambda old, new: {**(old or {}), **(new or {})},
    "last": lambda old, new: new,
}


def compile_flow(
    spec: FlowSpec,
    *,
    project_root: str | Path | None = None,
    allow_imports: tuple[str, ...] = (),
    objects: Mapping[str, Any] | None = None,
    tiers: Collection[str] | None = None,
    ladder: Sequence[str] = (),
    mcp_servers: Mapping[str, Any] | None = None,
    subflows: FlowSource | Mapping[str, FlowSpec] | Subflows | None = None,
) -> Flow:
    """Validate `spec` and build its LangGraph `StateGraph`.

    Args:
        spec: The flow.
        project_root: The project folder (a path or a string); its modules may be referenced.
        allow_imports: Extra module prefixes references may import from.
        objects: Python objects given directly (the builder's callables), by reference.
        tiers: The bound model tiers; when given, nodes may only name these.
        ladder: The project's escalation ladder, which nodes with `escalate:` climb.
        mcp_servers: The project's MCP servers by name (`McpServerSettings`), which agent
            nodes may take tools from.
        subflows: Where `flow` nodes find their flows by name (default: the project's
            `flows/` folder).

    Every node's updates are checked against the declared types of the keys it writes
    (`stepladder.flows.state_check`); state defaults are checked here. Building reads no
    file: the trained artifacts the nodes declare are found and checked when a run starts
    (`Flow.prepare`).

    Raises:
        FlowCompileError: If the flow is unsound, a reference cannot be resolved, or a
            state default does not fit its type.
    """
    root = Path(project_root) if project_root is not None else None
    check_flow(spec, tiers)
    problems = check_escalation(spec.nodes, ladder, tiers, spec.document)
    if problems:
        origin = str(spec.document.source) if spec.document.source else f"flow '{spec.name}'"
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise FlowCompileError(f"{origin}: cannot compile, {count}: " + " ".join(problems))
    policy = ReferencePolicy(root, allow_imports, objects, spec.document)
    state_types = _state_types(spec, policy)
    checks = state_checks(spec, state_types)
    check_defaults(spec, checks)
    state_schema = TypedDict(f"{spec.name}_state", state_types, total=False)  # type: ignore[misc]
    graph: StateGraph[Any, RunContext, Any, Any] = StateGraph(
        state_schema, context_schema=RunContext
    )
    programs: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    async_nodes: set[str] = set()
    artifacts = Artifacts(root)

    def compile_sub(sub: FlowSpec, builder: Subflows) -> Flow:
        return compile_flow(
            sub, project_root=root, allow_imports=allow_imports, objects=objects,
            tiers=tiers, ladder=ladder, mcp_servers=mcp_servers, subflows=builder,
        )  # fmt: skip

    composer = subflow_builder(subflows, root, spec, compile_sub)
    exits: dict[str, str] = {}
    for index, node in enumerate(spec.nodes):
        where = ("nodes", index)
        context = BuildContext(
            policy, where, spec.document, state_types, programs, spec.tools, agents,
            mcp_servers=dict(mcp_servers or {}), subflows=composer,
        )  # fmt: skip
        built = node.build(context)
        artifacts.expect(node.artifacts(), context.where, built.prepare)
        built = checked(node, built, checks)
        if not isinstance(node, FlowNodeSpec):  # a subflow's own nodes record themselves
            built = recorded(node, built, context)
        if node.map is not None:  # each element's call is recorded and replayed on its own
            exits[node.id] = add_mapped(graph, node, built, checks)
            async_nodes.add(node.id)
            continue
        built = traced(node, built)
        if built.func is None:
            async_nodes.add(node.id)
        graph.add_node(
            node.id, RunnableCallable(built.func, built.afunc, name=node.id, trace=False)
        )
    for index, edge in enumerate(spec.effective_edges()):
        _add_edge(graph, edge, index, policy, exits)
    return Flow(
        spec=spec,
        graph=graph,
        project_root=root,
        state_types=state_types,
        ladder=tuple(ladder),
        programs=programs,
        agents=agents,
        artifacts=artifacts,
        async_nodes=frozenset(async_nodes),
        subflows=dict(composer.built),
    )


def _state_types(spec: FlowSpec, policy: ReferencePolicy) -> dict[str, Any]:
    types: dict[str, Any] = {}
    for key, field in spec.state.items():
        path = ("state", key, "type")

        def resolve(reference: str, path: tuple[str | int, ...] = path) -> Any:
            return policy.resolve(reference, path)

        try:
            python_type = field.parsed_type.to_python(field.values, resolve)
        except TypeError as error:
            raise FlowCompileError(f"{spec.document.where(path)}: {error}.") from error
        reducer = _REDUCERS.get(field.reducer)
        types[key] = Annotated[python_type, reducer] if reducer else python_type
    return types


def _graph_id(node_id: str) -> str:
    return {START: GRAPH_START, END: GRAPH_END}.get(node_id, node_id)


def _add_edge(
    graph: StateGraph[Any, RunContext, Any, Any],
    edge: EdgeSpec,
    index: int,
    policy: ReferencePolicy,
    exits: Mapping[str, str],
) -> None:
    if edge.to is not None:
        sources = [exits.get(s) or _graph_id(s) for s in edge.sources]
        graph.add_edge(sources if len(sources) > 1 else sources[0], _graph_id(edge.to))
        return
    path_map = {_label(label): _graph_id(target) for label, target in (edge.cases or {}).items()}
    if edge.default is not None:
        path_map[OTHERWISE] = _graph_id(edge.default)
    chooser = _chooser(edge, index, policy, path_map)
    path: Any = chooser
    if edge.router is None:  # a state lookup, no user code: no worker thread in async runs
        path = RunnableCallable(chooser, _on_the_loop(chooser), name=chooser.__name__)
    source = exits.get(edge.sources[0]) or _graph_id(edge.sources[0])
    graph.add_conditional_edges(source, path, path_map)  # type: ignore[arg-type]


def _on_the_loop(
    choose: Callable[[Mapping[str, Any]], str],
) -> Callable[[Mapping[str, Any]], Awaitable[str]]:
    """`choose` for async runs, on the event loop.

    LangGraph hands a plain function to a worker thread, which costs more than a state lookup.
    """

    async def choose_async(state: Mapping[str, Any]) -> str:
        return choose(state)

    return choose_async


def _label(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _chooser(
    edge: EdgeSpec, index: int, policy: ReferencePolicy, path_map: dict[str, str]
) -> Callable[[Mapping[str, Any]], str]:
    """Build the function that picks a case label from the state."""
    where = f"edges[{index}]"
    if edge.router is not None:
        router = policy.resolve(edge.router, ("edges", index, "router"))
        if not callable(router):
            raise ReferenceError_(
                f"{policy.document.where(('edges', index, 'router'))}: "
                f"'{edge.router}' is not callable."
            )
        describe = f"router {edge.router} returned"
    else:
        key = edge.when
        describe = f"state key '{key}' is"

        def router(state: Mapping[str, Any]) -> Any:
            return state.get(key)  # type: ignore[arg-type]

    labels = ", ".join(k for k in path_map if k != OTHERWISE)

    def choose(state: Mapping[str, Any]) -> str:
        value = router(state)
        if isinstance(value, BaseModel | dict):
            raise RunError(f"{where}: {describe} a {type(value).__name__}, not a case label.")
        label = _label(getattr(value, "value", value))
        if label in path_map and label != OTHERWISE:
            return label
        if OTHERWISE in path_map:
            return OTHERWISE
        raise RunError(
            f"{where} (from '{edge.sources[0]}'): {describe} {value!r}, which matches no case "
            f"({labels}) and the edge has no `default`."
        )

    return choose
