"""`Flow`: a compiled flow, ready to run as a LangGraph app."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from stepladder.errors import FlowInputError, UserError
from stepladder.flows.adapters import load_adapters
from stepladder.flows.checks import collections_used, tiers_used
from stepladder.flows.spec import FlowSpec
from stepladder.nodes import Artifacts, RunContext
from stepladder.nodes.llm.ladder import reaches_human, verifier_tiers
from stepladder.retrieval.store import Store
from stepladder.runtimes import ModelPool
from stepladder.specs.locations import format_path
from stepladder.specs.type_expressions import unannotated
from stepladder.tracing import Tracing

__all__ = ["Flow"]


@dataclass(frozen=True)
class Flow:
    """A flow compiled from its spec.

    Attributes:
        spec: The flow's spec.
        graph: The LangGraph `StateGraph` (not yet compiled with a checkpointer).
        project_root: The project folder the flow belongs to, if any.
        state_types: The Python type of each state key.
        ladder: The project's escalation ladder (tier names, cheapest first; maybe `human`).
        programs: The DSPy program of each LLM node, by node id (what optimization tunes;
            compiled prompts are loaded into these).
        agents: The agent nodes' loops (their step calls and tools), by node id.
        compiled_prompts: The optimized prompts loaded into `programs` (file, date,
            optimizer), if any.
        artifacts: The trained artifacts its nodes use, found and checked by `prepare`.
        async_nodes: The nodes that only run asynchronously (LLM, retrieval and agent nodes,
            async functions): `invoke` runs the flow on an event loop of its own for these.
        subflows: The compiled flow of each `flow` node, by node id.
    """

    spec: FlowSpec
    graph: StateGraph[Any, RunContext, Any, Any]
    project_root: Path | None = None
    state_types: dict[str, Any] = field(default_factory=dict)
    ladder: tuple[str, ...] = ()
    programs: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    compiled_prompts: str | None = None
    artifacts: Artifacts = field(default_factory=Artifacts)
    async_nodes: frozenset[str] = frozenset()
    subflows: dict[str, Flow] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The flow's name."""
        return self.spec.name

    def prepare(self) -> None:
        """Find the trained artifacts the nodes use and check them (once; reads files).

        Runs call this before the first node, so a missing artifact stops the run at once.

        Raises:
            FlowCompileError: Naming the node's field, when an artifact is missing or
                unreadable, or does not fit the node.
        """
        self.artifacts.prepare()

    def use_adapters(self, models: ModelPool | None) -> None:
        """Prepare the flow, then have `models` load the LoRA adapters its nodes name.

        Each node's tier must serve the base model its adapter was trained on; every tier
        that serves it loads it (before the tier starts, or by starting again).

        Raises:
            FlowCompileError: At a node's `adapter` field, when the adapter is missing or its
                base is not the node's tier's (retrain it).
        """
        self.prepare()
        if models is not None:
            load_adapters(self.spec, self.artifacts, self.ladder, models)
            for sub in self.subflows.values():
                sub.use_adapters(models)

    def compile(
        self, checkpointer: BaseCheckpointSaver[Any] | None = None
    ) -> CompiledStateGraph[Any, RunContext, Any, Any]:
        """Compile the graph into a runnable LangGraph app."""
        return self.graph.compile(checkpointer=checkpointer, name=self.spec.name)

    @cached_property
    def app(self) -> CompiledStateGraph[Any, RunContext, Any, Any]:
        """The graph compiled without a checkpointer (built once)."""
        return self.compile()

    @cached_property
    def tiers(self) -> set[str]:
        """The model tiers this flow's nodes start on, and their verifiers' judges.

        Rungs above a node's tier start only when the node escalates to them.
        """
        judges = {tier for node in self.spec.nodes for tier in verifier_tiers(node)}
        inner = {tier for sub in self.subflows.values() for tier in sub.tiers}
        return tiers_used(self.spec) | judges | inner

    @cached_property
    def reaches_human(self) -> bool:
        """Whether a node can hand a case to a human reviewer (the run needs a thread)."""
        mine = any(reaches_human(node, self.ladder) for node in self.spec.nodes)
        return mine or any(sub.reaches_human for sub in self.subflows.values())

    @cached_property
    def every_agent(self) -> dict[str, Any]:
        """The agent loops of this flow and of every subflow under it, by node path.

        A subflow's agents are named `NODE/AGENT` (the flow node, then the agent's id).
        """
        inner = {
            f"{node_id}/{path}": loop
            for node_id, sub in self.subflows.items()
            for path, loop in sub.every_agent.items()
        }
        return dict(self.agents) | inner

    @cached_property
    def collections(self) -> set[str]:
        """The collections this flow's retrieval nodes search."""
        return collections_used(self.spec).union(*(s.collections for s in self.subflows.values()))

    def context(
        self,
        models: ModelPool | None = None,
        store: Store | None = None,
        tracing: Tracing | None = None,
        programs: Mapping[str, Any] | None = None,
        **extras: Any,
    ) -> RunContext:
        """A run context for this flow: the model tiers, store and tracing its nodes use.

        `programs` replace LLM nodes' own DSPy programs for this run (by node id).
        """
        return RunContext(
            project_root=self.project_root,
            flow_name=self.spec.name,
            models=models,
            store=store,
            tracing=tracing,
            extras=extras,
            ladder=self.ladder,
            programs=dict(programs or {}),
            artifacts=self.artifacts,
        )

    def mermaid(self) -> str:
        """The graph as a Mermaid diagram."""
        return self.app.get_graph().draw_mermaid()

    @cached_property
    def input_model(self) -> type[BaseModel]:
        """A pydantic model of the run input: the state keys marked `input: true`."""
        fields: dict[str, Any] = {}
        for key, state_field in self.spec.state.items():
            if not state_field.input:
                continue
            python_type = unannotated(self.state_types[key])
            default = state_field.default if state_field.has_default else ...
            fields[key] = (python_type, default)
        return create_model(
            f"{self.spec.name}_input", __config__=ConfigDict(extra="forbid"), **fields
        )

    def prepare_input(self, data: Any) -> dict[str, Any]:
        """Validate run input against the flow's inputs and fill defaults.

        Raises:
            FlowInputError: Naming each bad field and the valid inputs.
        """
        if not isinstance(data, dict):
            raise FlowInputError(
                f"flow '{self.name}': input must be a JSON object of its inputs "
                f"({self._input_names()}), not {type(data).__name__}."
            )
        try:
            validated = self.input_model.model_validate(data)
        except ValidationError as error:
            problems = []
            for detail in error.errors(include_url=False):
                where = "input." + format_path(detail["loc"])
                message = detail["msg"]
                if detail["type"] == "extra_forbidden":
                    message = f"not an input of this flow; inputs are: {self._input_names()}"
                problems.append(f"{where}: {message}")
            raise FlowInputError(
                f"flow '{self.name}': bad input: " + "; ".join(problems) + "."
            ) from None
        values = {key: getattr(validated, key) for key in type(validated).model_fields}
        for key, state_field in self.spec.state.items():
            if not state_field.input and state_field.has_default:
                values[key] = state_field.default
        return values

    def _input_names(self) -> str:
        names = [k for k, f in self.spec.state.items() if f.input]
        return ", ".join(names) or "(none)"

    def invoke(
        self,
        data: dict[str, Any],
        models: ModelPool | None = None,
        store: Store | None = None,
        **extras: Any,
    ) -> dict[str, Any]:
        """Run the flow from synchronous code and return its final state (not traced).

        Flows of function nodes need nothing more. A flow with LLM nodes needs its model
        tiers: run it with `stepladder.open_project(path).run(flow, data)`, which starts them,
        traces the run into the project's store and checkpoints it on a thread, or pass
        `models` (a `ModelPool`). Nodes that only run asynchronously (LLM, retrieval, agent
        and async function nodes) run on an event loop of their own.

        Raises:
            UserError: When the flow has LLM nodes and no `models` were given, or has async
                nodes and an event loop runs in this thread (`await flow.ainvoke(...)` there
                instead).
        """
        self._check_bound(models, store, "invoke")
        if self.async_nodes:
            _no_running_loop(self.name)
            return asyncio.run(self.ainvoke(data, models, store, **extras))
        self.use_adapters(models)
        context = self.context(models, store, **extras)
        return dict(self.app.invoke(self.prepare_input(data), context=context))

    async def ainvoke(
        self,
        data: dict[str, Any],
        models: ModelPool | None = None,
        store: Store | None = None,
        **extras: Any,
    ) -> dict[str, Any]:
        """Run the flow and return its final state (not traced).

        A flow with LLM nodes needs `models` (a `ModelPool`); `await
        stepladder.open_project(path).arun(flow, data)` starts the project's tiers itself,
        traces the run and checkpoints it on a thread.

        Raises:
            UserError: When the flow has LLM nodes and no `models` were given.
        """
        self._check_bound(models, store, "ainvoke")
        self.use_adapters(models)
        context = self.context(models, store, **extras)
        return dict(await self.app.ainvoke(self.prepare_input(data), context=context))

    def _check_bound(self, models: ModelPool | None, store: Store | None, method: str) -> None:
        """Check that the flow's model tiers were given to `method` (a store is the node's).

        Raises:
            UserError: Saying what to call instead.
        """
        if not self.tiers or models is not None:
            return
        where = f'"{self.project_root}"' if self.project_root is not None else '"PROJECT"'
        call = "await project.arun" if method == "ainvoke" else "project.run"
        store_too = " (and `store=`)" if self.collections and store is None else ""
        raise UserError(
            f"flow '{self.name}' needs model tiers ({', '.join(sorted(self.tiers))}), which "
            f"Flow.{method} was not given. Run it with its project, which starts the tiers, "
            f"traces the run and checkpoints it: `project = stepladder.open_project({where})`, "
            f"then `{call}('{self.name}', {{...}})`; or pass `models=ModelPool(...)`{store_too}."
        )


def _no_running_loop(flow: str) -> None:
    """Raise when an event loop runs in this thread (`asyncio.run` cannot start another).

    Raises:
        UserError: Naming `Flow.ainvoke` as the call to await instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UserError(
        f"flow '{flow}' has async nodes and Flow.invoke was called while an event loop runs "
        "(async code, Jupyter): `await flow.ainvoke(...)` there instead."
    )
