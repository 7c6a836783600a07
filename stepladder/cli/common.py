"""Helpers the commands share: finding the project, loading flows, printing JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic_core import to_jsonable_python

from stepladder.cli.app import options
from stepladder.errors import UserError

if TYPE_CHECKING:
    from stepladder.config import Project
    from stepladder.flows import Flow

__all__ = [
    "AdapterOption",
    "UseCompiled",
    "adapters_by_node",
    "load_compiled_flow",
    "print_json",
    "project_for",
]

UseCompiled = Annotated[
    bool,
    typer.Option(
        "--compiled/--no-compiled",
        help="Load the flow's optimized prompts (prompts/compiled/<flow>.json) if any.",
    ),
]

AdapterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--adapter",
        help="NODE=ADAPTER: run the node on a LoRA adapter (NAME, NAME@vN or a folder) "
        "instead of its own `adapter:`; repeat for several nodes.",
    ),
]


def adapters_by_node(values: list[str] | None) -> dict[str, str] | None:
    """`--adapter NODE=ADAPTER` values as a mapping (None when none were given).

    Raises:
        UserError: For a value that is not NODE=ADAPTER, or a node given twice.
    """
    adapters: dict[str, str] = {}
    for value in values or []:
        node, sep, adapter = (part.strip() for part in value.partition("="))
        if not sep or not node or not adapter:
            raise UserError(f"--adapter {value}: expected NODE=ADAPTER (e.g. classify=support@v1).")
        if node in adapters:
            raise UserError(f"--adapter: node '{node}' is given twice.")
        adapters[node] = adapter
    return adapters or None


def project_for(flow_argument: str | None = None) -> Project:
    """The project named by `--project`, else the one holding the flow file, else the cwd's."""
    from stepladder.config import load_project  # lazy: keeps --help fast

    if options.project is not None:
        return load_project(root=options.project)
    if flow_argument is not None:
        file = Path(flow_argument)
        if file.is_file():
            return load_project(start=file.parent)
    return load_project()


def load_compiled_flow(
    flow_argument: str, *, prompts: bool = True, adapters: Mapping[str, str] | None = None
) -> tuple[Project, Flow]:
    """Find, load and compile a flow given by name or path (with its optimized prompts).

    Args:
        flow_argument: The flow's name or file.
        prompts: Load its optimized prompts.
        adapters: LoRA adapters by node id, replacing the nodes' own (`--adapter`).
    """
    from stepladder.flows import compile_project_flow  # lazy: keeps --help fast

    project = project_for(flow_argument)
    flow = compile_project_flow(project, flow_argument, compiled=prompts, adapters=adapters)
    return project, flow


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
