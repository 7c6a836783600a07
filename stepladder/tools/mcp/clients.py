"""The MCP sessions of a run (or of a server process): one per server, opened on first use.

`run_flow` opens a pool for each run and closes it when the run ends, fails or is
interrupted; `stepladder serve` keeps one pool for the process. A server that went away is
started again on the next use, so a failed run's thread resumes once the server is back.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.config.mcp import McpServerSettings
from stepladder.errors import ToolServerError
from stepladder.tools.mcp.connection import McpConnection, describe_failure

__all__ = ["McpCallResult", "McpClients"]


@dataclass(frozen=True)
class McpCallResult:
    """A tool call's result as the model sees it.

    Attributes:
        text: The content as text (text blocks, else the structured content as JSON).
        structured: The structured content, when the server gave one.
        is_error: Whether the server reported the call as failed (`isError`).
    """

    text: str
    structured: Any = None
    is_error: bool = False


class McpClients:
    """Sessions by server name; each opened when first needed and kept until `aclose()`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._connections: dict[str, McpConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def connection(self, name: str, settings: McpServerSettings) -> McpConnection:
        """The open session with server `name`, started (again) when needed.

        Raises:
            ToolServerError: When the server cannot be started or reached.
        """
        found = self._connections.get(name)
        if found is not None and found.alive and found.settings == settings:
            return found  # the common case: no lock to take
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            found = self._connections.get(name)
            if found is not None and found.alive and found.settings == settings:
                return found
            if found is not None:
                await found.close()
            connection = McpConnection(name, settings, self.root)
            await connection.open()
            self._connections[name] = connection
            return connection

    async def tools(self, name: str, settings: McpServerSettings) -> list[Any]:
        """The server's tools (the SDK's `Tool` objects), listed once per session."""
        connection = await self.connection(name, settings)
        if connection.tools is None:
            try:
                listed = await asyncio.wait_for(connection.client.list_tools(), settings.timeout_s)
                tools = list(listed.tools)
                while listed.next_cursor:
                    listed = await connection.client.list_tools(cursor=listed.next_cursor)
                    tools.extend(listed.tools)
            except Exception as error:
                raise ToolServerError(
                    f"MCP server '{name}' did not list its tools: {describe_failure(error)}"
                ) from error
            connection.tools = tools
        return connection.tools

    async def call(
        self,
        name: str,
        settings: McpServerSettings,
        tool: str,
        arguments: dict[str, Any],
        *,
        timed: bool = True,
    ) -> McpCallResult:
        """Call `tool` on server `name` within the server's `timeout_s`.

        Args:
            name: The server's name.
            settings: How to reach it.
            tool: The tool to call.
            arguments: Its arguments.
            timed: Whether to enforce `timeout_s` here (an agent's tool call enforces the
                same limit around the whole call, so it leaves this out: one timer a call).

        Raises:
            ToolServerError: When the server is gone or broke the protocol (not for a
                result the server marks as an error: that is the model's to read).
            TimeoutError: When the call takes longer than the server's `timeout_s`.
        """
        connection = await self.connection(name, settings)
        try:
            async with asyncio.timeout(settings.timeout_s if timed else None):
                result = await connection.client.call_tool(tool, arguments)
        except TimeoutError:
            raise TimeoutError(
                f"MCP server '{name}': {tool} took over {settings.timeout_s:g} s"
            ) from None
        except Exception as error:
            if _closed(error) or not connection.alive:
                why = error if _closed(error) else connection.failure or error
                raise ToolServerError(
                    f"MCP server '{name}' went away during a call of its tool '{tool}' "
                    f"({describe_failure(why)}); the run stopped. Start the server again and "
                    "resume the run's thread."
                ) from error
            raise ToolServerError(
                f"MCP server '{name}' failed a call of its tool '{tool}': {describe_failure(error)}"
            ) from error
        return _as_result(result)

    async def aclose(self) -> None:
        """Close every session (and stop the servers' processes)."""
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()


def _closed(error: BaseException | None) -> bool:
    """Whether `error` says the connection closed (the server's process ended)."""
    from mcp_types import CONNECTION_CLOSED  # lazy: the SDK takes a while to import

    return getattr(error, "code", None) == CONNECTION_CLOSED


def _as_result(result: Any) -> McpCallResult:
    texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
    others = [f"[{block.type}]" for block in result.content if getattr(block, "type", "") != "text"]
    structured = result.structured_content
    if texts:
        text = "\n".join(texts + others)
    elif structured is not None:
        text = json.dumps(structured, ensure_ascii=False, default=str)
    else:
        text = "\n".join(others) or "(no content)"
    return McpCallResult(text, structured, bool(result.is_error))
