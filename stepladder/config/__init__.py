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
    "LocatedDocument",
    "Project",
    "ReferencePolicy",
    "Settings",
    "callable_reference",
    "find_project_root",
    "format_path",
    "load_project",
    "load_yaml",
]
