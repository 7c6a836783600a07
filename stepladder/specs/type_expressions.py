"""Type expressions for state fields: `str`, `list[str]`, `optional[int]`, `enum`, `pkg.mod:Model`.

```
type    := simple | "list[" type "]" | "dict[str, " type "]" | "optional[" type "]"
         | "enum" | reference
simple  := str | int | float | bool | list | dict | any
```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel

from stepladder.specs.locations import near_miss

__all__ = ["TYPE_CHOICES", "TypeExpr", "enum_members", "parse_type", "unannotated"]

SIMPLE_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list[Any],
    "dict": dict[str, Any],
    "any": Any,
}
GENERIC_TYPES = ("list", "dict", "optional")
TYPE_CHOICES = (
    "str, int, float, bool, list, dict, any, list[T], dict[str, T], optional[T], enum "
    "(with `values`), or a pydantic model as 'module:Class'"
)
_REFERENCE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class TypeExpr:
    """A parsed type expression.

    Attributes:
        name: `str`, `list`, `optional`, `enum`, `ref`, and so on.
        inner: The element type of `list`, `dict` and `optional`.
        reference: The `module:Class` of a `ref`.
    """

    name: str
    inner: TypeExpr | None = None
    reference: str | None = None

    def to_python(self, values: Sequence[Any] | None, resolve: Callable[[str], Any]) -> Any:
        """Return the Python type, resolving model references with `resolve`."""
        if self.name == "enum":
            return Literal[tuple(values or ())]
        if self.name == "ref":
            assert self.reference is not None
            model = resolve(self.reference)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"'{self.reference}' is not a pydantic model class")
            return model
        if self.inner is None:
            return SIMPLE_TYPES[self.name]
        inner = self.inner.to_python(values, resolve)
        if self.name == "list":
            return list[inner]  # type: ignore[valid-type]
        if self.name == "dict":
            return dict[str, inner]  # type: ignore[valid-type]
        return Optional[inner]  # noqa: UP045


def parse_type(text: str) -> TypeExpr:
    """Parse a type expression.

    Raises:
        ValueError: With the valid choices, when `text` is not a type expression.
    """
    expr, rest = _parse(text.strip())
    if rest.strip():
        raise ValueError(
            f"unexpected '{rest.strip()}' in type '{text}'; valid types: {TYPE_CHOICES}"
        )
    return expr


def _parse(text: str) -> tuple[TypeExpr, str]:
    match = re.match(r"^([A-Za-z_][\w.]*(:[A-Za-z_]\w*)?)\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not a type; valid types: {TYPE_CHOICES}")
    word, rest = match.group(1), text[match.end() :]
    if ":" in word:
        if not _REFERENCE.match(word):
            raise ValueError(f"'{word}' is not a 'module:Class' reference")
        return TypeExpr("ref", reference=word), rest
    lowered = word.lower()
    if rest.startswith("["):
        if lowered not in GENERIC_TYPES:
            raise ValueError(f"'{word}' takes no parameter; valid types: {TYPE_CHOICES}")
        rest = rest[1:].lstrip()
        if lowered == "dict":
            if not rest.startswith("str"):
                raise ValueError("dict keys must be str: write dict[str, T]")
            rest = rest[3:].lstrip()
            if not rest.startswith(","):
                raise ValueError("write dict[str, T]")
            rest = rest[1:].lstrip()
        inner, rest = _parse(rest)
        rest = rest.lstrip()
        if not rest.startswith("]"):
            raise ValueError(f"missing ']' after {lowered}[...")
        return TypeExpr(lowered, inner=inner), rest[1:]
    if lowered == "optional":
        raise ValueError("optional needs a type: write optional[T]")
    if lowered == "enum" or lowered in SIMPLE_TYPES:
        return TypeExpr(lowered), rest
    guess = near_miss(lowered, [*SIMPLE_TYPES, *GENERIC_TYPES, "enum"])
    hint = f"; did you mean '{guess}'?" if guess else ""
    raise ValueError(f"unknown type '{word}'{hint} Valid types: {TYPE_CHOICES}")


def unannotated(python_type: Any) -> Any:
    """A state key's Python type without its `Annotated` reducer, if it has one."""
    metadata = getattr(python_type, "__metadata__", None)
    return python_type.__origin__ if metadata is not None else python_type


def enum_members(python_type: Any) -> tuple[Any, ...] | None:
    """The values of a state key typed `enum` (or `optional[enum]`), else None."""
    python_type = unannotated(python_type)
    if get_origin(python_type) is Union:
        inner = [arg for arg in get_args(python_type) if arg is not type(None)]
        python_type = inner[0] if len(inner) == 1 else None
    return get_args(python_type) if get_origin(python_type) is Literal else None
