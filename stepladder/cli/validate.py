"""`stepladder validate [FLOW...]`: load and compile flows without running them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from stepladder.cli.app import command
from stepladder.cli.common import load_compiled_flow, project_for
from stepladder.errors import ConfigError

console = Console(highlight=False)


@command()
def validate(
    flows: Annotated[
        list[str] | None,
        typer.Argument(help="Flow names or files (default: every flow in the project)."),
    ] = None,
) -> None:
    """Check flows (spec, graph, references) without running them."""
    names = list(flows or [])
    if not names:
        project = project_for()
        names = project.flow_names()
        if not names:
            raise ConfigError(f"no flow files in {project.flows_dir}.")
    for name in names:
        _, flow = load_compiled_flow(name)
        edges = len(flow.spec.effective_edges())
        console.print(f"[green]ok[/] {flow.name}: {len(flow.spec.nodes)} nodes, {edges} edges")
