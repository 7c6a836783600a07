"""Project settings (`stepladder.yaml`): tiers, prices, retrieval, tracing, serving, secrets."""

from stepladder.config.settings import (
    CONFIG_FILE,
    Project,
    Settings,
    find_project_root,
    load_project,
)

__all__ = [
    "CONFIG_FILE",
    "Project",
    "Settings",
    "find_project_root",
    "load_project",
]
