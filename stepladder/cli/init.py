"""`stepladder init DIR`: scaffold a project with a flow that runs."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stepladder.cli.app import command
from stepladder.cli.schema import SchemaKind, json_schema
from stepladder.errors import ConfigError

console = Console(highlight=False)
RENAMED = {"gitignore.txt": ".gitignore"}


@command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
) -> None:
    """Create a project: stepladder.yaml, flows/, prompts/, evalsets/ and a flow that runs."""
    from stepladder.config import CONFIG_FILE  # lazy: keeps --help fast

    if (directory / CONFIG_FILE).exists():
        raise ConfigError(f"{directory / CONFIG_FILE} already exists; init will not overwrite it.")
    directory.mkdir(parents=True, exist_ok=True)
    scaffold = resources.files("stepladder.cli") / "scaffold"
    with resources.as_file(scaffold) as source:
        for file in sorted(source.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts:
                continue
            relative = file.relative_to(source)
            target = directory / relative.parent / RENAMED.get(relative.name, relative.name)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
    config = directory / CONFIG_FILE
    project_name = name or directory.resolve().name
    config.write_text(
        config.read_text(encoding="utf-8").replace("my-project", project_name), encoding="utf-8"
    )
    schema_file = directory / "flow.schema.json"
    schema_file.write_text(json.dumps(json_schema(SchemaKind.flow), indent=2) + "\n")
    console.print(f"[green]created[/] project '{project_name}' in {directory}")
    console.print(f"  cd {directory} && stepladder run hello --input @inputs/hello.json")
    console.print(f"  cd {directory} && stepladder run sentiment --input @inputs/sentiment.json")
