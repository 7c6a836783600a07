"""`stepladder graph FLOW [--format mermaid|svg|png] [--output FILE] [--expand]`: a flow's graph.

Mermaid text by default (on stdout), or a picture drawn offline (`stepladder.flows.picture`):
SVG (on stdout, or to `--output`) or PNG (to `--output`). Without `--format`, an output
file's suffix (`.svg`, `.png`, `.mmd`) picks it. A `flow` node is one box unless `--expand`
draws its subflow's nodes in its place (`stepladder.flows.compose_picture`).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stepladder.cli.app import command, stderr
from stepladder.cli.common import load_compiled_flow
from stepladder.errors import UserError


class GraphFormat(StrEnum):
    """What `graph` writes."""

    mermaid = "mermaid"
    svg = "svg"
    png = "png"


SUFFIXES = {".svg": GraphFormat.svg, ".png": GraphFormat.png, ".mmd": GraphFormat.mermaid}


@command()
def graph(
    flow: Annotated[str, typer.Argument(help="Flow name (in flows/) or path to a flow file.")],
    picture_format: Annotated[
        GraphFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="mermaid (text), svg or png (a picture). Default: from --output's suffix, "
            "else mermaid.",
            case_sensitive=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file (needed for png) instead of stdout."
        ),
    ] = None,
    expand: Annotated[
        bool, typer.Option("--expand", help="Draw each subflow's nodes instead of one box.")
    ] = False,
) -> None:
    """Print a flow's graph as a Mermaid diagram, or draw it as an SVG or PNG picture."""
    chosen = picture_format or (SUFFIXES.get(output.suffix.lower()) if output else None)
    chosen = chosen or GraphFormat.mermaid
    if chosen is GraphFormat.png and output is None:
        raise UserError("--format png writes a binary picture: give the file with --output FILE.")
    # lazy: the flows package loads LangGraph, which `--help` must not wait for
    from stepladder.flows.compose_picture import composed_mermaid, expanded_spec

    _, compiled = load_compiled_flow(flow)
    expanded = expand and bool(compiled.subflows)
    if chosen is GraphFormat.mermaid:
        text = composed_mermaid(compiled) if expanded else compiled.mermaid()
    else:
        from stepladder.flows.picture import flow_png, flow_svg  # lazy: matplotlib for png

        spec = expanded_spec(compiled) if expanded else compiled.spec
        if chosen is GraphFormat.png:
            _write(output, flow_png(spec))  # type: ignore[arg-type]
            return
        text = flow_svg(spec)
    if output is None:
        sys.stdout.write(text)
    else:
        _write(output, text.encode("utf-8"))


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as error:
        raise UserError(f"{path}: cannot write the graph: {error.strerror or error}.") from error
    stderr.print(f"wrote {path} ({len(data):,} bytes)", markup=False)
