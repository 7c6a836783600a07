"""Project settings, YAML with locations, error explanations and reference resolution."""

from stepladder.config.locations import LocatedDocument, format_path, load_yaml
from stepladder.config.references import ReferencePolicy, callable_reference
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
    "LocatedDocument",
    "ReferencePolicy",
    "callable_reference",
    "format_path",
    "load_yaml",
]
