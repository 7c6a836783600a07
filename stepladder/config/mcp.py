"""MCP servers the project's agents may take tools from (`mcp_servers:` in `stepladder.yaml`).

```yaml
mcp_servers:
  files:                                   # stdio: the command is started for a run
    command: [npx, -y, "@modelcontextprotocol/server-filesystem", data]
  shop:                                    # `python` is the Python that runs stepladder
    command: [python, mcp/shop_server.py]  # (relative paths: from the project folder)
  tickets:                                 # streamable HTTP
    url: http://127.0.0.1:9000/mcp
    headers_env: {Authorization: TICKETS_TOKEN}   # header -> environment variable
    timeout_s: 10                          # longest tool call (default 30 s)
```

Only the project file may declare a server: starting a command is code execution, and the
project file is where the reference allowlist lives. Flow files name declared servers.
"""

from __future__ import annotations

import os
import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_MAX_RESULT_CHARS",
    "DEFAULT_MCP_TIMEOUT_S",
    "MCP_SERVER_NAME_PATTERN",
    "McpServerSettings",
]

DEFAULT_MCP_TIMEOUT_S = 30.0
DEFAULT_MAX_RESULT_CHARS = 4000
MCP_SERVER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"


class McpServerSettings(BaseModel):
    """One MCP server: a command (stdio) or a URL (streamable HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] | None = Field(
        default=None, min_length=1, description="The server's command and arguments (stdio)."
    )
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="The server's streamable HTTP endpoint."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for a command."
    )
    cwd: str | None = Field(
        default=None, description="The command's working folder (default: the project folder)."
    )
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers to send, each read from an environment variable "
        "(`{Authorization: TICKETS_TOKEN}`).",
    )
    timeout_s: float = Field(
        default=DEFAULT_MCP_TIMEOUT_S, gt=0, description="Longest tool call, in seconds."
    )
    max_result_chars: int = Field(
        default=DEFAULT_MAX_RESULT_CHARS,
        ge=100,
        description="Longest tool result the model sees; longer ones are cut with a note.",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server has either `command` (stdio) or `url` (HTTP)")
        if self.command is None and (self.env or self.cwd):
            raise ValueError("`env` and `cwd` apply to a `command` server only")
        if self.url is None and self.headers_env:
            raise ValueError("`headers_env` applies to a `url` server only")
        return self

    def headers(self) -> dict[str, str]:
        """The HTTP headers, read from their environment variables (unset ones left out)."""
        found = {key: os.environ.get(variable) for key, variable in self.headers_env.items()}
        return {key: value for key, value in found.items() if value}

    def describe(self) -> str:
        """The server in a few words, for messages (a command, or the URL without secrets)."""
        if self.command is not None:
            return " ".join(self.command)
        return re.sub(r"//[^@/]*@", "//", self.url or "")
