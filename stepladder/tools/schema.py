"""Tools from Python functions: name, description and argument schema from the signature.

Type hints give the types, defaults make parameters optional, and a Google-style docstring
gives the tool's description (its first paragraph) and each argument's (its `Args:` section).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from stepladder.tools.tool import DEFAULT_TIMEOUT_S, Tool

__all__ = ["inline_refs", "parse_docstring", "tool", "tool_from_function"]

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):\s*$")
_ARG = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary (text before the first section) and the `Args:` descriptions."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent: int | None = None
    for line in inspect.cleandoc(doc or "").splitlines():
        if match := _SECTION.match(line):
            section, current = match.group(1), None
            continue
        if section is None:
            summary.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        arg_indent = indent if arg_indent is None else arg_indent
        match = _ARG.match(line)
        if match and indent <= arg_indent:
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return " ".join(" ".join(summary).split()), args


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Tool:
    """A tool whose arguments are `fn`'s parameters.

    Raises:
        TypeError: If `fn` takes `*args`/`**kwargs` or positional-only parameters.
    """
    summary, documented = parse_docstring(inspect.getdoc(fn))
    model = arguments_model(fn, documented)
    schema = inline_refs(model.model_json_schema())
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return Tool(
        name=name or fn.__name__,
        description=description if description is not None else summary,
        parameters=schema,
        arguments=model,
        fn=fn,
        timeout_s=timeout_s,
    )


def tool(
    *, name: str | None = None, description: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Callable[[Callable[..., Any]], Tool]:
    """Decorate a function to make it a `Tool` (to set its name, description or timeout)."""

    def make(fn: Callable[..., Any]) -> Tool:
        return tool_from_function(fn, name=name, description=description, timeout_s=timeout_s)

    return make


def arguments_model(fn: Callable[..., Any], documented: dict[str, str]) -> type[BaseModel]:
    """A pydantic model of `fn`'s keyword parameters (extra arguments forbidden)."""
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(
                f"{fn.__name__}: parameter '{param.name}' ({param.kind.description}) cannot be "
                "a tool argument; tools take named parameters only."
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        info = Field(default, description=documented.get(param.name) or None)
        fields[param.name] = (annotation, info)
    config = ConfigDict(extra="forbid")
    return create_model(f"{fn.__name__}_arguments", __config__=config, **fields)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with local `$ref`s replaced by their definitions (no `$defs` left).

    Raises:
        ValueError: For recursive definitions, which a tool schema cannot use.
    """
    definitions = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            key = str(node["$ref"]).split("/")[-1]
            if key in seen:
                raise ValueError(f"recursive definition '{key}' in a tool schema")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**walk(definitions.get(key, {}), (*seen, key)), **walk(rest, seen)}
        return {k: walk(v, seen) for k, v in node.items() if k != "$defs"}

    result: dict[str, Any] = walk(schema, ())
    return result
