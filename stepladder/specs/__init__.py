"""Spec files: the YAML users write, read with limits and line locations.

Also `module:attr` references under the allowlist, state type expressions, and explanations
of validation errors by YAML path.
"""

from stepladder.specs.locations import LocatedDocument, format_path, load_yaml
from stepladder.specs.references import ReferencePolicy, callable_reference

__all__ = ["LocatedDocument", "ReferencePolicy", "callable_reference", "format_path", "load_yaml"]
