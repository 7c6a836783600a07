"""`stepladder graph FLOW`: print the compiled graph as Mermaid."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stepladder.cli.app import command
from stepladder.cli.common import load_compiled_flow


@command()
def graph(
    flow: Annotated[str, typer.Argument(help="Flow name (in flows/) or path to a flow file.")],
) -> None:
    """Print a flow's graph as a Mermaid diagram."""
    _, compiled = load_compiled_flow(flow)
    sys.stdout.write(compiled.mermaid())
