"""`StudioContext`: what every studio request reads (the project and its folders)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from stepladder.config import Project, load_project

__all__ = ["StudioContext", "studio_context"]


@dataclass
class StudioContext:
    """The project the studio shows."""

    project: Project

    @classmethod
    def open(cls, root: Path) -> StudioContext:
        """Load the project at `root` (a `ConfigError` when it is not one)."""
        return cls(project=load_project(root=root))


def studio_context(request: Request) -> StudioContext:
    """The studio's context, for route handlers (`Depends(studio_context)`)."""
    context: StudioContext = request.app.state.studio
    return context
