"""`stepladder validate [FLOW...]`: load and compile flows without running them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from stepladder.cli.app import command
from stepladder.cli.common import load_compiled_flow, project_for
from stepladder.errors import ConfigError, UserError
from stepladder.wording import plural

console = Console(highlight=False)


@command()
def validate(
    flows: Annotated[
        list[str] | None,
        typer.Argument(help="Flow names or files (default: every flow in the project)."),
    ] = None,
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
    distinct = list({str(problem): problem for problem in problems}.values())
    if len(distinct) == 1:  # one bad flow, or one bad stepladder.yaml under them all
        raise distinct[0]
    if distinct:
        listed = "\n".join(f"- {problem}" for problem in distinct)
        raise UserError(f"{len(problems)} of {len(names)} flows are invalid:\n{listed}")
