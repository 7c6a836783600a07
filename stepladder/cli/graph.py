"""`stepladder graph FLOW [--format mermaid|svg|png] [--output FILE]`: a flow's graph.

Mermaid text by default (on stdout), or a picture drawn offline (`stepladder.flows.picture`):
SVG (on stdout, or to `--output`) or PNG (to `--output`). Without `--format`, an output
file's suffix (`.svg`, `.png`, `.mmd`) picks it.
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
) -> None:
    """Print a flow's graph as a Mermaid diagram, or draw it as an SVG or PNG picture."""
    chosen = picture_format or (SUFFIXES.get(output.suffix.lower()) if output else None)
    chosen = chosen or GraphFormat.mermaid
    if chosen is GraphFormat.png and output is None:
        raise UserError("--format png writes a binary picture: give the file with --output FILE.")
    _, compiled = load_compiled_flow(flow)
    if chosen is GraphFormat.mermaid:
        text = compiled.mermaid()
    else:
        from stepladder.flows.picture import flow_png, flow_svg  # lazy: matplotlib for png

        if chosen is GraphFormat.png:
            _write(output, flow_png(compiled.spec))  # type: ignore[arg-type]
            return
        text = flow_svg(compiled.spec)
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
