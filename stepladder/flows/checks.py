"""Checks that make a valid `FlowSpec` a sound graph, each naming the YAML path at fault.

Every problem found is reported at once, in one `FlowCompileError`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable

from stepladder.errors import FlowCompileError
from stepladder.flows.map_node import map_problems, node_writes
from stepladder.flows.spec import END, START, CaseLabel, EdgeSpec, FlowSpec
from stepladder.specs.locations import LocatedDocument, Path_, near_miss, valid_choices
from stepladder.tools import FINISH
from stepladder.tools.tool import TOOL_NAME_PATTERN

__all__ = ["check_flow", "collections_used", "successors", "tiers_used"]


def check_flow(spec: FlowSpec, tiers: Collection[str] | None = None) -> None:
    """Raise `FlowCompileError` listing every structural problem of `spec`.

    Args:
        spec: The flow.
        tiers: The bound model tiers; when given, every node's tier must be one of them.
    """
    problems = _Problems(spec.document)
    ids = _check_ids(spec, problems)
    _check_keys(spec, problems)
    for path, message in map_problems(spec):
        problems.add(path, message)
    _check_tools(spec, problems)
    if tiers is not None:
        _check_tiers(spec, tiers, problems)
    edges = spec.effective_edges()
    _check_edges(spec, edges, ids, problems)
    if not problems.items:
        graph = successors(edges)
        _check_reachable(spec, graph, problems)
        _check_reads_upstream(spec, graph, problems)
        _check_cycles(spec, graph, problems)
    problems.raise_if_any(spec)


class _Problems:
    def __init__(self, document: LocatedDocument) -> None:
        self.document = document
        self.items: list[str] = []

    def add(self, path: Path_, message: str) -> None:
        self.items.append(f"{self.document.where(path)}: {message}")

    def raise_if_any(self, spec: FlowSpec) -> None:
        if not self.items:
            return
        origin = str(self.document.source) if self.document.source else f"flow '{spec.name}'"
        count = "1 problem" if len(self.items) == 1 else f"{len(self.items)} problems"
        raise FlowCompileError(f"{origin}: cannot compile, {count}: " + " ".join(self.items))


def _check_ids(spec: FlowSpec, problems: _Problems) -> set[str]:
    first: dict[str, int] = {}
    for index, node in enumerate(spec.nodes):
        if node.id in (START, END):
            problems.add(("nodes", index, "id"), f"'{node.id}' is reserved; choose another id.")
        elif node.id in first:
            problems.add(
                ("nodes", index, "id"),
                f"duplicate node id '{node.id}' (first used at nodes[{first[node.id]}]); "
                "ids must be unique.",
            )
        else:
            first[node.id] = index
    return set(first)


def _unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    guess = near_miss(name, choices)
    hint = f"; did you mean '{guess}'?" if guess else "."
    return f"unknown {kind} '{name}'{hint} Valid: {valid_choices(choices)}."


def _check_keys(spec: FlowSpec, problems: _Problems) -> None:
    keys = list(spec.state)
    for index, node in enumerate(spec.nodes):
        for field, declared in (("reads", node.reads), ("writes", node.writes)):
            for position, key in enumerate(declared):
                if key not in spec.state:
                    problems.add(
                        ("nodes", index, *node.key_path(field, position)),
                        _unknown("state key", key, keys) + " Declare it under `state:` first.",
                    )
    for key, field_spec in spec.state.items():
        kind = field_spec.parsed_type.name
        if field_spec.reducer == "append" and kind not in ("list", "any"):
            problems.add(("state", key, "reducer"), f"append needs a list type, not {kind}.")
        if field_spec.reducer == "merge" and kind not in ("dict", "any"):
            problems.add(("state", key, "reducer"), f"merge needs a dict type, not {kind}.")


def _check_tools(spec: FlowSpec, problems: _Problems) -> None:
    """Flow-level tool names are valid; nodes name only tools the flow declares."""
    for key, value in spec.tools.items():
        if key == FINISH:
            problems.add(("tools", key), f"'{FINISH}' is reserved for ending an agent's loop.")
        elif re.fullmatch(TOOL_NAME_PATTERN, key) is None:
            problems.add(("tools", key), "a tool name holds only letters, digits and '_'.")
        elif not isinstance(value, str) and value.name != key:
            problems.add(("tools", key, "name"), f"'{value.name}' differs from its key '{key}'.")
    for index, node in enumerate(spec.nodes):
        for position, name in node.tool_names().items():
            if name not in spec.tools:
                problems.add(
                    ("nodes", index, "tools", position),
                    _unknown("tool", name, spec.tools)
                    + " Declare it under the flow's `tools:`, or give 'module:function'.",
                )


def tiers_used(spec: FlowSpec) -> set[str]:
    """The model tiers the flow's nodes start on (`NodeSpecBase.tiers()`)."""
    return {tier for node in spec.nodes for tier in node.tiers()}


def collections_used(spec: FlowSpec) -> set[str]:
    """The collections the flow's retrieval nodes search (`NodeSpecBase.collections()`)."""
    return {name for node in spec.nodes for name in node.collections()}


def _check_tiers(spec: FlowSpec, tiers: Collection[str], problems: _Problems) -> None:
    for index, node in enumerate(spec.nodes):
        for tier in sorted(node.tiers() - set(tiers)):
            problems.add(
                ("nodes", index, "tier"),
                _unknown("tier", tier, tiers) + " Bind it under `tiers:` in stepladder.yaml.",
            )


def _check_edges(spec: FlowSpec, edges: list[EdgeSpec], ids: set[str], problems: _Problems) -> None:
    if spec.edges is None:
        return
    sources = ids | {START}
    targets = ids | {END}
    for index, edge in enumerate(edges):
        base: Path_ = ("edges", index)
        for position, source in enumerate(edge.sources):
            path = (*base, "from", position) if isinstance(edge.source, list) else (*base, "from")
            if source == END:
                problems.add(path, "END cannot be the source of an edge.")
            elif source not in sources:
                problems.add(path, _unknown("node", source, sources))
        if edge.to is not None:
            if edge.to == START:
                problems.add((*base, "to"), "START cannot be the target of an edge.")
            elif edge.to not in targets:
                problems.add((*base, "to"), _unknown("node", edge.to, targets))
        for label, target in (edge.cases or {}).items():
            if target not in targets:
                problems.add((*base, "cases", label), _unknown("node", target, targets))
        if edge.default is not None and edge.default not in targets:
            problems.add((*base, "default"), _unknown("node", edge.default, targets))
        if edge.when is not None and edge.when not in spec.state:
            problems.add((*base, "when"), _unknown("state key", edge.when, spec.state))
        elif edge.when is not None:
            _check_case_labels(spec, edge, base, problems)
    _check_one_branch(edges, problems)
    if not any(START in edge.sources for edge in edges):
        problems.add(("edges",), "no edge leaves START; add `- {from: START, to: <first node>}`.")


def _check_case_labels(spec: FlowSpec, edge: EdgeSpec, base: Path_, problems: _Problems) -> None:
    """The cases of a `when` on an enum or bool key are values that key can hold.

    Labels compare as the run compares them: as text, booleans as `true`/`false`.
    """
    assert edge.when is not None
    field = spec.state[edge.when]
    kind = field.parsed_type
    if kind.name == "optional" and kind.inner is not None:
        kind = kind.inner
    if kind.name == "enum":
        members = [_case_text(value) for value in field.values or []]
        shown = f"an enum of {', '.join(members)}"
    elif kind.name == "bool":
        members, shown = ["true", "false"], "a bool (cases true and false)"
    else:
        return
    for label in edge.cases or {}:
        text = _case_text(label)
        if text in members:
            continue
        hint = (
            " YAML reads unquoted yes/no/true/false/on/off as booleans: quote the label ('yes')."
            if isinstance(label, bool)
            else ""
        )
        problems.add(
            (*base, "cases", text),
            f"case '{text}' can never match: state key '{edge.when}' is {shown}.{hint}",
        )


def _case_text(label: CaseLabel) -> str:
    return str(label).lower() if isinstance(label, bool) else str(label)


def _check_one_branch(edges: list[EdgeSpec], problems: _Problems) -> None:
    """A node has at most one conditional edge (its cases pick one way on)."""
    first: dict[str, int] = {}
    for index, edge in enumerate(edges):
        if edge.to is not None:
            continue
        source = edge.sources[0]
        if source in first:
            problems.add(
                ("edges", index),
                f"'{source}' already has a conditional edge (edges[{first[source]}]); a node "
                "has one: merge their `cases` into one edge.",
            )
        else:
            first[source] = index


def successors(edges: list[EdgeSpec]) -> dict[str, set[str]]:
    """Map each node id (and START) to the ids its edges can lead to."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        for source in edge.sources:
            graph[source].update(edge.targets)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for nxt in graph.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def _check_reachable(spec: FlowSpec, graph: dict[str, set[str]], problems: _Problems) -> None:
    reached = _reachable(graph, START)
    for index, node in enumerate(spec.nodes):
        if node.id not in reached:
            problems.add(
                ("nodes", index),
                f"node '{node.id}' is unreachable from START; add an edge to it or remove it.",
            )


def _check_reads_upstream(spec: FlowSpec, graph: dict[str, set[str]], problems: _Problems) -> None:
    available = {key for key, field in spec.state.items() if field.input or field.has_default}
    writers: dict[str, list[str]] = defaultdict(list)
    for node in spec.nodes:
        for key in node_writes(node):
            writers[key].append(node.id)
    reverse: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        for target in targets:
            reverse[target].add(source)
    for index, node in enumerate(spec.nodes):
        upstream = _reachable(reverse, node.id)
        element = {node.map.as_} if node.map is not None else set()
        for position, key in enumerate(node.reads):
            if key in available | element or any(w in upstream for w in writers[key]):
                continue
            others = ", ".join(writers[key]) or "no node"
            problems.add(
                ("nodes", index, *node.key_path("reads", position)),
                f"node '{node.id}' reads '{key}', but nothing upstream writes it (written by: "
                f"{others}) and it is not an input. Mark it `input: true` or give it a `default` "
                "under `state:`, or read it only after a node that writes it.",
            )


def _check_cycles(spec: FlowSpec, graph: dict[str, set[str]], problems: _Problems) -> None:
    index_of = {node.id: index for index, node in enumerate(spec.nodes)}
    for component in _strongly_connected(graph, list(index_of)):
        looping = len(component) > 1 or any(n in graph.get(n, ()) for n in component)
        if not looping:
            continue
        exits = any(target not in component for n in component for target in graph.get(n, ()))
        if not exits:
            members = sorted(component, key=index_of.__getitem__)
            problems.add(
                ("nodes", index_of[members[0]]),
                f"the cycle {' -> '.join([*members, members[0]])} has no exit edge, so a run "
                "would never end; add a conditional edge out of it (to another node or END).",
            )


def _strongly_connected(graph: dict[str, set[str]], nodes: list[str]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
