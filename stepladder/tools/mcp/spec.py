"""An agent node's entry naming an MCP server: `{mcp: files, include: [read_file]}`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stepladder.config.mcp import MCP_SERVER_NAME_PATTERN

__all__ = ["McpToolsEntry"]

_SERVER_KEYS = ("command", "url", "env", "cwd", "headers_env")


class McpToolsEntry(BaseModel):
    """Tools from one of the project's MCP servers (declared in `stepladder.yaml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mcp: str = Field(
        pattern=MCP_SERVER_NAME_PATTERN,
        description="The server's name under `mcp_servers` in stepladder.yaml.",
    )
    include: list[str] | None = Field(
        default=None, min_length=1, description="The server's tools to offer (default: all)."
    )

    @model_validator(mode="before")
    @classmethod
    def _names_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = [key for key in _SERVER_KEYS if key in data]
            if found:
                raise ValueError(
                    f"a flow file names an MCP server, it cannot define one ({', '.join(found)}): "
                    "starting a server is code execution, so servers are declared in "
                    "stepladder.yaml under `mcp_servers:`; name it here with `mcp: NAME`"
                )
        return data
