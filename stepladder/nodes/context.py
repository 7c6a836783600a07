"""The per-run context every node receives through LangGraph's runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from stepladder.errors import NodeError
from stepladder.nodes.artifacts import Artifacts
from stepladder.retrieval.store import Store
from stepladder.runtimes.pool import ModelPool
from stepladder.runtimes.usage import UsageLedger
from stepladder.tools.mcp import McpClients
from stepladder.tracing import Tracing

__all__ = ["RunContext", "run_context"]


@dataclass(frozen=True)
class RunContext:
    """What a run binds for its nodes; passed as LangGraph's runtime context.

    Later layers add tools here.
    Nodes never create these themselves: construction does no I/O.

    Attributes:
        project_root: The project folder, when the flow belongs to one.
        flow_name: The name of the flow being run.
        models: The model tiers of the run (LLM nodes need them).
        store: The Chroma store of the project (retrieval nodes need it).
        usage: The run's model calls, recorded by LLM nodes.
        tracing: Where the run's spans go (None: not traced).
        trace_attributes: Extra attributes for the run's root span (an eval's run and case ids).
        extras: Values a caller makes available to function nodes that ask for `context`.
        ladder: The project's escalation ladder (tier names, cheapest first; maybe `human`).
        programs: DSPy programs to call instead of the LLM nodes' own, by node id (an
            optimizer runs the flow over its copies of the programs this way).
        artifacts: The flow's trained artifacts (classifiers, routers), found when the run
            started; nodes load them from here.
        mcp: The run's sessions with MCP servers (agent nodes' tools); one per server.
    """

    project_root: Path | None = None
    flow_name: str = ""
    models: ModelPool | None = None
    store: Store | None = None
    usage: UsageLedger = field(default_factory=UsageLedger)
    tracing: Tracing | None = None
    trace_attributes: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    ladder: tuple[str, ...] = ()
    programs: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Artifacts = field(default_factory=Artifacts)
    mcp: McpClients | None = None


def run_context(runtime: Runtime[RunContext], node_id: str) -> RunContext:
    """The run context LangGraph's `runtime` carries.

    Raises:
        NodeError: When the node was run without one (outside a flow's run).
    """
    context: RunContext | None = runtime.context
    if context is None:
        raise NodeError(node_id, "was run without a run context; run it in a flow (run_flow).")
    return context
