"""Resolving `module:attr` references under an import allowlist.

A flow may name Python objects (`flows.text_steps:normalize`). A reference resolves only to an
object *defined in* an allowed module:

- a module of the project folder: the import must really find a file under the project root
  (a folder named like a standard-library or installed module cannot stand in for it);
- a module under a prefix the project lists in `stepladder.yaml` (`allow_imports`);
- one of stepladder's public names in `PUBLIC_REFERENCES` (stepladder's internals are not).

Each step of the attribute path must stay inside: a module object is refused (`steps:os`), and so
is a class or function whose `__module__` is not allowed (`steps:system` after `from os import
system`), or a private name (`_x`, `__globals__`). Data defined in an allowed module (a list of
tools, a constant) is fine. Anything else is refused before it is imported, so a flow file
cannot make stepladder run arbitrary installed code.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

from stepladder.errors import ReferenceError_
from stepladder.specs.explain import describe_pattern
from stepladder.specs.locations import LocatedDocument, near_miss

__all__ = ["PUBLIC_REFERENCES", "REFERENCE_PATTERN", "ReferencePolicy", "callable_reference"]

REFERENCE_PATTERN = describe_pattern(
    r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$",
    "write a reference as 'module:attr', the module path relative to the project folder "
    "(for example 'flows.steps:normalize')",
)

PUBLIC_REFERENCES: frozenset[str] = frozenset(
    {
        "stepladder.tools:ToolResult",  # what a tool call gave (a state or output type)
        "stepladder.tools:ToolSpec",  # a tool declaration (a pydantic model)
    }
)
"""The stepladder names a flow may reference; nothing else under `stepladder` resolves."""

_PROJECT_ROOTS: set[Path] = set()
"""Every project folder a policy put on `sys.path`: their cached modules may be replaced."""


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
            ReferenceError_: If the module is outside the allowlist, cannot be imported, lacks
                the attribute, or the attribute is not defined in an allowed module.
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
        private = [part for part in attr_path.split(".") if part.startswith("_")]
        if private:
            raise _refused(where, reference, f"'{private[0]}' is a private name")
        if reference in PUBLIC_REFERENCES:
            return getattr(self._import(module_name, reference, where), attr_path)
        module = self._allowed_module(module_name, reference, where)
        return self._walk(module, attr_path, reference, where)

    def _allowed_module(self, module_name: str, reference: str, where: str) -> ModuleType:
        """Import `module_name` if the project or `allow_imports` holds it; refuse otherwise."""
        top = module_name.split(".")[0]
        if self._is_project_module(top, reference, where):
            self._use_project_modules(top)
            module = self._import(module_name, reference, where)
            if not self._is_project(module):
                raise _refused(
                    where,
                    reference,
                    f"module '{module_name}' was found outside the project "
                    f"folder {self.project_root}, at {_location(module)}",
                )
            return module
        if self._under_prefix(module_name):
            return self._import(module_name, reference, where)
        raise self._not_allowed(module_name, reference, where)

    def _not_allowed(self, module_name: str, reference: str, where: str) -> ReferenceError_:
        public = ", ".join(sorted(PUBLIC_REFERENCES))
        if _is_stepladder(module_name):
            return _refused(
                where,
                reference,
                f"'{module_name}' is inside stepladder, whose internals flows "
                f"may not reference; stepladder's public names are {public}",
            )
        root = str(self.project_root) if self.project_root else "(no project)"
        return _refused(
            where,
            reference,
            f"module '{module_name}' is neither in the project folder {root}"
            f"{self._shadow_hint(module_name)} nor under a prefix listed under `allow_imports` "
            f"in stepladder.yaml (now: {', '.join(self.allow_imports) or 'none'}). Allowed: "
            f"modules under the project folder, those prefixes, and stepladder's public names "
            f"({public})",
        )

    def _shadow_hint(self, module_name: str) -> str:
        """Why a project file or folder named like the module does not count, if there is one."""
        top = module_name.split(".")[0]
        if self.project_root is None:
            return ""
        if not any((self.project_root / n).exists() for n in (top, f"{top}.py")):
            return ""
        spec = _find_top_level_spec(top)
        if spec is not None and spec.has_location and spec.origin:
            found = spec.origin
        elif spec is not None:
            found = f"Python's own '{top}' ({spec.origin or 'built in'}), outside the project"
        else:
            found = "no module under the project folder"
        return f" (its '{top}' there does not count: importing '{top}' finds {found})"

    def _under_prefix(self, module_name: str | None) -> bool:
        return bool(module_name) and any(
            module_name == p or str(module_name).startswith(p + ".") for p in self.allow_imports
        )

    def _is_project_module(self, top: str, reference: str, where: str) -> bool:
        """Whether importing `top` finds a file or folder under the project root.

        Raises:
            ReferenceError_: If the project holds a module named like one stepladder has
                already loaded from elsewhere (the standard library, an installed package).
        """
        if self.project_root is None:
            return False
        _put_first_on_path(self.project_root)
        spec = _find_top_level_spec(top)
        if spec is None or not _spec_is_under(spec, self.project_root):
            return False
        loaded = sys.modules.get(top)
        if loaded is not None and not any(
            _module_is_under(loaded, root) for root in (self.project_root, *_PROJECT_ROOTS)
        ):
            raise _refused(
                where,
                reference,
                f"the project's module '{top}' has the name of a module "
                f"already loaded from {_location(loaded)}; rename it in the project folder",
            )
        return True

    def _use_project_modules(self, top: str) -> None:
        """Drop a same-named module cached from another project (the project is first on path)."""
        assert self.project_root is not None
        _PROJECT_ROOTS.add(self.project_root)
        family = [n for n in sys.modules if n == top or n.startswith(top + ".")]
        for name in family:  # each checked: a namespace package spans several projects
            if not _module_is_under(sys.modules[name], self.project_root):
                del sys.modules[name]
        importlib.invalidate_caches()

    def _is_project(self, module: Any) -> bool:
        return self.project_root is not None and _module_is_under(module, self.project_root)

    def _allows_defined_in(self, module_name: str | None) -> bool:
        """Whether an object whose `__module__` is `module_name` is defined in an allowed module."""
        if self._under_prefix(module_name):
            return True
        module = sys.modules.get(module_name or "")
        return module is not None and self._is_project(module)

    def _import(self, module_name: str, reference: str, where: str) -> ModuleType:
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

    def _walk(self, module: ModuleType, attr_path: str, reference: str, where: str) -> Any:
        """Follow `attr_path` from `module`, each step staying inside allowed modules."""
        obj: Any = module
        for part in attr_path.split("."):
            obj = _get_attribute(obj, part, reference, where)
            if inspect.ismodule(obj):
                raise _refused(
                    where,
                    reference,
                    f"'{part}' is the module {obj.__name__}, not an object "
                    "defined in an allowed module; name a function, class or value directly",
                )
            if inspect.isclass(obj) or inspect.isroutine(obj):
                self._check_defined_in(obj, part, reference, where)
        return obj

    def _check_defined_in(self, obj: Any, part: str, reference: str, where: str) -> None:
        """Refuse a class or function whose `__module__` is not an allowed module."""
        defined_in = getattr(obj, "__module__", None)
        if self._allows_defined_in(defined_in):
            return
        loaded = sys.modules.get(defined_in or "")
        origin = f" (loaded from {_location(loaded)})" if loaded is not None else ""
        raise _refused(
            where,
            reference,
            f"'{part}' is defined in module '{defined_in or 'unknown'}'"
            f"{origin}, which is not allowed (a name imported into an allowed module does not "
            "make it allowed)",
        )


def _refused(where: str, reference: str, why: str) -> ReferenceError_:
    return ReferenceError_(f"{where}: reference '{reference}' is refused: {why}.")


def _is_stepladder(module_name: str) -> bool:
    return module_name == "stepladder" or module_name.startswith("stepladder.")


def _put_first_on_path(root: Path) -> None:
    text = str(root)
    if sys.path[:1] != [text]:
        if text in sys.path:
            sys.path.remove(text)
        sys.path.insert(0, text)
    importlib.invalidate_caches()


def _find_top_level_spec(name: str) -> ModuleSpec | None:
    """Where importing top-level `name` afresh would load it from (ignoring `sys.modules`).

    `importlib.util.find_spec` would answer with a module already loaded, perhaps from another
    project; asking the finders on `sys.meta_path` in turn is what a fresh import does.
    """
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec: ModuleSpec | None = find(name, None)
        if spec is not None:
            return spec
    return None


def _spec_is_under(spec: ModuleSpec, root: Path) -> bool:
    """Whether a spec's file (or, for a namespace package, one of its folders) is in `root`."""
    if spec.origin and spec.has_location:
        return Path(spec.origin).resolve().is_relative_to(root)
    folders = list(spec.submodule_search_locations or []) if spec.origin is None else []
    return any(Path(folder).resolve().is_relative_to(root) for folder in folders)


def _module_is_under(module: Any, root: Path) -> bool:
    """Whether a module's file (or, for a namespace package, one of its folders) is in `root`."""
    file = getattr(module, "__file__", None)
    locations = [file] if file else list(getattr(module, "__path__", []) or [])
    return any(Path(loc).resolve().is_relative_to(root) for loc in locations)


def _location(module: Any) -> str:
    file = getattr(module, "__file__", None)
    return str(file) if file else "(built into Python)"


def _get_attribute(obj: Any, part: str, reference: str, where: str) -> Any:
    if not hasattr(obj, part):
        names = [n for n in dir(obj) if not n.startswith("_")]
        guess = near_miss(part, names)
        hint = f" Did you mean '{guess}'?" if guess else ""
        public = ", ".join(sorted(names)[:20]) or "(none)"
        raise ReferenceError_(
            f"{where}: '{reference}': '{part}' not found in "
            f"{getattr(obj, '__name__', type(obj).__name__)}.{hint} Available: {public}."
        )
    return getattr(obj, part)
