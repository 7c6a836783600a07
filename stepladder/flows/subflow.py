"""Subflows: a `flow` node compiled to a LangGraph subgraph that runs inside the node.

The subflow's compiled graph is invoked from the node's function, so LangGraph treats it as a
subgraph: it inherits the parent run's checkpointer under its own checkpoint namespace (a
killed run resumes inside it), a review it pauses for surfaces as the parent's interrupt
(answered through the parent's thread), and its node spans nest under the node's span. Its
model calls go to the parent run's usage ledger, so its cost adds to the parent's.

A flow that runs itself, directly or through others, is refused when it compiles, naming the
cycle (`a -> b -> a`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union

from langgraph.runtime import Runtime

from stepladder.errors import ConfigError, FlowCompileError, FlowSpecError
from stepladder.flows.loader import load_flow
from stepladder.flows.spec import FlowSpec
from stepladder.nodes import BuildContext, BuiltNode, FlowNodeSpec, RunContext
from stepladder.nodes.base import State
from stepladder.specs.locations import near_miss, valid_choices
from stepladder.specs.type_expressions import unannotated

if TYPE_CHECKING:
    from stepladder.flows.flow import Flow

__all__ = ["FlowSource", "FolderFlows", "MappingFlows", "Subflows", "subflow_builder"]

FLOW_SUFFIXES = (".yaml", ".yml")


class FlowSource(Protocol):
    """Where a `flow` node's flows come from, by name."""

    def load(self, name: str) -> FlowSpec | None:
        """The flow named `name`, or None when there is none.

        Raises:
            FlowSpecError: When the flow's file is not a valid flow.
        """
        ...

    def names(self) -> list[str]:
        """The names of the flows there are."""
        ...


@dataclass(frozen=True)
class FolderFlows:
    """The flows of a project's flows folder (`<name>.yaml`), each changed by `adjust`."""

    folder: Path
    adjust: Callable[[FlowSpec], FlowSpec] | None = None

    def load(self, name: str) -> FlowSpec | None:
        """The flow `name` from the folder (adjusted), or None."""
        for suffix in FLOW_SUFFIXES:
            path = self.folder / f"{name}{suffix}"
            if path.is_file():
                spec = load_flow(path)
                return self.adjust(spec) if self.adjust is not None else spec
        return None

    def names(self) -> list[str]:
        """The flow files' names in the folder."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.iterdir() if p.suffix in FLOW_SUFFIXES)


@dataclass(frozen=True)
class MappingFlows:
    """Flows given directly, by name (the Python builder's)."""

    flows: Mapping[str, FlowSpec]
    fallback: FlowSource | None = None

    def load(self, name: str) -> FlowSpec | None:
        """The flow `name`, or the fallback's, or None."""
        found = self.flows.get(name)
        if found is None and self.fallback is not None:
            return self.fallback.load(name)
        return found

    def names(self) -> list[str]:
        """The names given (and the fallback's)."""
        more = self.fallback.names() if self.fallback is not None else []
        return sorted({*self.flows, *more})


Compiler = Callable[[FlowSpec, "Subflows"], "Flow"]


@dataclass
class Subflows:
    """Builds the `flow` nodes of one flow (`BuildContext.subflows`).

    Attributes:
        source: Where flows are found by name.
        compile: Compiles a subflow with the project's options (and these subflows).
        chain: The flows being compiled, outermost first (to name a cycle).
        built: The compiled subflow of each `flow` node, by node id.
    """

    source: FlowSource
    compile: Compiler
    chain: tuple[str, ...] = ()
    built: dict[str, Flow] = field(default_factory=dict)

    def build(self, node: Any, context: BuildContext) -> BuiltNode:
        """Compile the node's flow, check its mappings and return the node that runs it.

        Raises:
            FlowCompileError: For an unknown flow, a cycle, or a mapping naming a key the
                subflow does not have or whose type differs.
        """
        assert isinstance(node, FlowNodeSpec)
        if node.flow in self.chain:
            cycle = [*self.chain[self.chain.index(node.flow) :], node.flow]
            raise FlowCompileError(
                f"{context.where('flow')}: flow '{node.flow}' runs itself through "
                f"{' -> '.join(cycle)}; a flow cannot include itself, directly or through others."
            )
        spec = self._load(node, context)
        sub = self.compile(spec, Subflows(self.source, self.compile, (*self.chain, node.flow)))
        _check_mappings(node, sub, context)
        self.built[node.id] = sub
        return BuiltNode(afunc=_runner(node, sub), prepare=lambda _artifacts: sub.prepare())

    def _load(self, node: FlowNodeSpec, context: BuildContext) -> FlowSpec:
        try:
            spec = self.source.load(node.flow)
        except (FlowSpecError, ConfigError) as error:
            raise FlowCompileError(
                f"{context.where('flow')}: subflow '{node.flow}' is not valid: {error}"
            ) from error
        if spec is None:
            names = self.source.names()
            guess = near_miss(node.flow, names)
            hint = f" Did you mean '{guess}'?" if guess else ""
            raise FlowCompileError(
                f"{context.where('flow')}: there is no flow '{node.flow}' to run as a subflow."
                f"{hint} Flows: {valid_choices(names)}."
            )
        return spec


def subflow_builder(
    flows: FlowSource | Mapping[str, FlowSpec] | Subflows | None,
    project_root: Path | None,
    spec: FlowSpec,
    compile_sub: Callable[[FlowSpec, Subflows], Flow],
) -> Subflows:
    """The `Subflows` that builds `spec`'s flow nodes (a given one, or one over `flows`)."""
    if isinstance(flows, Subflows):
        return flows
    source: FlowSource
    if flows is None:
        source = FolderFlows(project_root / "flows") if project_root else MappingFlows({})
    elif isinstance(flows, Mapping):
        source = MappingFlows(flows)
    else:
        source = flows
    return Subflows(source, compile_sub, (spec.name,))


def _runner(node: FlowNodeSpec, sub: Flow) -> Callable[[State, Runtime[RunContext]], Any]:
    """The node's function: map the inputs in, run the subgraph, map the outputs out."""
    inputs, outputs = dict(node.inputs), dict(node.outputs)
    defaults = {k: f.default for k, f in sub.spec.state.items() if f.has_default}
    read = sorted(set(outputs.values()))  # only the keys mapped out are read back

    async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        payload = {**defaults, **{key: state.get(parent) for key, parent in inputs.items()}}
        context = runtime.context
        inner = None
        if context is not None:
            inner = replace(context, flow_name=sub.name, artifacts=sub.artifacts, programs={})
        # `v2` streams values only (v1 also streams updates, to find interrupts, which a
        # subgraph raises to the parent instead): measurably less work per subflow run
        output = await sub.app.ainvoke(payload, context=inner, version="v2", output_keys=read)
        result = output.value or {}
        return {parent: result.get(key) for parent, key in outputs.items()}

    return run


def _check_mappings(node: FlowNodeSpec, sub: Flow, context: BuildContext) -> None:
    """Each mapping names a key of the subflow whose type fits the parent key's."""
    problems: list[str] = []
    state = sub.spec.state
    inputs = [k for k, f in state.items() if f.input]
    for key, parent in node.inputs.items():
        where = context.where("inputs", key)
        if key not in state or not state[key].input:
            problems.append(
                f"{where}: subflow '{sub.name}' has no input '{key}'; its inputs: "
                f"{valid_choices(inputs)}."
            )
        elif not _fits(context.state_types.get(parent), sub.state_types[key]):
            problems.append(
                f"{where}: parent key '{parent}' is {_declared(context, parent)} but subflow "
                f"'{sub.name}' input '{key}' is {state[key].type}."
            )
    missing = [k for k in inputs if k not in node.inputs and not state[k].has_default]
    if missing:
        problems.append(
            f"{context.where('inputs')}: subflow '{sub.name}' needs input(s) "
            f"{', '.join(missing)}; map each to a parent key (`{missing[0]}: <key>`)."
        )
    for parent, key in node.outputs.items():
        where = context.where("outputs", parent)
        if key not in state:
            problems.append(
                f"{where}: subflow '{sub.name}' has no state key '{key}'; its keys: "
                f"{valid_choices(state)}."
            )
        elif not _fits(sub.state_types[key], context.state_types.get(parent)):
            problems.append(
                f"{where}: subflow key '{key}' is {state[key].type} but parent key '{parent}' "
                f"is {_declared(context, parent)}."
            )
    if problems:
        raise FlowCompileError(" ".join(problems))


def _declared(context: BuildContext, key: str) -> str:
    python_type = unannotated(context.state_types.get(key, Any))
    return getattr(python_type, "__name__", None) or str(python_type).replace("typing.", "")


def _fits(source: Any, target: Any) -> bool:
    """Whether a value of type `source` is always a value of type `target`."""
    source, target = unannotated(source), unannotated(target)
    if source is None or target is None or source is Any or target is Any or source == target:
        return True
    if typing.get_origin(target) in (Union, types.UnionType):
        options = typing.get_args(target)
        if typing.get_origin(source) in (Union, types.UnionType):
            return all(any(_fits(s, t) for t in options) for s in typing.get_args(source))
        return any(_fits(source, option) for option in options)
    if typing.get_origin(source) is Literal:
        values = typing.get_args(source)
        if typing.get_origin(target) is Literal:
            return set(values) <= set(typing.get_args(target))
        return isinstance(target, type) and all(isinstance(value, target) for value in values)
    if typing.get_origin(source) is typing.get_origin(target) is not None:
        pairs = zip(typing.get_args(source), typing.get_args(target), strict=False)
        return all(_fits(s, t) for s, t in pairs)
    return bool(source is int and target is float)
