"""Short, plain descriptions of fields for prompts (`text or null, at most 30 characters`).

DSPy's adapters describe types as Python (`Union[Annotated[str, StringConstraints(...)], ...]`),
which costs small models tokens and attention; the schema is enforced by the server anyway.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe_schema", "field_lines"]

_SIMPLE = {"string": "text", "integer": "integer", "number": "number", "boolean": "true or false"}


def describe_schema(schema: dict[str, Any], definitions: dict[str, Any] | None = None) -> str:
    """Describe a JSON Schema property in a few words."""
    definitions = definitions or {}
    if "$ref" in schema:
        return describe_schema(definitions.get(schema["$ref"].split("/")[-1], {}), definitions)
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        text = " or ".join(describe_schema(s, definitions) for s in options)
        return f"{text} or null" if nullable else text
    kind = schema.get("type")
    if kind == "array":
        return f"list of {describe_schema(schema.get('items', {}), definitions)}"
    if kind == "object":
        names = ", ".join(schema.get("properties", {}))
        return f"object with {names}" if names else "object"
    text = _SIMPLE.get(str(kind), str(kind or "any value"))
    if "maxLength" in schema:
        text += f", at most {schema['maxLength']} characters"
    return text


def field_lines(fields: dict[str, Any], schema: dict[str, Any] | None = None) -> str:
    """Numbered lines `1. `name` (type): description` for a signature's fields."""
    properties = (schema or {}).get("properties", {})
    definitions = (schema or {}).get("$defs", {})
    lines = []
    for index, (name, field) in enumerate(fields.items(), start=1):
        description = (field.json_schema_extra or {}).get("desc") or ""
        kind = f" ({describe_schema(properties[name], definitions)})" if name in properties else ""
        lines.append(f"{index}. `{name}`{kind}" + (f": {description}" if description else ""))
    return "\n".join(lines)
