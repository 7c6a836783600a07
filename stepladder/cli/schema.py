"""`stepladder schema`: write the JSON Schema of flow files, stepladder.yaml or eval specs."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from stepladder.cli.app import command, stderr


class SchemaKind(StrEnum):
    """Which document the schema describes."""

    flow = "flow"
    settings = "settings"
    eval = "eval"


def json_schema(kind: SchemaKind) -> dict[str, Any]:
    """The JSON Schema of flow files, of `stepladder.yaml` or of eval specs."""
    from stepladder.config import Settings  # lazy: keeps --help fast
    from stepladder.evalsets import EvalSpec  # lazy: keeps --help fast
    from stepladder.flows import FlowSpec  # lazy: keeps --help fast

    models: dict[SchemaKind, type[BaseModel]] = {
        SchemaKind.flow: FlowSpec,
        SchemaKind.settings: Settings,
        SchemaKind.eval: EvalSpec,
    }
    model = models[kind]
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@command()
def schema(
    kind: Annotated[
        SchemaKind, typer.Option("--kind", help="flow, settings or eval.")
    ] = SchemaKind.flow,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Write the JSON Schema editors use to complete and check flow files (or settings, evals)."""
    text = json.dumps(json_schema(kind), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    stderr.print(f"wrote {output}")
