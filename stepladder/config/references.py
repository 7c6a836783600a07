"""Resolving `module:attr` references under an import allowlist.

A flow may name Python objects (`flows.text_steps:normalize`). They resolve only from the
project folder, from stepladder itself, or from module prefixes the project allows in
`stepladder.yaml` (`allow_imports`). Anything else is refused before it is imported, so a flow
file cannot make stepladder run arbitrary installed code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stepladder.config.explain import describe_pattern
from stepladder.config.locations import LocatedDocument, near_miss
from stepladder.errors import ReferenceError_

__all__ = ["REFERENCE_PATTERN", "ReferencePolicy", "callable_reference"]

REFERENCE_PATTERN = describe_pattern(
    r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$",
    "write a reference as 'module:attr', the module path relative to the project folder "
    "(for example 'flows.steps:normalize')",
)
_ALWAYS_ALLOWED = ("stepladder",)


def callable_reference(obj: Callable[..., Any]) -> str:
    """Return the `module:qualname` reference of a Python object."""
    module = getattr(obj, "__module__", None) or "__main__"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "object")
    return f"{module}:{qualname}"


class ReferencePolicy:
    """Resolves references for one flow: given objects first, then allowed imports.

    Args:
        project_root: The project folder whose modules may be imported.
        allow_imports: Extra module prefixes allowed (`mycompany.tools`).
        objects: Objects given directly (by the Python builder), keyed by reference.
        document: Where the flow came from, to name lines in errors.
    """

    def __init__(
        self,
        project_root: Path | None = None,
        allow_imports: Sequence[str] = (),
        objects: Mapping[str, Any] | None = None,
        document: LocatedDocument | None = None,
    ) -> None:
        self.project_root = project_root.resolve() if project_root else None
        self.allow_imports = tuple(allow_imports)
        self.objects = dict(objects or {})
        self.document = document or LocatedDocument(data=None)

    def resolve(self, reference: str, path: tuple[str | int, ...]) -> Any:
        """Return the object `reference` names.

        Raises:
            ReferenceError_: If the module is outside the allowlist, cannot be imported, or
                lacks the attribute.
        """
        if reference in self.objects:
            return self.objects[reference]
        module_name, _, attr_path = reference.partition(":")
        where = self.document.where(path)
        if not module_name or not attr_path:
            raise ReferenceError_(
                f"{where}: '{reference}' is not a reference; write it as 'module:attribute' "
                "(for example 'flows.steps:normalize')."
            )
        self._check_allowed(module_name, reference, where)
        module = self._import(module_name, reference, where)
        return _get_attribute(module, attr_path, reference, where)

    def _check_allowed(self, module_name: str, reference: str, where: str) -> None:
        top = module_name.split(".")[0]
        if self._project_location(top) is not None:
            return
        allowed = (*_ALWAYS_ALLOWED, *self.allow_imports)
        if any(module_name == p or module_name.startswith(p + ".") for p in allowed):
            return
        root = str(self.project_root) if self.project_root else "(no project)"
        raise ReferenceError_(
            f"{where}: reference '{reference}' is refused: module '{module_name}' is neither in "
            f"the project folder {root} nor in stepladder. Allowed: modules under the project "
            f"folder, stepladder.*, and prefixes listed under `allow_imports` in stepladder.yaml "
            f"(now: {', '.join(self.allow_imports) or 'none'})."
        )

    def _project_location(self, top: str) -> Path | None:
        if self.project_root is None:
            return None
        for candidate in (self.project_root / top, self.project_root / f"{top}.py"):
            if candidate.exists():
                return candidate
        return None

    def _import(self, module_name: str, reference: str, where: str) -> Any:
        top = module_name.split(".")[0]
        if self._project_location(top) is not None:
            self._use_project_modules(top)
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ReferenceError_(
                f"{where}: cannot import module '{module_name}' of reference '{reference}': "
                f"{error}. Check the module path (relative to the project folder)."
            ) from error
        except Exception as error:
            raise ReferenceError_(
                f"{where}: importing '{module_name}' for reference '{reference}' failed with "
                f"{type(error).__name__}: {error}"
            ) from error

    def _use_project_modules(self, top: str) -> None:
        """Put the project first on `sys.path` and drop a same-named module from elsewhere."""
        assert self.project_root is not None
        root = str(self.project_root)
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
        family = [n for n in sys.modules if n == top or n.startswith(top + ".")]
        for name in family:  # each checked: a namespace package spans several projects
            if not _module_is_under(sys.modules[name], self.project_root):
                del sys.modules[name]
        importlib.invalidate_caches()


def _module_is_under(module: Any, root: Path) -> bool:
    """Whether a module's file (or, for a namespace package, one of its folders) is in `root`."""
    file = getattr(module, "__file__", None)
    locations = [file] if file else list(getattr(module, "__path__", []) or [])
    return any(Path(loc).resolve().is_relative_to(root) for loc in locations)


def _get_attribute(module: Any, attr_path: str, reference: str, where: str) -> Any:
    obj = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            guess = near_miss(part, names)
            hint = f" Did you mean '{guess}'?" if guess else ""
            public = ", ".join(sorted(names)[:20]) or "(none)"
            raise ReferenceError_(
                f"{where}: '{reference}': '{part}' not found in "
                f"{getattr(obj, '__name__', type(obj).__name__)}.{hint} Available: {public}."
            )
        obj = getattr(obj, part)
    return obj
