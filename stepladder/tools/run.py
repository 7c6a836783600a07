"""Calling a tool: validate the arguments, enforce the timeout, and never raise.

Bad arguments, exceptions and timeouts become the observation the model sees next, so an
agent can correct itself; the outcome says which it was. A tool that raises `ToolFailed`
reports its own failure (its message is the observation); one that raises a `RunError` (an
MCP server that went away) ends the run.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from stepladder.errors import RunError
from stepladder.tools.tool import MAX_OBSERVATION_CHARS, Tool

__all__ = ["MAX_OBSERVATION_CHARS", "ToolFailed", "ToolResult", "run_tool"]

Status = Literal["ok", "invalid_arguments", "error", "timeout"]


class ToolFailed(Exception):
    """A tool's own report that a call failed: the message is what the model sees."""


@dataclass(frozen=True)
class ToolResult:
    """What one tool call gave.

    Attributes:
        status: `ok`, `invalid_arguments`, `error` or `timeout`.
        observation: The text the model sees (the result, or what went wrong).
        value: The tool's return value (None unless `ok`).
        seconds: How long the call took.
    """

    status: Status
    observation: str
    value: Any = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the tool returned a value."""
        return self.status == "ok"


async def run_tool(tool: Tool, arguments: Any) -> ToolResult:
    """Validate `arguments` and call `tool` within its timeout; problems become observations."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        validated = tool.arguments.model_validate(arguments if arguments is not None else {})
    except ValidationError as error:
        return ToolResult("invalid_arguments", _invalid(tool, error))
    kwargs = _keywords(validated)
    try:
        async with asyncio.timeout(tool.timeout_s):  # no task of its own (as wait_for made)
            value = await _call(tool, kwargs)
    except TimeoutError:
        message = f"error: {tool.name} timed out after {tool.timeout_s:g} s."
        return ToolResult("timeout", message, seconds=loop.time() - started)
    except ToolFailed as failure:
        message = f"error: {tool.name} failed: {failure}"
        return ToolResult("error", _cut(message, tool.max_chars), seconds=loop.time() - started)
    except RunError:
        raise
    except Exception as error:  # a tool's failure is the model's to handle
        message = f"error: {tool.name} raised {type(error).__name__}: {error}"
        return ToolResult("error", _cut(message, tool.max_chars), seconds=loop.time() - started)
    return ToolResult("ok", _cut(_text(value), tool.max_chars), value, loop.time() - started)


async def _call(tool: Tool, kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(tool.fn):
        return await tool.fn(**kwargs)
    value = await asyncio.to_thread(tool.fn, **kwargs)
    return await value if inspect.isawaitable(value) else value


def _keywords(validated: Any) -> dict[str, Any]:
    """The arguments given, plus left-out ones whose default is not None (and any extras)."""
    kwargs = {
        key: getattr(validated, key)
        for key, field in type(validated).model_fields.items()
        if key in validated.model_fields_set or field.default is not None
    }
    kwargs.update(validated.model_extra or {})
    return kwargs


def _invalid(tool: Tool, error: ValidationError) -> str:
    problems = []
    for detail in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in detail["loc"]) or "arguments"
        problems.append(f"{where}: {detail['msg']}")
    return f"error: invalid arguments for {tool.name}: " + "; ".join(problems)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _cut(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + " …(cut)"
