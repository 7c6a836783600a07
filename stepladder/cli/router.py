"""`stepladder router train|calibrate|list`: routers that pick the tier before generation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import project_for
from stepladder.config import Project
from stepladder.errors import ConfigError, UserError
from stepladder.evalsets.results import MANIFEST_FILE, load_run
from stepladder.evalsets.runner import evals_dir
from stepladder.nodes.llm.escalation import EMBEDDINGS
from stepladder.optimize.router_data import load_training_data
from stepladder.predictors.router import (
    CalibrationRecord,
    FitOptions,
    Router,
    calibrate_router,
    list_routers,
    load_router,
    read_router_manifest,
    router_path,
    save_router,
    write_router_manifest,
)
from stepladder.predictors.router.manifest import RouterManifest, RouterTraining
from stepladder.predictors.router.plots import calibration_html, calibration_png
from stepladder.predictors.router.router import held_out_text
from stepladder.runtimes.prices import TokenPricer, lookup_token_price

__all__ = ["router_app"]

router_app = typer.Typer(
    help="Train and calibrate routers: which tier should answer, decided from embeddings.",
    no_args_is_help=True,
)
app.add_typer(router_app, name="router")
console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)
FOLDS = 5


@command_in(router_app, "train")
def train(
    name: Annotated[str, typer.Argument(help="The router's name (route nodes refer to it).")],
    run: Annotated[
        list[str],
        typer.Option(
            help="TIER=RUN_ID, or RUN_ID of a run made with `eval --tier`: the same eval run "
            "once per tier, cheapest tier first."
        ),
    ],
    metric: Annotated[str, typer.Option(help="The eval metric read as correctness.")],
    kind: Annotated[str, typer.Option(help="logistic, knn or ensemble.")] = "logistic",
    field: Annotated[
        list[str] | None,
        typer.Option(help="Input field(s) joined into the text (default: all inputs)."),
    ] = None,
) -> None:
    """Train a router on eval runs and save it as the next version of NAME."""
    if kind not in ("logistic", "knn", "ensemble"):
        raise UserError(f"--kind {kind}: choose logistic, knn or ensemble.")
    project = project_for()
    runs = _pairs([_with_tier(value, project) for value in run], "--run", "TIER=RUN_ID")
    data = load_training_data(project, runs, metric, field or None)
    training = RouterTraining(
        source=f"eval {data.eval_name}",
        metric=metric,
        examples=len(data.ids),
        tiers=data.tiers,
        held_out=held_out_text(FOLDS),
        seconds={},
    )
    router = Router.train(
        data.texts, data.correct, kind, name=name, ids=data.ids,  # type: ignore[arg-type]
        settings=project.settings.embeddings, options=FitOptions(), held_out_folds=FOLDS,
        training=training, cache_dir=project.state_dir / "cache" / "embeddings", console=stderr,
    )  # fmt: skip
    folder = save_router(router, project.state_dir)
    _show_training(router.manifest)
    console.print(
        f"[green]saved[/] {name}@v{router.manifest.version} to {_shown(folder, project.root)}; "
        f"next: stepladder router calibrate {name} --target-quality 0.95"
    )


@command_in(router_app, "calibrate")
def calibrate(
    name: Annotated[str, typer.Argument(help="A router: NAME, NAME@vN, or a folder.")],
    target_quality: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Lower bound of quality / best tier's quality."),
    ] = 0.95,
    price: Annotated[
        list[str] | None,
        typer.Option(help="TIER=USD_PER_CALL (default: recorded costs, else the price table)."),
    ] = None,
) -> None:
    """Choose the router's thresholds for a quality target on held-out predictions."""
    project = project_for()
    folder = router_path(name, project.state_dir)
    router = load_router(folder)
    given = {t: _usd(v, t) for t, v in _pairs(price or [], "--price", "TIER=USD").items()}
    prices = {t: given.get(t) or _default_price(project, router.manifest, t) for t in router.tiers}
    record = calibrate_router(router, prices, target_quality)
    manifest = router.manifest.model_copy(update={"calibration": record})
    write_router_manifest(folder, manifest)
    title = f"router {manifest.name}@v{manifest.version}: cost and quality"
    png = calibration_png(record, folder / "calibration.png", title)
    html = folder / "calibration.html"
    html.write_text(calibration_html(record, title), encoding="utf-8")
    _show_calibration(record)
    console.print(
        f"[green]calibrated[/] {manifest.name}@v{manifest.version}; curve: "
        f"{_shown(png, project.root)}, {_shown(html, project.root)}"
    )


@command_in(router_app, "list")
def list_command() -> None:
    """Show the project's routers, newest versions."""
    project = project_for()
    table = Table(title="routers")
    table.add_column("name", no_wrap=True)
    for column in ("tiers", "kind", "examples", "thresholds", "embedding", "created"):
        table.add_column(column)
    for name in list_routers(project.state_dir):
        manifest = read_router_manifest(router_path(name, project.state_dir))
        calibration = manifest.calibration
        table.add_row(
            f"{manifest.name}@v{manifest.version}",
            ", ".join(manifest.tiers),
            manifest.model.kind,
            str(manifest.training.examples),
            "-" if calibration is None else _thresholds(calibration),
            manifest.embedding.name,
            manifest.created,
        )
    console.print(table)


def _with_tier(value: str, project: Project) -> str:
    """`value` as TIER=RUN_ID, the tier read from the run when it was made with `--tier`."""
    if "=" in value:
        return value
    folder = evals_dir(project) / value.strip()
    if not (folder / MANIFEST_FILE).is_file():
        raise UserError(f"--run {value}: no such eval run under {evals_dir(project)}.")
    tier = load_run(folder).manifest.tier
    if tier is None:
        raise UserError(
            f"--run {value}: that run used each node's own tier; give it as TIER={value}, or "
            "make one run per tier with `stepladder eval SPEC --tier TIER`."
        )
    return f"{tier}={value.strip()}"


def _pairs(values: list[str], option: str, form: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise UserError(f"{option} {value}: expected {form}.")
        if key.strip() in out:
            raise UserError(f"{option}: tier '{key.strip()}' is given twice.")
        out[key.strip()] = rest.strip()
    return out


def _usd(value: str, tier: str) -> float:
    try:
        usd = float(value)
    except ValueError:
        raise UserError(
            f"--price {tier}={value}: the price must be a number (USD per call)."
        ) from None
    if usd < 0:
        raise UserError(f"--price {tier}={value}: a price cannot be negative.")
    return usd


def _default_price(project: Project, manifest: RouterManifest, tier: str) -> float:
    """The tier's recorded mean cost per case, else its model's token price at the mean tokens."""
    record = manifest.training.tiers.get(tier)
    if record is not None and (record.cost_usd_per_call > 0 or tier == EMBEDDINGS):
        return record.cost_usd_per_call  # an embedding classifier calls no model
    settings = project.settings.tiers.get(tier)
    model = getattr(settings, "model", None)
    if record is not None and isinstance(model, str) and record.input_tokens > 0:
        token_price = lookup_token_price(model, project.settings.prices)
        if token_price is not None:
            call = TokenPricer(token_price).price(
                round(record.input_tokens), round(record.output_tokens), 0, 0.0, 0.0
            )
            return call.usd
    raise ConfigError(
        f"no price known for tier '{tier}' (its eval run recorded no cost and its model has no "
        f"token price); pass --price {tier}=USD_PER_CALL."
    )


def _show_training(manifest: RouterManifest) -> None:
    table = Table(title=f"{manifest.name}@v{manifest.version}: {manifest.training.source}")
    for column in ("tier", "run", "quality", "cost per call"):
        table.add_column(column)
    for tier, record in manifest.training.tiers.items():
        cost = f"${record.cost_usd_per_call:.6f}"
        table.add_row(tier, record.run_id or "-", f"{record.quality:.3f}", cost)
    console.print(table)
    model = manifest.model
    values = (("k", model.k), ("l2", model.l2), ("words C", model.lexical_c))
    chosen = ", ".join(f"{k} {v}" for k, v in values if v is not None)
    if model.lexical_weight > 0:
        chosen += f", words weight {model.lexical_weight:g}"
    console.print(
        f"{model.kind} on {manifest.embedding.name} + {len(model.text_features)} text features "
        f"({chosen or 'defaults'}); {manifest.training.examples} cases; held-out predictions: "
        f"{manifest.training.held_out}"
    )


def _show_calibration(record: CalibrationRecord) -> None:
    chosen = record.chosen
    status = "met" if record.met else "[red]not met[/]: everything goes to the last tier"
    console.print(
        f"target: lower bound of quality / {record.best_tier} >= "
        f"{record.target_quality:g} ({status})"
    )
    console.print(f"thresholds: {_thresholds(record)}")
    console.print(
        "routed: "
        + ", ".join(f"{t} {s:.1%}" for t, s in chosen.shares.items())
        + f"; quality {chosen.quality:.4f} (x{chosen.quality_ratio:.4f} of {record.best_tier}, "
        f"95% lower bound x{chosen.ratio_lower_bound:.4f}); "
        f"${chosen.cost_usd_per_call:.6f} per call"
    )


def _thresholds(record: CalibrationRecord) -> str:
    return ", ".join(f"{t} >= {v:.4f}" for t, v in record.thresholds.items())


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
