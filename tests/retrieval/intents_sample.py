"""A small real intent data set (10 Banking77 intents x 20 examples) and a classifier on it."""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path

from rich.console import Console

from stepladder.config.retrieval import EmbeddingSettings
from stepladder.predictors.classifier.data import LabelledTexts
from stepladder.predictors.classifier.train import TrainingReport, train_classifier
from stepladder.retrieval.embeddings import EmbeddingFunction, shared_embedder

# The first 30 train examples of 10 Banking77 intents (CC BY 4.0, see DATA_LICENSES.md).
BANKING = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "banking77_sample.csv"
INTENTS = (
    "activate_my_card",
    "card_arrival",
    "change_pin",
    "exchange_rate",
    "lost_or_stolen_card",
    "pending_transfer",
    "top_up_failed",
    "transfer_into_account",
    "verify_my_identity",
    "wrong_exchange_rate_for_cash_withdrawal",
)
PER_INTENT = 20
UNRELATED = [
    "What will the weather be like in Paris tomorrow?",
    "Write me a short poem about the sea.",
]


@functools.cache
def _rows() -> dict[str, list[str]]:
    by_intent: dict[str, list[str]] = {intent: [] for intent in INTENTS}
    with BANKING.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            if row["category"] in by_intent:
                by_intent[row["category"]].append(row["text"])
    return by_intent


def sample(start: int = 0, count: int = PER_INTENT) -> LabelledTexts:
    """`count` examples of each intent, from the `start`-th on (the first 20 train)."""
    pairs = [(t, i) for i, texts in _rows().items() for t in texts[start : start + count]]
    return LabelledTexts.of(pairs, "banking77 sample")


def write_jsonl(path: Path, examples: LabelledTexts) -> Path:
    """Write examples as JSONL with `text` and `label`."""
    rows = zip(examples.texts, examples.labels, strict=True)
    lines = [json.dumps({"text": text, "label": label}) for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@functools.cache
def embedder() -> EmbeddingFunction:
    """The packaged model, shared with classifiers loaded from disk (loaded once)."""
    embeddings = shared_embedder(EmbeddingSettings())
    embeddings.embed(["load the model"])
    return embeddings


@functools.cache
def trained() -> tuple[TrainingReport, str]:
    """A classifier trained on the sample, and what its training printed."""
    output = io.StringIO()
    console = Console(file=output, width=120, force_terminal=False)
    report = train_classifier("banking", sample(), embedder=embedder(), console=console)
    return report, output.getvalue()
