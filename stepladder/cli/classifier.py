"""`stepladder classifier train|predict|list`: embedding classifiers, the cheapest tier."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stepladder.cli.app import app, command_in
from stepladder.cli.common import project_for
from stepladder.errors import ConfigError, UserError
from stepladder.wording import plural

classifier_app = typer.Typer(
    help="Train and try embedding classifiers (labels decided in milliseconds, no LLM).",
    no_args_is_help=True,
)

app.add_typer(classifier_app, name="classifier")
console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


@command_in(classifier_app, "train")
def train(
    name: Annotated[str, typer.Argument(help="The classifier's name (flows refer to it).")],
    data: Annotated[Path, typer.Argument(help="Labelled examples: JSONL, JSON or CSV.")],
    text_field: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_field: Annotated[str, typer.Option(help="Column holding the label.")] = "label",
    delimiter: Annotated[
        str | None,
        typer.Option(
            help="Column separator of CSV files: one character, or `tab` (default: sniffed "
            "from the file's first lines)."
        ),
    ] = None,
    validation: Annotated[
        Path | None,
        typer.Option(help="Validation examples (default: 10% of DATA held out, seeded)."),
    ] = None,
    oos_label: Annotated[
        str, typer.Option(help="Label that marks out-of-scope examples in the data.")
    ] = "oos",
    fallback: Annotated[
        str | None,
        typer.Option(help="Label for requests it does not recognise (default: --oos-label)."),
    ] = None,
    max_rejection: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.5,
            help="Without out-of-scope validation examples: share of in-scope ones to reject.",
        ),
    ] = 0.005,
) -> None:
    """Train a classifier from labelled examples and save it as the next version of NAME."""
    from stepladder.predictors.classifier.data import read_examples  # lazy: keeps --help fast
    from stepladder.predictors.classifier.model import save_classifier  # lazy: keeps --help fast
    from stepladder.predictors.classifier.train import (
        TrainOptions,
        train_classifier,
    )  # lazy: keeps --help fast

    project = project_for()
    examples = read_examples(data, text_field, label_field, delimiter)
    held_out = read_examples(validation, text_field, label_field, delimiter) if validation else None
    report = train_classifier(
        name,
        examples,
        project.settings.embeddings,
        validation=held_out,
        options=TrainOptions(oos_label=oos_label, fallback=fallback, max_rejection=max_rejection),
        cache_dir=project.state_dir / "cache" / "embeddings",
        console=stderr,
    )
    folder = save_classifier(report.classifier, project.state_dir)
    manifest = report.classifier.manifest
    table = Table(title=f"{name}@v{manifest.version}: validation ({manifest.threshold.rule})")
    for column in ("measure", "value"):
        table.add_column(column)
    for key, value in report.metrics.items():
        table.add_row(key, "-" if value is None else str(value))
    threshold = manifest.threshold
    table.add_row(f"threshold on {threshold.on}", f"{threshold.value:.4f}")
    table.add_row("seconds", _seconds(report.seconds))
    console.print(table)
    console.print(
        f"[green]saved[/] {name}@v{manifest.version} ({plural(len(manifest.labels), 'label')}, "
        f"fallback '{manifest.fallback}') to {_shown(folder, project.root)}"
    )


@command_in(classifier_app, "predict")
def predict(
    name: Annotated[str, typer.Argument(help="A classifier: NAME, NAME@vN, or a folder.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Text(s) to classify.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Texts to classify from a file: JSONL (a string, or an object with "
            "--text-field, per line) or plain text, one per line.",
        ),
    ] = None,
    text_field: Annotated[str, typer.Option(help="Key of the text in JSONL objects.")] = "text",
) -> None:
    """Label texts with a trained classifier; prints label, confidence and text."""
    from stepladder.predictors.classifier.data import read_texts  # lazy: keeps --help fast

    texts = [*(texts or []), *(read_texts(file, text_field) if file is not None else [])]
    if not texts:
        raise UserError("nothing to classify: give texts as arguments, or a file with --file.")
    from stepladder.predictors.classifier.model import (
        classifier_path,
        load_classifier,
    )  # lazy: keeps --help fast

    project = project_for()
    started = time.perf_counter()
    classifier = load_classifier(classifier_path(name, project.state_dir))
    classifier.predict(["warm up"])  # load the embedding model outside the timing
    loaded = time.perf_counter() - started
    result = classifier.predict_timed(texts)
    for text, item in zip(texts, result.items, strict=True):
        typer.echo(f"{item.label}\t{item.confidence:.4f}\t{text}")
    total = (result.embed_seconds + result.decide_seconds) * 1000
    stderr.print(
        f"decided {plural(len(texts), 'text')} in {total:.1f} ms (embedding "
        f"{result.embed_seconds * 1000:.1f} ms, deciding {result.decide_seconds * 1000:.2f} ms); "
        f"loading took {loaded:.2f} s"
    )


@command_in(classifier_app, "list")
def list_classifiers() -> None:
    """Show the project's classifiers and their newest versions."""
    from stepladder.predictors.classifier.model import (  # lazy: keeps --help fast
        CLASSIFIERS,
        classifier_path,
        classifiers_dir,
        read_manifest,
    )

    project = project_for()
    home = classifiers_dir(project.state_dir)
    table = Table(title=f"classifiers in {_shown(home, project.root)}")
    for column in ("name", "labels", "fallback", "accuracy", "oos recall", "embedding", "created"):
        table.add_column(column)
    for name in CLASSIFIERS.names(project.state_dir):
        try:
            manifest = read_manifest(classifier_path(name, project.state_dir))
        except ConfigError:  # a folder that is not a classifier
            continue
        metrics = manifest.metrics
        table.add_row(
            f"{manifest.name}@v{manifest.version}",
            str(len(manifest.labels)),
            manifest.fallback,
            str(metrics.get("accuracy", "-")),
            str(metrics.get("oos_recall") if metrics.get("oos_recall") is not None else "-"),
            manifest.embedding.name,
            manifest.created,
        )
    console.print(table)


def _seconds(seconds: dict[str, float]) -> str:
    return ", ".join(f"{step} {value:.2f}" for step, value in seconds.items())


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
