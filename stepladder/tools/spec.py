"""Tools declared in YAML: name, description, parameters (JSON Schema) and `module:function`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from stepladder.specs.references import REFERENCE_PATTERN
from stepladder.tools.tool import DEFAULT_TIMEOUT_S, TOOL_NAME_PATTERN, Tool

__all__ = ["ToolSpec", "model_from_schema"]

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
}


class ToolSpec(BaseModel):
    """A tool declared in a flow file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN, description="What the model calls the tool.")
    description: str = Field(default="", description="What the tool does, for the model.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="The arguments as a JSON Schema object (flat: typed properties, enums).",
    )
    call: str = Field(pattern=REFERENCE_PATTERN, description="The function as 'module:attr'.")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="Longest call.")

    def to_tool(self, fn: Callable[..., Any]) -> Tool:
        """The tool calling `fn` (resolved from `call`).

        Raises:
            ValueError: If `parameters` is not an object schema of supported property types.
        """
        schema = {"type": "object", **self.parameters}
        schema.setdefault("properties", {})
        schema.setdefault("required", list(schema["properties"]))
        schema.setdefault("additionalProperties", False)
        return Tool(
            name=self.name,
            description=self.description,
            parameters=schema,
            arguments=model_from_schema(self.name, schema),
            fn=fn,
            timeout_s=self.timeout_s,
        )


def model_from_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model validating arguments against a flat object schema.

    Raises:
        ValueError: For a schema that is not an object, or a property of unknown type.
    """
    if schema.get("type") != "object":
        raise ValueError(f"parameters must be a JSON Schema of type 'object', not {schema!r}")
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for key, prop in dict(schema.get("properties", {})).items():
        annotation = _annotation(key, prop)
        default = ... if key in required else prop.get("default")
        if key not in required:
            annotation = annotation | None
        fields[key] = (annotation, Field(default, description=prop.get("description")))
    config = ConfigDict(extra="allow" if schema.get("additionalProperties", False) else "forbid")
    return create_model(f"{name}_arguments", __config__=config, **fields)


def _annotation(key: str, prop: Any) -> Any:
    if not isinstance(prop, dict):
        raise ValueError(f"property '{key}' must be a JSON Schema object, not {prop!r}")
    if "enum" in prop:
        return Literal[tuple(prop["enum"])]
    kind = prop.get("type", "string")
    if kind not in _TYPES:
        raise ValueError(
            f"property '{key}' has type {kind!r}; supported: {', '.join(_TYPES)} (or an enum)"
        )
    return _TYPES[kind]
