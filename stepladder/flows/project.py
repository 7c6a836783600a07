"""Loading a project's flow by name (or path) and compiling it with the project's settings."""

from __future__ import annotations

from pathlib import Path

from stepladder.config import Project
from stepladder.errors import ConfigError
from stepladder.flows.compile import compile_flow
from stepladder.flows.flow import Flow
from stepladder.flows.loader import load_flow

__all__ = ["compile_project_flow"]


def compile_project_flow(project: Project, flow: str | Path, tier: str | None = None) -> Flow:
    """Load the flow named `flow` (in the flows folder, or a file path) and compile it.

    Args:
        project: The project (its settings name the tiers).
        flow: The flow's name or file.
        tier: Run every model node on this tier instead of its own (an eval per tier, whose
            per-case results a router learns from).

    Raises:
        FlowSpecError: If the file is missing or not a valid flow.
        FlowCompileError: If the flow does not compile.
        ConfigError: If `tier` is not a tier of the project.
    """
    spec = load_flow(project.flow_path(str(flow)))
    if tier is not None:
        if tier not in project.settings.tiers:
            raise ConfigError(
                f"tier '{tier}' is not defined in stepladder.yaml; tiers: "
                f"{', '.join(sorted(project.settings.tiers))}."
            )
        # One tier alone: nodes neither escalate nor follow a router's tier.
        pinned = {"tier": tier, "escalate": None, "tier_from": None}
        nodes = [n.model_copy(update={k: v for k, v in pinned.items() if k in type(n).model_fields})
                 if hasattr(n, "tier") else n for n in spec.nodes]  # fmt: skip
        spec = spec.model_copy(update={"nodes": nodes})
    return compile_flow(
        spec,
        project_root=project.root,
        allow_imports=tuple(project.settings.allow_imports),
        tiers=set(project.settings.tiers),
        ladder=tuple(project.settings.ladder),
    )
