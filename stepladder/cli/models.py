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


@command_in(models_app, "bench")
def bench(
    tier: Annotated[str, typer.Argument(help="A self-hosted tier of stepladder.yaml, e.g. small.")],
    requests: Annotated[int, typer.Option(min=1, help="Requests per round.")] = 4,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Requests in flight (default: llamacpp's slots, else 8)."),
    ] = None,
    prompt_words: Annotated[int, typer.Option(min=10, help="Words per long prompt.")] = 300,
    completion_tokens: Annotated[
        int, typer.Option(min=8, help="Tokens asked per completion.")
    ] = 128,
) -> None:
    """Measure a tier's tokens/s and write it to the project's price table (prices.yaml).

    Self-hosted calls are then priced from their tokens at this throughput and the machine's
    hourly price, never from their wall time, so load does not move their cost.
    """
    # Lazy, like every runtime import here: `stepladder --help` must not load the runtimes.
    from stepladder.config.price_table import per_million, write_measured
    from stepladder.runtimes.bench import bench_tier  # lazy: see above

    project = project_for()
    console.print(f"measuring tier {tier} ({requests} requests per round)...")
    entry, result = bench_tier(
        project, tier, requests=requests, concurrency=concurrency,
        prompt_words=prompt_words, completion_tokens=completion_tokens,
    )  # fmt: skip
    path = write_measured(project.root, tier, entry)
    prompt_usd, completion_usd = per_million(entry)
    table = Table(title=f"tier {tier}: {entry.model} ({entry.runtime}), {entry.machine}")
    for column in ("", "tokens", "seconds", "tokens/s", "USD per million"):
        table.add_column(column, justify="right")
    rows = (
        ("prompt", result.prompt_tokens, result.prompt_seconds,
         entry.prompt_tokens_per_second, prompt_usd),
        ("completion", result.completion_tokens, result.completion_seconds,
         entry.completion_tokens_per_second, completion_usd),
    )  # fmt: skip
    for label, tokens, seconds, rate, usd in rows:
        table.add_row(label, str(tokens), f"{seconds:.2f}", f"{rate:.1f}", f"${usd:.4g}")
    console.print(table)
    console.print(
        f"[green]ok[/] {path}: tier {tier} at ${entry.usd_per_hour:g}/h, "
        f"{entry.concurrency} request(s) in flight"
    )
