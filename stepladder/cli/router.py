"""`stepladder router train|calibrate|evaluate|list`: routers pick the tier before generating."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import project_for
from stepladder.errors import ConfigError, UserError
from stepladder.wording import plural

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from stepladder.config import Project
    from stepladder.optimize.router_evaluation import RouterEvaluation
    from stepladder.predictors.router import CalibrationRecord
    from stepladder.predictors.router.manifest import RouterManifest, RouterTraining, TierRecord

__all__ = ["router_app"]

router_app = typer.Typer(
    help="Train, calibrate and evaluate routers: which tier should answer, from embeddings.",
    no_args_is_help=True,
)
app.add_typer(router_app, name="router")
console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)
FOLDS = 5
KINDS = ("ensemble", "logistic", "knn")
SELECT_BY = ("gain", "brier")
COSTS_FROM = {"file": "the file's costs", "calibration": "calibration prices"}


@command_in(router_app, "train")
def train(
    name: Annotated[str, typer.Argument(help="The router's name (route nodes refer to it).")],
    run: Annotated[
        list[str] | None,
        typer.Option(
            help="TIER=RUN_ID, or RUN_ID of a run made with `eval --tier`: the same eval run "
            "once per tier, cheapest tier first."
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="With --run: the eval metric read as correctness.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A JSONL file of prompt / quality per tier / cost per tier rows."),
    ] = None,
    kind: Annotated[str, typer.Option(help="ensemble, logistic or knn.")] = "ensemble",
    select_by: Annotated[
        str, typer.Option(help="Inner cross-validation criterion: gain or brier.")
    ] = "gain",
    field: Annotated[
        list[str] | None,
        typer.Option(help="With --run: input field(s) joined into the text (default: all)."),
    ] = None,
) -> None:
    """Train a router on eval runs (--run) or a data file (--data) as NAME's next version."""
    from stepladder.predictors.router import (
        FitOptions,
        Router,
        save_router,
    )  # lazy: keeps --help fast

    if kind not in KINDS:
        raise UserError(f"--kind {kind}: choose {', '.join(KINDS)}.")
    if select_by not in SELECT_BY:
        raise UserError(f"--select-by {select_by}: choose {', '.join(SELECT_BY)}.")
    project = project_for()
    texts, correct, ids, training = _training_data(project, run, metric, data, field)
    router = Router.train(
        texts, correct, kind, name=name, ids=ids,  # type: ignore[arg-type]
        settings=project.settings.embeddings, held_out_folds=FOLDS, training=training,
        options=FitOptions(select_by=select_by),  # type: ignore[arg-type]
        cache_dir=project.state_dir / "cache" / "embeddings", console=stderr,
    )  # fmt: skip
    folder = save_router(router, project.state_dir)
    _show_training(router.manifest)
    console.print(
        f"[green]saved[/] {name}@v{router.manifest.version} to {_shown(folder, project.root)}; "
        f"next: stepladder router calibrate {name} --target-quality 0.95"
    )


def _training_data(
    project: Project,
    run: list[str] | None,
    metric: str | None,
    data: Path | None,
    field: list[str] | None,
) -> tuple[list[str], dict[str, NDArray[np.float64]], list[str], RouterTraining]:
    """Texts, per-tier correctness, ids and the training record, from --run or --data."""
    from stepladder.optimize.router_data import load_training_data  # lazy: keeps --help fast
    from stepladder.optimize.router_file import read_router_file  # lazy: keeps --help fast

    if (data is None) == (not run):
        raise UserError(
            "give the training data once: --data FILE.jsonl, or --run TIER=RUN_ID per tier "
            "with --metric."
        )
    if data is not None:
        if metric is not None or field:
            raise UserError(
                "--metric and --field read eval runs; with --data the rows' `quality` is the "
                "correctness and `prompt` the text."
            )
        rows = read_router_file(data)
        source = f"file {data.name}"
        record = _record(source, None, len(rows.ids), rows.tier_records())
        return rows.texts, rows.quality, rows.ids, record
    if metric is None:
        raise UserError("--run needs --metric: the eval metric read as correctness.")
    runs = _pairs([_with_tier(value, project) for value in run or []], "--run", "TIER=RUN_ID")
    found = load_training_data(project, runs, metric, field or None)
    record = _record(f"eval {found.eval_name}", metric, len(found.ids), found.tiers)
    return found.texts, found.correct, found.ids, record


def _record(
    source: str, metric: str | None, examples: int, tiers: dict[str, TierRecord]
) -> RouterTraining:
    from stepladder.predictors.router.manifest import RouterTraining  # lazy: keeps --help fast
    from stepladder.predictors.router.router import held_out_text  # lazy: keeps --help fast

    return RouterTraining(
        source=source, metric=metric, examples=examples, tiers=tiers,
        held_out=held_out_text(FOLDS), seconds={},
    )  # fmt: skip


@command_in(router_app, "calibrate")
def calibrate(
    name: Annotated[str, typer.Argument(help="A router: NAME, NAME@vN, or a folder.")],
    target_quality: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Lower bound of quality / best tier's quality."),
    ] = 0.95,
    price: Annotated[
        list[str] | None,
        typer.Option(
            help="TIER=USD_PER_CALL (default: the costs recorded at training, from the eval "
            "runs or the --data file's `cost`, else the price table)."
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Promise the target on each batch of this many requests (a prediction bound, "
            "lower for smaller batches); default: on all future traffic.",
        ),
    ] = None,
) -> None:
    """Choose the router's thresholds for a quality target on held-out predictions."""
    from stepladder.predictors.router import (  # lazy: keeps --help fast
        calibrate_router,
        load_router,
        router_path,
        write_router_manifest,
    )
    from stepladder.predictors.router.plots import (
        calibration_html,
        calibration_png,
    )  # lazy: keeps --help fast

    project = project_for()
    folder = router_path(name, project.state_dir)
    router = load_router(folder)
    given = {t: _usd(v, t) for t, v in _pairs(price or [], "--price", "TIER=USD").items()}
    prices = _prices(project, router.manifest, given)
    record = calibrate_router(router, prices, target_quality, horizon=horizon)
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
    from stepladder.predictors.router import (
        list_routers,
        read_router_manifest,
        router_path,
    )  # lazy: keeps --help fast

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
    from stepladder.evalsets.run_store import eval_run_store  # lazy: keeps --help fast

    if "=" in value:
        return value
    runs = eval_run_store(project)
    manifest = runs.manifest(value.strip())
    if manifest is None:
        raise UserError(f"--run {value}: no such eval run in {runs.where}.")
    tier = manifest.tier
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


def _prices(
    project: Project, manifest: RouterManifest, given: dict[str, float]
) -> dict[str, float]:
    """Each tier's price per call: `--price`, else the recorded cost, else the price table.

    Raises:
        UserError: For a --price of a tier the router lacks.
        ConfigError: Naming every tier left without a price and where prices can come from.
    """
    unknown = [t for t in given if t not in manifest.tiers]
    if unknown:
        raise UserError(
            f"--price {unknown[0]}=...: router '{manifest.name}' has no tier '{unknown[0]}'; "
            f"its tiers: {', '.join(manifest.tiers)}."
        )
    prices = {
        t: given[t] if t in given else _default_price(project, manifest, t) for t in manifest.tiers
    }
    missing = [t for t, p in prices.items() if p is None]
    if missing:
        raise ConfigError(_no_price(manifest, missing))
    return {t: p for t, p in prices.items() if p is not None}


def _default_price(project: Project, manifest: RouterManifest, tier: str) -> float | None:
    """The tier's recorded mean cost per call, else its model's token price at the mean tokens."""
    from stepladder.nodes.llm.escalation import EMBEDDINGS  # lazy: keeps --help fast
    from stepladder.runtimes.prices import (
        TokenPricer,
        lookup_token_price,
    )  # lazy: keeps --help fast

    training = manifest.training
    record = training.tiers.get(tier)
    file_costs = training.source.startswith("file ") and any(
        r.cost_usd_per_call > 0 for r in training.tiers.values()
    )  # a data file with costs: a tier recorded at 0 is free
    if record is not None and (record.cost_usd_per_call > 0 or tier == EMBEDDINGS or file_costs):
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
    return None


def _no_price(manifest: RouterManifest, tiers: list[str]) -> str:
    """Why `tiers` have no price, naming where this router's training could have given one."""
    training = manifest.training
    named = ", ".join(f"'{t}'" for t in tiers)
    head = f"no price known for tier{'s' if len(tiers) > 1 else ''} {named}"
    flags = " ".join(f"--price {t}=USD_PER_CALL" for t in tiers)
    if training.source.startswith("file "):
        why = f"the training file {training.source[5:]} gave no `cost` per tier"
    elif any(r.run_id for r in training.tiers.values()):
        why = "its eval run recorded no cost and its model has no token price"
    else:
        why = f"router '{manifest.name}' was trained from examples in Python, which record no cost"
    return (
        f"{head} ({why}); pass {flags}, or train the router with "
        "`stepladder router train NAME --data FILE.jsonl` on rows that give `cost` per tier."
    )


@command_in(router_app, "evaluate")
def evaluate(
    name: Annotated[str, typer.Argument(help="A router: NAME, NAME@vN, or a folder.")],
    data: Annotated[
        Path, typer.Option(help="A JSONL file of prompt / quality / cost rows (as for train).")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Score a calibrated router on a data file: APGR, CPT, and its operating point."""
    from stepladder.optimize.router_evaluation import evaluate_on_file  # lazy: keeps --help fast
    from stepladder.optimize.router_file import read_router_file  # lazy: keeps --help fast
    from stepladder.predictors.router import load_router, router_path  # lazy: keeps --help fast

    project = project_for()
    router = load_router(router_path(name, project.state_dir))
    result = evaluate_on_file(router, read_router_file(data))
    if json_output:
        typer.echo(json.dumps(result.as_json()))
    else:
        _show_evaluation(result)
    if result.seen_in_training:
        stderr.print(
            f"[yellow]note[/]: {result.seen_in_training} of {result.examples} rows have the ids "
            "of training examples; their scores are optimistic."
        )


def _show_evaluation(result: RouterEvaluation) -> None:
    def number(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    table = Table(title=f"router {result.router} on {plural(result.examples, 'row')}")
    table.add_column("measure")
    table.add_column("value")
    pair = f"{result.cheapest} vs {result.strongest}"
    table.add_row(f"APGR ({pair})", number(result.apgr, ".3f"))
    table.add_row(f"CPT(50%): calls to {result.strongest}", number(result.cpt50, ".1%"))
    table.add_row(f"CPT(80%): calls to {result.strongest}", number(result.cpt80, ".1%"))
    table.add_row(f"quality / {result.strongest}'s", number(result.quality_ratio, ".4f"))
    table.add_row("share", ", ".join(f"{t} {s:.1%}" for t, s in result.share.items()))
    table.add_row(
        f"cost / always {result.strongest} ({COSTS_FROM[result.costs_from]})",
        f"{number(result.cost_ratio, '.4f')} (${result.cost_usd_per_call:.6f} vs "
        f"${result.strongest_cost_usd_per_call:.6f} per call)",
    )
    table.add_row("tier quality", ", ".join(f"{t} {q:.3f}" for t, q in result.tier_quality.items()))
    console.print(table)


def _show_training(manifest: RouterManifest) -> None:
    table = Table(title=f"{manifest.name}@v{manifest.version}: {manifest.training.source}")
    for column in ("tier", "run", "quality", "cost per call"):
        table.add_column(column)
    costs = any(r.cost_usd_per_call > 0 for r in manifest.training.tiers.values())
    for tier, record in manifest.training.tiers.items():
        cost = f"${record.cost_usd_per_call:.6f}" if costs or record.run_id else "-"
        table.add_row(tier, record.run_id or "-", f"{record.quality:.3f}", cost)
    console.print(table)
    model = manifest.model
    values = (("k", model.k), ("l2", model.l2), ("words C", model.lexical_c))
    chosen = ", ".join(f"{k} {v}" for k, v in values if v is not None)
    if model.lexical_weight > 0:
        chosen += f", words weight {model.lexical_weight:g}"
    console.print(
        f"{model.kind} on {manifest.embedding.name} + {len(model.text_features)} text features "
        f"({chosen or 'defaults'}); {plural(manifest.training.examples, 'case')}; held-out "
        f"predictions: {manifest.training.held_out}"
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
        f"95% lower bound x{chosen.ratio_lower_bound:.4f}"
        + ("" if record.horizon is None else f" on each batch of {record.horizon} requests")
        + f"); ${chosen.cost_usd_per_call:.6f} per call"
    )


def _thresholds(record: CalibrationRecord) -> str:
    return ", ".join(f"{t} >= {v:.4f}" for t, v in record.thresholds.items())


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
