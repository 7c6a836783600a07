"""The `stepladder` command line: one module per command."""

from stepladder.cli import (
    classifier,
    eval,
    graph,
    ingest,
    init,
    models,
    optimize,
    review,
    router,
    run,
    schema,
    traces,
    validate,
)
from stepladder.cli.app import app, main

__all__ = [
    "app",
    "classifier",
    "eval",
    "graph",
    "ingest",
    "init",
    "main",
    "models",
    "optimize",
    "review",
    "router",
    "run",
    "schema",
    "traces",
    "validate",
]
