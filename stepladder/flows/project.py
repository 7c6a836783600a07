"""A project's flows: loading and compiling one by name, its checkpoints, tracing and thread ids."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from stepladder.config import Project
from stepladder.errors import ConfigError, UserError
from stepladder.flows.compile import compile_flow
from stepladder.flows.flow import Flow
from stepladder.flows.loader import load_flow
from stepladder.flows.spec import FlowSpec
from stepladder.flows.subflow import FolderFlows
from stepladder.nodes.base import NodeSpecBase
from stepladder.nodes.llm.escalation import EMBEDDINGS
from stepladder.prompts import apply_compiled, compiled_path, load_compiled
from stepladder.specs.locations import valid_choices
from stepladder.tracing import Tracing
from stepladder.tracing.sources import TraceSource, trace_source

__all__ = [
    "checkpoint_path",
    "compile_project_flow",
    "load_project_prompts",
    "new_thread_id",
    "project_tracing",
    "trace_folder",
    "trace_store",
]

CHECKPOINT_FILE = "checkpoints.sqlite"


def compile_project_flow(
    project: Project,
    flow: str | Path,
    tier: str | None = None,
    *,
    compiled: bool = True,
    adapters: Mapping[str, str] | None = None,
) -> Flow:
    """Load the flow named `flow` (in the flows folder, or a file path) and compile it.

    The flow is then prepared (`Flow.prepare`: its trained artifacts are found and checked),
    so a command reports a missing classifier or router before it does anything else. The
    flow's optimized prompts (`prompts/compiled/<flow>.json`, from `stepladder optimize`) are
    loaded into its LLM nodes when the file exists, unless `compiled` is False.

    Args:
        project: The project (its settings name the tiers).
        flow: The flow's name or file.
        tier: Run every model node on this tier instead of its own (an eval per tier, whose
            per-case results a router learns from).
        compiled: Load the flow's compiled prompts.
        adapters: LoRA adapters by node id, replacing the nodes' own `adapter` (a tuning's
            candidate, run on the test split before it is saved).

    Raises:
        FlowSpecError: If the file is missing or not a valid flow.
        FlowCompileError: If the flow does not compile, or an artifact it uses is missing or
            does not fit it.
        ConfigError: If `tier` is not a tier of the project.
        CompiledPromptsError: If the compiled prompts were made for another version of the flow.
    """
    spec = load_flow(project.flow_path(str(flow)))
    adjust = None
    if tier is not None:
        spec = _pinned(spec, tier, project)
        adjust = _subflow_pin(tier, project)
    if adapters:
        spec = _with_adapters(spec, adapters)
    built = compile_flow(
        spec,
        project_root=project.root,
        allow_imports=tuple(project.settings.allow_imports),
        tiers=set(project.settings.tiers),
        ladder=tuple(project.settings.ladder),
        mcp_servers=project.settings.mcp_servers,
        subflows=FolderFlows(project.flows_dir, adjust),
    )
    built.prepare()
    if not compiled:
        return built
    _load_subflow_prompts(project, built)
    loaded = load_project_prompts(project, built)
    return replace(built, compiled_prompts=loaded) if loaded else built


def _subflow_pin(tier: str, project: Project) -> Callable[[FlowSpec], FlowSpec]:
    """Pins a subflow's model nodes to `tier`, as the flow's own are.

    Pinned to `embeddings`, a subflow with no embedding classifier is left as it is.
    """

    def pin(spec: FlowSpec) -> FlowSpec:
        if tier == EMBEDDINGS and not any(map(_has_classifier, spec.nodes)):
            return spec
        return _pinned(spec, tier, project)

    return pin


def _load_subflow_prompts(project: Project, flow: Flow) -> None:
    """Load each subflow's own compiled prompts (`prompts/compiled/<subflow>.json`)."""
    for sub in flow.subflows.values():
        _load_subflow_prompts(project, sub)
        load_project_prompts(project, sub)


def _pinned(spec: FlowSpec, tier: str, project: Project) -> FlowSpec:
    """The spec with every model node on `tier` alone (no ladder, no router).

    `embeddings` pins the nodes whose ladder starts with an embedding classifier to it
    alone and leaves the other nodes as they are: the classifier's rung of a router that
    picks between it and a tier.

    Raises:
        ConfigError: For a tier the project does not define (or `embeddings` in a flow
            without an embedding classifier).
    """
    if tier == EMBEDDINGS:
        nodes = [node.pinned(tier) if _has_classifier(node) else node for node in spec.nodes]
        if not any(map(_has_classifier, spec.nodes)):
            raise ConfigError(
                f"flow '{spec.name}' has no node with `using: embeddings`, so it has no "
                f"`{EMBEDDINGS}` rung; tiers: {', '.join(sorted(project.settings.tiers))}."
            )
        return spec.model_copy(update={"nodes": nodes})
    if tier not in project.settings.tiers:
        raise ConfigError(
            f"tier '{tier}' is not defined in stepladder.yaml; tiers: "
            f"{', '.join(sorted(project.settings.tiers))}."
        )
    return spec.model_copy(update={"nodes": [node.pinned(tier) for node in spec.nodes]})


def _has_classifier(node: NodeSpecBase) -> bool:
    """Whether the node's ladder starts with an embedding classifier."""
    return node.first_rung() == EMBEDDINGS


def _with_adapters(spec: FlowSpec, adapters: Mapping[str, str]) -> FlowSpec:
    """The spec with the named nodes on the given adapters.

    Raises:
        UserError: For a node the flow does not have, or one that makes no model calls.
    """
    ids = [node.id for node in spec.nodes]
    unknown = [node_id for node_id in adapters if node_id not in ids]
    if unknown:
        raise UserError(
            f"flow '{spec.name}' has no node {', '.join(repr(n) for n in unknown)}; nodes: "
            f"{valid_choices(ids)}."
        )
    nodes = [
        node.with_adapter(adapters[node.id]) if node.id in adapters else node for node in spec.nodes
    ]
    return spec.model_copy(update={"nodes": nodes})


def load_project_prompts(project: Project, flow: Flow) -> str | None:
    """Load `prompts/compiled/<flow>.json` into the flow's programs; what was loaded.

    Returns:
        The file, its date, its optimizer and the nodes it tuned; None without a file.

    Raises:
        CompiledPromptsError: If the file is unreadable or made for another flow version.
    """
    path = compiled_path(project.prompts_dir, flow.name)
    if not path.is_file():
        return None
    compiled = load_compiled(path)
    nodes = apply_compiled(compiled, flow.programs, path)
    where = path.relative_to(project.root) if path.is_relative_to(project.root) else path
    return (
        f"{where} ({compiled.optimizer}, {compiled.created:%Y-%m-%d %H:%M} UTC; "
        f"nodes: {', '.join(nodes)})"
    )


def checkpoint_path(project: Project) -> Path:
    """The project's checkpoint database (`.stepladder/checkpoints.sqlite`)."""
    return project.state_dir / CHECKPOINT_FILE


def project_tracing(project: Project) -> Tracing:
    """Tracing as the project's settings ask (its trace store, see `trace_store`; OTLP if set)."""
    settings = project.settings
    return Tracing.for_project(
        settings.tracing, project.state_dir, settings.name, settings.state.postgres
    )


def trace_store(project: Project) -> TraceSource:
    """The project's trace store: Postgres with `state.postgres`, else its span folder."""
    settings = project.settings
    return trace_source(settings.tracing, project.state_dir, settings.state.postgres)


def trace_folder(project: Project) -> Path:
    """The project's span files' folder: `<state_dir>/<tracing.dir>` (`.stepladder/traces`)."""
    return project.state_dir / project.settings.tracing.dir


def new_thread_id(flow: str) -> str:
    """A fresh checkpoint thread id: the flow's name, the time and a random suffix."""
    return f"{flow}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
