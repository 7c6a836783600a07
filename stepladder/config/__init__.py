"""Project settings, YAML with locations, error explanations and reference resolution."""

from stepladder.config.locations import LocatedDocument, format_path, load_yaml
from stepladder.config.references import ReferencePolicy, callable_reference

__all__ = [
    "LocatedDocument",
    "ReferencePolicy",
    "callable_reference",
    "format_path",
    "load_yaml",
]
