"""The `stepladder` command line: one module per command."""

from stepladder.cli import (
    classifier,
    graph,
    ingest,
    init,
    models,
    run,
    schema,
    traces,
    validate,
)
from stepladder.cli.app import app, main

__all__ = [
    "app",
    "classifier",
    "graph",
    "ingest",
    "init",
    "main",
    "models",
    "run",
    "schema",
    "traces",
    "validate",
]
