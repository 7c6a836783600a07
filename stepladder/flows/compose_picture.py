"""Drawing composed flows: each `flow` node collapsed to one box, or expanded into its nodes.

Expanded, a subflow's nodes are named `<node>/<subnode>`: edges into the `flow` node lead to
the subflow's first nodes and the subflow's last nodes lead where the node's edges do. The
Mermaid text groups them in a `subgraph` per `flow` node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from stepladder.flows.flow import Flow
from stepladder.flows.spec import END, START, EdgeSpec, FlowSpec

__all__ = ["composed_mermaid", "expanded_spec"]

SEPARATOR = "/"


def expanded_spec(flow: Flow) -> FlowSpec:
    """`flow`'s spec with every `flow` node replaced by its subflow's nodes (recursively)."""
    spec = flow.spec
    nodes: list[Any] = []
    edges = spec.effective_edges()
    for node in spec.nodes:
        sub = flow.subflows.get(node.id)
        if sub is None:
            nodes.append(node)
            continue
        inner = expanded_spec(sub)
        prefix = node.id + SEPARATOR
        nodes += [n.model_copy(update={"id": prefix + n.id}) for n in inner.nodes]
        edges = _spliced(edges, node.id, prefix, inner.effective_edges())
    return spec.model_copy(update={"nodes": nodes, "edges": edges})


def _spliced(
    edges: list[EdgeSpec], node_id: str, prefix: str, inner: list[EdgeSpec]
) -> list[EdgeSpec]:
    """`edges` with `node_id` replaced by the prefixed `inner` edges."""
    firsts = [t for e in inner if START in e.sources for t in e.targets]
    afters = [t for e in edges if node_id in e.sources and e.to is not None for t in e.targets]
    exit_to = afters[0] if len(afters) == 1 else END

    def rename(target: str) -> str:
        return exit_to if target == END else prefix + target

    result: list[EdgeSpec] = []
    for edge in edges:
        if node_id in edge.sources:
            continue  # the subflow's last nodes lead on instead
        targets = [prefix + t for t in firsts] if edge.to == node_id else None
        if targets is not None:
            result += [_static(edge.sources, target) for target in targets]
            continue
        cases = {
            k: (prefix + firsts[0] if v == node_id else v) for k, v in (edge.cases or {}).items()
        }
        result.append(edge.model_copy(update={"cases": cases}) if edge.cases else edge)
    for edge in inner:
        if START in edge.sources:
            continue
        sources = [prefix + s for s in edge.sources]
        if edge.to is not None:
            ends = afters if edge.to == END and afters else [rename(edge.to)]
            result += [_static(sources, target) for target in ends]
            continue
        cases = {k: rename(v) for k, v in (edge.cases or {}).items()}
        default = rename(edge.default) if edge.default else None
        result.append(edge.model_copy(update={"source": sources[0], "cases": cases,
                                              "default": default}))  # fmt: skip
    for edge in edges:  # a conditional edge out of the node leaves from the subflow's ends
        if node_id in edge.sources and edge.to is None:
            ends = [prefix + s for e in inner if e.to == END for s in e.sources]
            result += [edge.model_copy(update={"source": end}) for end in ends]
    return result


def _static(sources: Iterable[str], target: str) -> EdgeSpec:
    listed = list(sources)
    return EdgeSpec.model_validate({"from": listed if len(listed) > 1 else listed[0], "to": target})


def composed_mermaid(flow: Flow) -> str:
    """The flow as Mermaid with each subflow expanded inside a `subgraph` block."""
    spec = expanded_spec(flow)
    lines = ["graph TD;", f"\t{_id(START)}([START]):::first", f"\t{_id(END)}([END]):::last"]
    groups: dict[str, list[str]] = {}
    for node in spec.nodes:
        top, _, rest = node.id.partition(SEPARATOR)
        box = f'{_id(node.id)}["{node.id}"]'
        if rest:
            groups.setdefault(top, []).append(box)
        else:
            lines.append(f"\t{box}")
    for top, boxes in groups.items():
        sub = flow.subflows[top]
        lines.append(f'\tsubgraph {_id(top)}["{top} (flow: {sub.name})"]')
        lines += [f"\t\t{box}" for box in boxes]
        lines.append("\tend")
    for edge in spec.effective_edges():
        for source in edge.sources:
            if edge.to is not None:
                lines.append(f"\t{_id(source)} --> {_id(edge.to)};")
                continue
            for label, target in (edge.cases or {}).items():
                lines.append(f"\t{_id(source)} -. {label} .-> {_id(target)};")
            if edge.default is not None:
                lines.append(f"\t{_id(source)} -. otherwise .-> {_id(edge.default)};")
    lines += ["\tclassDef first fill-opacity:0", "\tclassDef last fill:#bfb6fc", ""]
    return "\n".join(lines)


def _id(name: str) -> str:
    """A Mermaid-safe id for a node name (`shout/upper` -> `shout__upper`)."""
    return {START: "__start__", END: "__end__"}.get(name) or re.sub(r"\W", "__", name)
