"""A tool the agent may call: its name, description, argument schema and implementation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stepladder.prompts.field_text import describe_schema

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_OBSERVATION_CHARS", "TOOL_NAME_PATTERN", "Tool"]

DEFAULT_TIMEOUT_S = 10.0
MAX_OBSERVATION_CHARS = 2000
TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass(frozen=True)
class Tool:
    """One callable tool.

    Attributes:
        name: What the model calls it (letters, digits and '_').
        description: What it does, shown to the model.
        parameters: The JSON Schema of its arguments (an object), sent to the model.
        arguments: The pydantic model that validates arguments before the call.
        fn: The implementation (sync, run in a thread; or async, awaited).
        timeout_s: How long a call may take before it is abandoned.
        max_chars: The longest observation the model sees (longer ones are cut).
        server: The MCP server the tool comes from (None: a Python tool).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    arguments: type[BaseModel]
    fn: Callable[..., Any]
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_chars: int = MAX_OBSERVATION_CHARS
    server: str | None = None

    def describe(self) -> str:
        """One line for the prompt: `name(arg: type, ...): description`."""
        properties = self.parameters.get("properties", {})
        args = ", ".join(f"{k}: {describe_schema(v)}" for k, v in properties.items())
        return f"{self.name}({args}): {self.description}".rstrip(": ")
