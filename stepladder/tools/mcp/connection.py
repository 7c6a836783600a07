"""One client session with one MCP server, held open by a task of its own.

The `mcp` SDK's transports are anyio context managers that must be left in the task that
entered them; a run's nodes run in other tasks. So each connection is owned by one
background task, which enters the client, waits to be told to stop, and leaves it; nodes
send requests through the session from any task. A server that exits (or a stream that
breaks) ends the owning task, and the connection reports itself closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from stepladder.config.mcp import McpServerSettings
from stepladder.errors import ToolServerError

__all__ = ["McpConnection", "open_client"]

START_TIMEOUT_S = 60.0
PYTHON_NAMES = ("python", "python3")


@contextlib.asynccontextmanager
async def open_client(
    name: str, settings: McpServerSettings, root: Path | None = None
) -> AsyncIterator[Any]:
    """A session with the server: the SDK's `mcp.Client`, entered (handshake done).

    Raises:
        ToolServerError: When the server's command is not found.
    """
    from mcp import Client, StdioServerParameters, stdio_client  # lazy: the SDK is slow to load

    if settings.command is not None:
        program, *args = settings.command
        if program in PYTHON_NAMES:  # the Python that runs stepladder (and has its packages)
            program = sys.executable
        if shutil.which(program) is None:
            raise ToolServerError(
                f"MCP server '{name}': command '{program}' was not found (its `command` in "
                "stepladder.yaml's `mcp_servers`); install it or fix the command."
            )
        cwd = Path(settings.cwd) if settings.cwd else root
        if root is not None and cwd is not None and not cwd.is_absolute():
            cwd = root / cwd
        params = StdioServerParameters(
            command=program, args=args, env=dict(settings.env) or None, cwd=cwd
        )
        transport = stdio_client(params, errlog=_errlog())
        async with Client(transport, mode="legacy", cache=None) as client:
            yield client
        return
    import httpx2  # lazy, as above: the SDK's HTTP client
    from mcp.client.streamable_http import streamable_http_client  # lazy, as above
    from mcp.shared._httpx_utils import create_mcp_http_client  # lazy, as above

    async with create_mcp_http_client(headers=settings.headers()) as http:
        transport = streamable_http_client(str(settings.url), http_client=http)
        try:
            async with Client(transport, mode="legacy", cache=None) as client:
                yield client
        except httpx2.HTTPError as error:
            raise ToolServerError(
                f"MCP server '{name}' ({settings.describe()}): {describe_failure(error)}"
            ) from error


class McpConnection:
    """A session with one server, open until `close()` or until the server goes away."""

    def __init__(self, name: str, settings: McpServerSettings, root: Path | None = None) -> None:
        self.name = name
        self.settings = settings
        self.root = root
        self.client: Any = None
        self.tools: list[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None

    @property
    def label(self) -> str:
        """The server in messages: its name, and its command or URL."""
        shown = self.settings.describe()
        return f"'{self.name}'" if shown == self.name else f"'{self.name}' ({shown})"

    @property
    def alive(self) -> bool:
        """Whether the session is open."""
        return self._task is not None and not self._task.done() and self.client is not None

    @property
    def owner(self) -> asyncio.Task[None]:
        """The task holding the session: done once the session has ended."""
        if self._task is None:
            raise RuntimeError("the connection is not open")
        return self._task

    @property
    def failure(self) -> BaseException | None:
        """Why the session ended, when it ended on its own."""
        return self._failure

    async def open(self) -> None:
        """Start the server (or connect to it) and finish the handshake.

        Raises:
            ToolServerError: When the command is missing, or the server does not answer.
        """
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._own(ready), name=f"mcp:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT_S)
        except TimeoutError:
            await self.close()
            raise ToolServerError(
                f"MCP server {self.label} did not finish its handshake in {START_TIMEOUT_S:g} s."
            ) from None
        except ToolServerError:
            raise
        except Exception as error:
            raise ToolServerError(
                f"MCP server {self.label} could not start: {describe_failure(error)}"
            ) from error

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with open_client(self.name, self.settings, self.root) as client:
                self.client = client
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as error:  # the server went away, or the task was cancelled
            self._failure = error
            if not ready.done():
                ready.set_exception(error if isinstance(error, Exception) else RuntimeError())
            if not isinstance(error, Exception):
                raise
        finally:
            self.client = None

    async def close(self) -> None:
        """End the session (and the server's process, for a command)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except (TimeoutError, Exception):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _errlog() -> TextIO:
    """Where a server's stderr goes: ours, or the process's own when ours is not a file."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__ or sys.stderr
    return sys.stderr


def describe_failure(error: BaseException) -> str:
    """An exception (or an exception group's first leaf) in one line."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if str(error) else text
