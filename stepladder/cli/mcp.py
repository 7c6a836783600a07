"""`stepladder mcp`: the project's flows as MCP tools over stdio; `mcp call` tries a server.

```
stepladder mcp                                   serve every flow as a tool (stdio)
stepladder mcp call SERVER                       list a server's tools
stepladder mcp call --tool NAME --args JSON SERVER   call one
```
SERVER is a server declared under `mcp_servers` in stepladder.yaml, or an http(s) URL
(streamable HTTP; then no project is needed). `mcp call` uses the client code agents use.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stepladder.cli.app import app, command_in, guarded
from stepladder.cli.common import UseCompiled, project_for
from stepladder.errors import ConfigError, ToolServerError, UserError

__all__ = ["mcp_app"]

mcp_app = typer.Typer(
    help="The project's flows as MCP tools (stdio), and `call` to try an MCP server.",
    invoke_without_command=True,
)
app.add_typer(mcp_app, name="mcp")
console = Console(highlight=False, soft_wrap=True)


@mcp_app.callback()
@guarded
def serve_stdio(
    ctx: typer.Context,
    flows: Annotated[
        Path | None,
        typer.Option("--flows", help="Folder of flow files (default: the project's flows/)."),
    ] = None,
    use_compiled: UseCompiled = True,
) -> None:
    """Serve the project's flows as MCP tools over stdin/stdout (for desktop assistants, IDEs)."""
    if ctx.invoked_subcommand is not None:
        return
    # Lazy: the service (FastAPI) and the MCP server load only for this command.
    from stepladder.serve import Service, load_flows, with_flows_dir
    from stepladder.serve.mcp import serve_stdio as serve  # lazy, as above

    project = with_flows_dir(project_for(), flows)
    served = load_flows(project, compiled=use_compiled)
    if not served.flows:
        raise ConfigError(f"nothing to serve: no flow compiles in {project.flows_dir}.")
    asyncio.run(serve(Service(project, served)))


@command_in(mcp_app, "call")
def call(
    server: Annotated[
        str, typer.Argument(help="A server declared in stepladder.yaml, or an http(s) URL.")
    ],
    tool: Annotated[
        str | None, typer.Option("--tool", help="The tool to call (default: list the tools).")
    ] = None,
    args: Annotated[
        str, typer.Option("--args", help="The tool's arguments as a JSON object.")
    ] = "{}",
) -> None:
    """List an MCP server's tools, or call one: to try a server out."""
    arguments = _arguments(args)
    name, settings, root = _server(server)
    asyncio.run(_call(name, settings, root, tool, arguments))


async def _call(
    name: str, settings: Any, root: Path | None, tool: str | None, arguments: dict[str, Any]
) -> None:
    from stepladder.tools.mcp import McpClients  # lazy: the MCP SDK loads for this command

    clients = McpClients(root)
    try:
        if tool is None:
            for item in await clients.tools(name, settings):
                summary = " ".join((item.description or "").split())
                console.print(f"{item.name}: {summary}" if summary else item.name, markup=False)
            return
        result = await clients.call(name, settings, tool, arguments)
    except TimeoutError as error:
        raise ToolServerError(str(error)) from None
    finally:
        await clients.aclose()
    if result.structured is not None and result.text.strip() == "":
        console.print(json.dumps(result.structured, ensure_ascii=False), markup=False)
    else:
        console.print(result.text, markup=False)
    if result.is_error:
        raise typer.Exit(1)


def _server(text: str) -> tuple[str, Any, Path | None]:
    """The server's name, settings and project folder (none for a URL).

    Raises:
        UserError: For a name the project does not declare.
    """
    from stepladder.config.mcp import McpServerSettings  # lazy: keeps --help fast

    if text.startswith(("http://", "https://")):
        return text, McpServerSettings(url=text), None
    project = project_for()
    declared = project.settings.mcp_servers
    if text not in declared:
        raise UserError(
            f"'{text}' is neither an http(s) URL nor an MCP server declared in stepladder.yaml "
            f"(declared: {', '.join(sorted(declared)) or 'none'})."
        )
    return text, declared[text], project.root


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--args: not JSON ({error.msg} at column {error.colno}).") from None
    if not isinstance(value, dict):
        raise UserError(f"--args: give a JSON object of the tool's arguments, not {text}.")
    return value
