"""Tools an agent node may call: from Python functions or declared in YAML; run safely."""

from stepladder.tools.registry import FINISH, ToolRegistry
from stepladder.tools.run import ToolFailed, ToolResult, run_tool
from stepladder.tools.schema import inline_refs, parse_docstring, tool, tool_from_function
from stepladder.tools.spec import ToolSpec, model_from_schema
from stepladder.tools.tool import DEFAULT_TIMEOUT_S, Tool

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "FINISH",
    "Tool",
    "ToolFailed",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "inline_refs",
    "model_from_schema",
    "parse_docstring",
    "run_tool",
    "tool",
    "tool_from_function",
]
