"""Loading a project's flow by name (or path) and compiling it with the project's settings."""

from __future__ import annotations

from pathlib import Path

from stepladder.config import Project
from stepladder.flows.compile import compile_flow
from stepladder.flows.flow import Flow
from stepladder.flows.loader import load_flow

__all__ = ["compile_project_flow"]


def compile_project_flow(project: Project, flow: str | Path) -> Flow:
    """Load the flow named `flow` (in the flows folder, or a file path) and compile it.

    Raises:
        FlowSpecError: If the file is missing or not a valid flow.
        FlowCompileError: If the flow does not compile.
    """
    spec = load_flow(project.flow_path(str(flow)))
    return compile_flow(
        spec,
        project_root=project.root,
        allow_imports=tuple(project.settings.allow_imports),
        tiers=set(project.settings.tiers),
    )
