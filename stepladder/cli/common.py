"""Helpers the commands share: finding the project, loading flows, printing JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python

from stepladder.cli.app import options
from stepladder.config import Project, load_project
from stepladder.flows import Flow, compile_project_flow

__all__ = ["UseCompiled", "load_compiled_flow", "print_json", "project_for"]

UseCompiled = Annotated[
    bool,
    typer.Option(
        "--compiled/--no-compiled",
        help="Load the flow's optimized prompts (prompts/compiled/<flow>.json) if any.",
    ),
]


def project_for(flow_argument: str | None = None) -> Project:
    """The project named by `--project`, else the one holding the flow file, else the cwd's."""
    if options.project is not None:
        return load_project(root=options.project)
    if flow_argument is not None:
        file = Path(flow_argument)
        if file.is_file():
            return load_project(start=file.parent)
    return load_project()


def load_compiled_flow(flow_argument: str, *, prompts: bool = True) -> tuple[Project, Flow]:
    """Find, load and compile a flow given by name or path (with its optimized prompts)."""
    project = project_for(flow_argument)
    return project, compile_project_flow(project, flow_argument, compiled=prompts)


def print_json(value: Any, *, indent: int | None = 2) -> None:
    r"""Print a value as JSON on stdout (pydantic models and the like included).

    Text stdout cannot encode (a lone surrogate such as `\ud800`, or any non-ASCII character
    on an ASCII terminal) is written as JSON `\u` escapes instead, so the value still prints.
    """
    data = to_jsonable_python(value, fallback=repr)
    try:
        sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
    except UnicodeEncodeError:  # raised before anything is written
        sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=True) + "\n")
    sys.stdout.flush()
