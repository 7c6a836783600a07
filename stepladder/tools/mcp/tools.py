"""MCP servers' tools as agent tools: their JSON Schemas checked, their names made unique.

An agent node names servers (`tools: [{mcp: files, include: [read_file]}]`); at run start
each server's tools are listed and become `Tool`s whose parameters are the server's input
schemas, so the agent's constrained calls (the same grammar as Python tools) give only
arguments that fit. A tool name that two servers (or a Python tool) share is prefixed by
its server's name. A call goes through the run's session with the server
(`McpClients`, found through `CURRENT_CLIENTS`), and its result is cut at the server's
`max_result_chars`, with a note saying so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from stepladder.config.mcp import McpServerSettings
from stepladder.errors import ToolServerError
from stepladder.tools.mcp.clients import McpClients
from stepladder.tools.run import ToolFailed
from stepladder.tools.schema import inline_refs
from stepladder.tools.tool import Tool

__all__ = ["CURRENT_CLIENTS", "McpToolSource", "cap_text", "check_schema", "mcp_tools"]

CURRENT_CLIENTS: ContextVar[McpClients | None] = ContextVar("stepladder_mcp", default=None)
"""The MCP sessions of the run in progress (set by the agent node around its steps)."""


@dataclass(frozen=True)
class McpToolSource:
    """The tools an agent takes from one server.

    Attributes:
        server: The server's name in `mcp_servers`.
        settings: How to reach it.
        include: The tools to take (None: all it lists).
    """

    server: str
    settings: McpServerSettings
    include: tuple[str, ...] | None = None


async def mcp_tools(
    clients: McpClients, sources: Sequence[McpToolSource], taken: Collection[str] = ()
) -> list[Tool]:
    """The tools of `sources`, listed through `clients`; names unique with `taken`.

    Raises:
        ToolServerError: When a server cannot be reached, lacks an included tool, or lists
            a tool whose input schema is not valid JSON Schema.
    """
    listed: list[tuple[McpToolSource, Any]] = []
    for source in sources:
        offered = await clients.tools(source.server, source.settings)
        names = [item.name for item in offered]
        missing = [name for name in source.include or () if name not in names]
        if missing:
            raise ToolServerError(
                f"MCP server '{source.server}' has no tool {', '.join(map(repr, missing))} "
                f"(its `include`); its tools: {', '.join(names) or '(none)'}."
            )
        listed += [(source, item) for item in offered if _included(source, item.name)]
    plain = Counter(_identifier(item.name) for _, item in listed)
    plain.update(taken)
    tools = []
    for source, item in listed:
        name = _identifier(item.name)
        if plain[name] > 1:
            name = _identifier(f"{source.server}_{item.name}")
        tools.append(_tool(source, item, name))
    return tools


def _included(source: McpToolSource, name: str) -> bool:
    return source.include is None or name in source.include


def _identifier(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if re.match(r"[A-Za-z_]", text) else f"_{text}"


def _tool(source: McpToolSource, item: Any, name: str) -> Tool:
    schema = check_schema(source.server, item.name, dict(item.input_schema or {}))
    settings, remote = source.settings, item.name

    async def call(**arguments: Any) -> str:
        clients = CURRENT_CLIENTS.get()
        if clients is None:
            raise ToolServerError(f"MCP tool '{remote}' was called outside a run.")
        # `timed=False`: the tool's `timeout_s` (the server's) is enforced around the call
        result = await clients.call(source.server, settings, remote, arguments, timed=False)
        text = cap_text(result.text, settings.max_result_chars)
        if result.is_error:
            raise ToolFailed(text)
        return text

    return Tool(
        name=name,
        description=" ".join((item.description or item.title or "").split()),
        parameters=schema,
        arguments=arguments_model(name, schema),
        fn=call,
        timeout_s=settings.timeout_s,
        max_chars=settings.max_result_chars + 200,
        server=source.server,
    )


def check_schema(server: str, tool: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's input schema, checked against JSON Schema and ready for the grammar.

    Raises:
        ToolServerError: Naming the server and tool, for a schema that is not valid JSON
            Schema or not an object's.
    """
    from jsonschema import SchemaError, validators  # lazy: only MCP tools need it

    try:
        validators.validator_for(schema).check_schema(schema)
        inlined = inline_refs(schema)
    except (SchemaError, ValueError) as error:
        detail = getattr(error, "message", None) or str(error)
        raise ToolServerError(
            f"MCP server '{server}': tool '{tool}' has an input schema that is not valid JSON "
            f"Schema ({detail}); fix the server, or leave the tool out with `include`."
        ) from error
    if inlined.get("type", "object") != "object":
        raise ToolServerError(
            f"MCP server '{server}': tool '{tool}' has an input schema of type "
            f"{inlined.get('type')!r}; a tool's arguments are an object."
        )
    for key in ("$schema", "$id", "title"):
        inlined.pop(key, None)
    inlined["type"] = "object"
    inlined.setdefault("properties", {})
    return inlined


class JsonSchemaArguments(BaseModel):
    """Arguments checked against a JSON Schema (any keys; `schema_check` validates them)."""

    model_config = ConfigDict(extra="allow")
    schema_check: ClassVar[Any] = None

    @model_validator(mode="before")
    @classmethod
    def _against_schema(cls, data: Any) -> Any:
        problems = sorted(cls.schema_check.iter_errors(data), key=lambda e: list(e.path))
        if problems:
            first = problems[0]
            where = ".".join(str(part) for part in first.path) or "arguments"
            raise ValueError(f"{where}: {first.message}")
        return data


def arguments_model(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model whose validation is the JSON Schema's."""
    from jsonschema import validators  # lazy: only runs that list MCP tools need it

    check = validators.validator_for(schema)(schema)
    return type(f"{name}_arguments", (JsonSchemaArguments,), {"schema_check": check})


def cap_text(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with a note that says how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n…(truncated: the first {limit} of {len(text)} characters)"
