"""The `stepladder` command line: one module per command."""

from stepladder.cli import graph, init, models, run, schema, validate
from stepladder.cli.app import app, main

__all__ = ["app", "graph", "init", "main", "models", "run", "schema", "validate"]
