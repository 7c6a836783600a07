"""The Python builder: the same `FlowSpec` as YAML, plus Python callables.

```python
flow = (
    FlowBuilder("greet")
    .state("name", str, input=True)
    .state("greeting", str)
    .function("make_greeting", make_greeting, reads=["name"], writes=["greeting"])
    .compile()
)
```
"""

from __future__ import annotations

import importlib
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel

from stepladder.flows.compile import compile_flow
from stepladder.flows.flow import Flow
from stepladder.flows.loader import flow_from_dict
from stepladder.flows.spec import FlowSpec
from stepladder.flows.subflow import FlowSource, FolderFlows, MappingFlows
from stepladder.nodes import NodeSpecBase
from stepladder.specs.references import REFERENCE_PATTERN, callable_reference

__all__ = ["FlowBuilder", "type_expression"]

_UNSET: Any = object()
_SIMPLE = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}


def type_expression(python_type: Any) -> str:
    """Write a Python type as a state type expression (`list[str]`, `optional[int]`, ...)."""
    if isinstance(python_type, str):
        return python_type
    if python_type is Any:
        return "any"
    if python_type in _SIMPLE:
        return _SIMPLE[python_type]
    if isinstance(python_type, type) and issubclass(python_type, BaseModel):
        return callable_reference(python_type)
    origin, args = typing.get_origin(python_type), typing.get_args(python_type)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return f"optional[{type_expression(rest[0])}]"
    if origin is list and len(args) == 1:
        return f"list[{type_expression(args[0])}]"
    if origin is dict and len(args) == 2 and args[0] is str:
        return f"dict[str, {type_expression(args[1])}]"
    raise TypeError(f"no state type expression for {python_type!r}")


class FlowBuilder:
    """Builds a `FlowSpec` in Python; callables may be given directly.

    Args:
        name: The flow's name.
        description: What the flow does.
    """

    def __init__(self, name: str, description: str = "") -> None:
        self._data: dict[str, Any] = {"name": name}
        if description:
            self._data["description"] = description
        self._state: dict[str, Any] = {}
        self._nodes: list[dict[str, Any]] = []
        self._edges: list[dict[str, Any]] | None = None
        self._objects: dict[str, Any] = {}
        self._subflows: dict[str, FlowSpec] = {}

    def state(
        self,
        key: str,
        type: Any = "any",
        *,
        values: Sequence[str | int] | None = None,
        default: Any = _UNSET,
        input: bool = False,
        reducer: str = "replace",
        description: str = "",
    ) -> Self:
        """Declare a state key (a Python type or a type expression)."""
        field: dict[str, Any] = {"type": type_expression(type)}
        if values is not None:
            field["values"] = list(values)
        if default is not _UNSET:
            field["default"] = default
        if input:
            field["input"] = True
        if reducer != "replace":
            field["reducer"] = reducer
        if description:
            field["description"] = description
        self._state[key] = field
        return self

    def node(self, spec: NodeSpecBase | Mapping[str, Any]) -> Self:
        """Add a node of any kind, as a spec object or its YAML fields."""
        data = spec.model_dump(exclude_unset=True) if isinstance(spec, BaseModel) else dict(spec)
        self._nodes.append(data)
        return self

    def function(
        self,
        id: str,
        call: str | Callable[..., Any],
        *,
        reads: Sequence[str] = (),
        writes: Sequence[str] = (),
        description: str = "",
        in_thread: bool = False,
        map: Mapping[str, Any] | None = None,
    ) -> Self:
        """Add a `function` node calling `call` (a callable or a 'module:attr' reference).

        `map` (`{"over": ..., "as": ..., "into": ...}`) runs it once per element of a list.
        """
        data: dict[str, Any] = {"id": id, "kind": "function", "call": self._reference(call, id)}
        if map is not None:
            data["map"] = dict(map)
        for key, value in (("reads", list(reads)), ("writes", list(writes))):
            if value:
                data[key] = value
        if description:
            data["description"] = description
        if in_thread:
            data["in_thread"] = True
        return self.node(data)

    def subflow(
        self,
        id: str,
        flow: str | FlowSpec | FlowBuilder,
        *,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        map: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> Self:
        """Add a `flow` node running `flow` (a project flow's name, a spec or a builder).

        Args:
            id: The node's id.
            flow: The flow to run; a spec or builder is kept with this builder (its callables
                too), a name is looked up in the project's `flows/`.
            inputs: Subflow key: the parent key that fills it.
            outputs: Parent key: the subflow key whose final value it receives.
            map: Run the subflow once per element of a list (`{"over", "as", "into", ...}`).
            description: What the node does.
        """
        name = flow if isinstance(flow, str) else self._keep_subflow(flow)
        data: dict[str, Any] = {"id": id, "kind": "flow", "flow": name}
        data["inputs"], data["outputs"] = dict(inputs or {}), dict(outputs or {})
        if map is not None:
            data["map"] = dict(map)
        if description:
            data["description"] = description
        return self.node(data)

    def flow_source(self, fallback: FlowSource | None = None) -> FlowSource:
        """Where this builder's `flow` nodes find their flows: its own, then `fallback`."""
        return MappingFlows(dict(self._subflows), fallback)

    def _keep_subflow(self, flow: FlowSpec | FlowBuilder) -> str:
        if isinstance(flow, FlowBuilder):
            self._objects.update(flow.objects)
            self._subflows.update(flow._subflows)
            flow = flow.build()
        self._subflows[flow.name] = flow
        return flow.name

    def edge(self, source: str | Sequence[str], to: str) -> Self:
        """Add a static edge (a list of sources joins them)."""
        from_: str | list[str] = source if isinstance(source, str) else list(source)
        return self._add_edge({"from": from_, "to": to})

    def branch(
        self,
        source: str,
        cases: Mapping[str | int | bool, str],
        *,
        when: str | None = None,
        router: str | Callable[..., Any] | None = None,
        default: str | None = None,
    ) -> Self:
        """Add a conditional edge choosing by a state key (`when`) or a `router` callable."""
        data: dict[str, Any] = {"from": source, "cases": dict(cases)}
        if when is not None:
            data["when"] = when
        if router is not None:
            data["router"] = self._reference(router, f"{source}_router")
        if default is not None:
            data["default"] = default
        return self._add_edge(data)

    def build(self) -> FlowSpec:
        """Validate and return the spec (the same one the equivalent YAML gives)."""
        data = dict(self._data)
        if self._state:
            data["state"] = self._state
        data["nodes"] = self._nodes
        if self._edges is not None:
            data["edges"] = self._edges
        return flow_from_dict(data)

    def compile(
        self, project_root: str | Path | None = None, allow_imports: tuple[str, ...] = ()
    ) -> Flow:
        """Build the spec and compile it, with the callables given to this builder.

        Args:
            project_root: The project folder (a path or a string); its modules may be
                referenced. To compile with a project's tiers and escalation ladder too, use
                `stepladder.open_project(path).flow(builder)`.
            allow_imports: Extra module prefixes references may import from.
        """
        return compile_flow(
            self.build(),
            project_root=project_root,
            allow_imports=allow_imports,
            objects=self._objects,
            subflows=self.flow_source(FolderFlows(Path(project_root) / "flows"))
            if project_root is not None
            else self.flow_source(),
        )

    @property
    def objects(self) -> dict[str, Any]:
        """The callables given directly, by the reference written into the spec."""
        return dict(self._objects)

    def _add_edge(self, data: dict[str, Any]) -> Self:
        self._edges = [*(self._edges or []), data]
        return self

    def _reference(self, target: str | Callable[..., Any], owner: str) -> str:
        if isinstance(target, str):
            return target
        reference = callable_reference(target)
        if not (re.match(REFERENCE_PATTERN, reference) and _imports_as(reference, target)):
            module, _, qualname = reference.partition(":")
            safe_module = re.sub(r"[^\w.]", "_", module).strip(".") or "python"
            safe_name = re.sub(r"\W", "_", qualname)
            reference = f"{safe_module}:{safe_name}__{owner}"
        self._objects[reference] = target
        return reference


def _imports_as(reference: str, target: Any) -> bool:
    module_name, _, attr_path = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except Exception:
        return False
    return obj is target
