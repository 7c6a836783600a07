"""`stepladder models pull NAME` and `stepladder models list`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import project_for
from stepladder.errors import ConfigError

models_app = typer.Typer(
    help="Fetch and list models for the embedded runtime.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
console = Console(highlight=False)


@command_in(models_app, "pull")
def pull(
    name: Annotated[str, typer.Argument(help="A known model, e.g. smollm2-135m.")],
    force: Annotated[bool, typer.Option(help="Fetch again even if cached.")] = False,
) -> None:
    """Put a model in the cache ($STEPLADDER_HOME/models), checking its sha256."""
    from stepladder.runtimes.models import pull_model  # lazy: keeps --help fast

    path = pull_model(name, force=force)
    console.print(f"[green]ok[/] {name}: {path}")


@command_in(models_app, "list")
def list_models() -> None:
    """Show known models, whether they are cached, and the project's tiers."""
    from stepladder.runtimes.models import cached_models, models_home  # lazy: keeps --help fast

    table = Table(title=f"models in {models_home()}")
    for column in ("model", "cached", "path", "about"):
        table.add_column(column)
    for entry, path in cached_models():
        table.add_row(entry.name, "yes" if path else "no", str(path or "-"), entry.description)
    console.print(table)
    try:
        project = project_for()
    except ConfigError:
        return
    tiers = Table(title=f"tiers of {project.settings.name}")
    for column in ("tier", "runtime", "model"):
        tiers.add_column(column)
    for name, tier in project.settings.tiers.items():
        model = tier.model_name or getattr(tier, "base_url", None) or "-"
        tiers.add_row(name, tier.runtime, str(model))
    console.print(tiers)
