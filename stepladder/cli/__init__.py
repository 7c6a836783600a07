"""The `stepladder` command line: one module per command."""

from stepladder.cli import (
    capture,
    classifier,
    drift,
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
    serve,
    traces,
    tune,
    validate,
)
from stepladder.cli.app import app, main

__all__ = [
    "app",
    "capture",
    "classifier",
    "drift",
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
    "serve",
    "traces",
    "tune",
    "validate",
]
