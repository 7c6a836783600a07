"""`stepladder validate [FLOW...]`: load and compile flows without running them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from stepladder.cli.app import command
from stepladder.cli.common import load_compiled_flow, project_for
from stepladder.errors import ConfigError, StepladderError, UserError
from stepladder.wording import plural

if TYPE_CHECKING:
    from stepladder.flows import Flow

console = Console(highlight=False)


@command()
def validate(
    flows: Annotated[
        list[str] | None,
        typer.Argument(help="Flow names or files (default: every flow in the project)."),
    ] = None,
    check_tools: Annotated[
        bool,
        typer.Option(
            "--check-tools",
            help="Start the MCP servers the flows' agents use and list their tools.",
        ),
    ] = False,
) -> None:
    """Check flows (spec, graph, references) without running them; report every bad one."""
    names = list(flows or [])
    if not names:
        project = project_for()
        names = project.flow_names()
        if not names:
            raise ConfigError(f"no flow files in {project.flows_dir}.")
    problems: list[UserError] = []
    for name in names:
        try:
            _, flow = load_compiled_flow(name)
        except UserError as error:
            problems.append(error)
            continue
        edges = len(flow.spec.effective_edges())
        nodes = plural(len(flow.spec.nodes), "node")
        console.print(f"[green]ok[/] {flow.name}: {nodes}, {plural(edges, 'edge')}")
        if check_tools:
            try:
                asyncio.run(_list_tools(flow))
            except StepladderError as error:
                problems.append(UserError(f"flow '{flow.name}': {error}"))
    distinct = list({str(problem): problem for problem in problems}.values())
    if len(distinct) == 1:  # one bad flow, or one bad stepladder.yaml under them all
        raise distinct[0]
    if distinct:
        listed = "\n".join(f"- {problem}" for problem in distinct)
        raise UserError(f"{len(problems)} of {len(names)} flows are invalid:\n{listed}")


async def _list_tools(flow: Flow) -> None:
    """Start the MCP servers `flow`'s agents use; print the tools each agent gets."""
    from stepladder.tools.mcp import McpClients  # lazy: the MCP SDK loads for --check-tools

    clients = McpClients(flow.project_root)
    try:
        for node_id, loop in flow.every_agent.items():
            if not loop.sources:
                continue
            servers = ", ".join(source.server for source in loop.sources)
            registry = await loop.list_tools(clients)
            names = ", ".join(registry.names)
            console.print(f"  agent {node_id} (MCP: {servers}): {names}", markup=False)
    finally:
        await clients.aclose()
