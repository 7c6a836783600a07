"""State checked against its declared types: defaults at compile time, node updates at run time.

One pydantic `TypeAdapter` is built per state key when the flow compiles; a node's update is
checked only for the keys the node writes, in the wrapper around the node. Checking is strict
for scalars, so nothing is silently converted: `"3"` is not an `int`, `1` is not a `bool`, a
`bool` is not an `int`, a tuple is not a `list`; an `int` is accepted for a `float` (it is a
number without loss). An `enum` accepts only its `values` (a Python `Enum` member by its
value). `any` accepts anything. A key typed `module:Class` is validated by that pydantic
model, under the model's own configuration (a dict of its fields or an instance). A key with
the `append` reducer receives a list of items to append and one with `merge` a dict to merge
(or null), which is what those reducers accept. The value is checked, never replaced.
"""

from __future__ import annotations

import enum
import reprlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from langgraph.runtime import Runtime
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

from stepladder.errors import FlowCompileError, NodeError
from stepladder.flows.spec import FlowSpec, StateField
from stepladder.nodes.base import BuiltNode, NodeSpecBase, State
from stepladder.nodes.context import RunContext
from stepladder.specs.locations import format_path
from stepladder.specs.type_expressions import unannotated

__all__ = ["KeyCheck", "check_defaults", "checked", "state_checks"]

_STRICT = ConfigDict(strict=True)
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxlevel = 60, 60, 5, 4, 3
_MAX_SHOWN = 100


@dataclass(frozen=True)
class KeyCheck:
    """The check of one state key.

    Attributes:
        key: The state key.
        declared: The key's declared type, as written (`int`, `enum (a, b)`, `list[str]`).
        reducer: What a node writes when the key has a reducer (`a list[str] of items to
            append`); empty without one.
        adapter: Validates a value of the declared type.
    """

    key: str
    declared: str
    reducer: str
    adapter: TypeAdapter[Any]

    def fits(self, value: Any) -> bool:
        """Whether `value` fits (the fast path: no error is built)."""
        try:
            return self.adapter.validator.isinstance_python(value)
        except Exception:  # a model's own validator may raise anything
            return False

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit (pydantic's reason), or None when it does."""
        try:
            self.adapter.validate_python(value)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            at = f" at {format_path(first['loc'])}" if first["loc"] else ""
            return f"{first['msg']}{at}"
        except Exception as error:  # a model's own validator may raise anything
            return f"{type(error).__name__}: {error}"
        return None


def shown(value: Any) -> str:
    """A short repr of `value`, for error messages."""
    text = _SHOWN.repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def state_checks(spec: FlowSpec, state_types: Mapping[str, Any]) -> dict[str, KeyCheck]:
    """One check per state key that is not typed `any`."""
    checks: dict[str, KeyCheck] = {}
    for key, field in spec.state.items():
        python_type = unannotated(state_types[key])
        if python_type is Any:
            continue
        declared = _declared(field)
        nullable = field.reducer == "merge"
        checking = _checking_type(python_type)
        if nullable:
            checking = Optional[checking]  # noqa: UP045 - merge treats null as {}
        config = None if _is_model(checking) else _STRICT
        reducer = {
            "append": f"; with reducer append a node writes a {declared} of items to append",
            "merge": f"; with reducer merge a node writes a {declared} to merge",
        }.get(field.reducer, "")
        adapter = TypeAdapter(checking, config=config)
        checks[key] = KeyCheck(key, declared, reducer, adapter)
    return checks


def check_defaults(spec: FlowSpec, checks: Mapping[str, KeyCheck]) -> None:
    """Raise `FlowCompileError` naming every state default that does not fit its type."""
    problems: list[str] = []
    for key, field in spec.state.items():
        check = checks.get(key)
        if check is None or not field.has_default:
            continue
        problem = check.problem(field.default)
        if problem is not None:
            where = spec.document.where(("state", key, "default"))
            problems.append(
                f"{where}: the default {shown(field.default)} does not fit the key's type "
                f"{check.declared} ({problem}). {_fix(field)}"
            )
    if problems:
        origin = str(spec.document.source) if spec.document.source else f"flow '{spec.name}'"
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise FlowCompileError(f"{origin}: cannot compile, {count}: " + " ".join(problems))


def checked(node: NodeSpecBase, built: BuiltNode, checks: Mapping[str, KeyCheck]) -> BuiltNode:
    """`built`, whose updates are checked against the types of the keys the node writes.

    Raises (when the node runs):
        NodeError: Naming the node, the key, its declared type and the value written.
    """
    mine = tuple(checks[key] for key in dict.fromkeys(node.writes) if key in checks)
    if not mine:
        return built
    node_id, inner_async, inner_sync = node.id, built.afunc, built.func

    async def run_async(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        update = await inner_async(state, runtime)
        _check_update(node_id, update, mine)
        return update

    def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
        assert inner_sync is not None
        update = inner_sync(state, runtime)
        _check_update(node_id, update, mine)
        return update

    return BuiltNode(afunc=run_async, func=run_sync if inner_sync is not None else None)


def _check_update(node_id: str, update: Any, mine: tuple[KeyCheck, ...]) -> None:
    if not isinstance(update, dict):
        return
    for check in mine:
        if check.key not in update or check.fits(update[check.key]):
            continue
        problem = check.problem(update[check.key])
        if problem is not None:
            raise NodeError(
                node_id,
                f"wrote {shown(update[check.key])} into state key '{check.key}', declared "
                f"{check.declared}{check.reducer} ({problem}). Return a value of that type, or "
                "change the key's `type` under `state:`.",
            )


def _declared(field: StateField) -> str:
    if field.parsed_type.name == "enum":
        return f"enum ({', '.join(str(value) for value in field.values or ())})"
    return field.type


def _fix(field: StateField) -> str:
    if field.parsed_type.name == "enum":
        return "Use one of the enum's `values`, or add it to them."
    if field.default is None:
        return f"Give a default of type {field.type}, or declare the key optional[{field.type}]."
    return f"Give a default of type {field.type}, or change the key's `type`."


def _is_model(python_type: Any) -> bool:
    return isinstance(python_type, type) and issubclass(python_type, BaseModel)


def _checking_type(python_type: Any) -> Any:
    """`python_type` with each enum (`Literal`) taking `Enum` members and refusing bools."""
    origin, args = typing.get_origin(python_type), typing.get_args(python_type)
    if origin is Literal:
        return Annotated[python_type, BeforeValidator(_member_value)]
    if origin is list:
        return list[_checking_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[str, _checking_type(args[1])]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        return Union[tuple(_checking_type(arg) for arg in args)]  # noqa: UP007
    return python_type


def _member_value(value: Any) -> Any:
    if isinstance(value, bool):  # True == 1: an enum's values are never bools
        raise ValueError("a bool is not one of the enum's values")
    return value.value if isinstance(value, enum.Enum) else value
