"""`stepladder schema`: write the JSON Schema of flow files (or of stepladder.yaml)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stepladder.cli.app import command, stderr
from stepladder.config import Settings
from stepladder.flows import FlowSpec


class SchemaKind(StrEnum):
    """Which document the schema describes."""

    flow = "flow"
    settings = "settings"


def json_schema(kind: SchemaKind) -> dict[str, Any]:
    """The JSON Schema of flow files or of `stepladder.yaml`."""
    model = FlowSpec if kind is SchemaKind.flow else Settings
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@command()
def schema(
    kind: Annotated[SchemaKind, typer.Option("--kind", help="flow or settings.")] = SchemaKind.flow,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Write the JSON Schema editors use to complete and check flow files."""
    text = json.dumps(json_schema(kind), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    stderr.print(f"wrote {output}")
