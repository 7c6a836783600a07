"""`classify` with `using: embeddings`: a trained embedding classifier decides, no LLM.

```yaml
- id: intent
  kind: classify
  using: embeddings
  classifier: support_intents      # stepladder classifier train support_intents data.jsonl
  reads: [message]
  output: intent
  confidence: intent_confidence    # calibrated probability that the label is right
  fallback: UNKNOWN                # for requests the classifier does not recognise
```

Building the node reads only the classifier's manifest, to check that it exists and that its
labels (and fallback) are the node's `labels` when given. The weights and the embedding model
load at the first run, once per process. The node's reads are joined into one text (one line
each); an empty text gets the fallback label.

With `escalate:` the classifier is the first rung of the node's ladder: when its confidence
is below `min_confidence` (or a verifier refuses its label), a model tier is asked for one of
the same labels, then the next rung, up to a human reviewer. A request the classifier does not
recognise then counts as confidence 0 (it goes up the ladder rather than getting the fallback
label), so `labels` need not hold the fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepladder.config.artifacts import lookup_state_dir
from stepladder.errors import ConfigError, FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.retrieval.classifier import classifier_path, load_classifier, read_manifest
from stepladder.retrieval.classifier_manifest import ClassifierManifest

if TYPE_CHECKING:
    from stepladder.nodes.classify import ClassifyNodeSpec

__all__ = ["build_embedding_classify"]


def build_embedding_classify(node: ClassifyNodeSpec, context: BuildContext) -> BuiltNode:
    """Check the classifier against the node and return a node that runs it lazily."""
    folder = _locate(node, context)
    try:
        manifest = read_manifest(folder)
    except ConfigError as error:
        raise FlowCompileError(f"{context.where('classifier')}: {error}") from None
    fallback = node.fallback or manifest.fallback
    from stepladder.nodes.escalation import EMBEDDINGS

    escalates = node.escalate is not None and node.escalate.threshold(EMBEDDINGS) is not None
    _check_labels(node, manifest, None if escalates else fallback, context)
    produced = [*manifest.labels, fallback]
    if escalates:  # an unrecognised request goes up the ladder, which answers `labels`
        labels = node.label_names or produced
        node.check_output_enum(context, labels, fallback if fallback in labels else None)
    else:
        node.check_output_enum(context, manifest.labels, fallback)

    def classify(state: State) -> tuple[str, float]:
        text = "\n".join(str(state[k]) for k in node.reads if state.get(k) is not None).strip()
        if not text:
            return fallback, 1.0
        item = load_classifier(folder).predict_timed([text], fallback).items[0]
        return item.label, item.confidence

    def decide(state: State) -> dict[str, Any]:
        label, confidence = classify(state)
        update: dict[str, Any] = {node.output: label}
        if node.confidence is not None:
            update[node.confidence] = confidence
        return update

    if node.escalate is not None:
        return _escalating(node, context, produced, fallback, classify)

    def run_sync(state: State, runtime: Any) -> dict[str, Any]:
        return decide(state)

    async def run(state: State, runtime: Any) -> dict[str, Any]:
        return await asyncio.to_thread(decide, state)

    return BuiltNode(afunc=run, func=run_sync)


def _escalating(
    node: ClassifyNodeSpec,
    context: BuildContext,
    produced: list[str],
    fallback: str,
    classify: Callable[[State], tuple[str, float]],
) -> BuiltNode:
    """The classifier as the first rung of the node's ladder, model tiers above it."""
    from stepladder.nodes.climb import climb
    from stepladder.nodes.escalation import EMBEDDINGS
    from stepladder.nodes.llm import ModelAnswer

    labels = node.label_names or list(dict.fromkeys(produced))
    call = node.model_call(context, labels)

    async def run(state: State, runtime: Any) -> dict[str, Any]:
        async def first() -> ModelAnswer:
            label, confidence = await asyncio.to_thread(classify, state)
            if label == fallback and label not in labels:  # not recognised: ask the next rung
                confidence = 0.0
            return ModelAnswer({node.output: label}, None, 1, EMBEDDINGS, confidence)

        return node.update(await climb(call, state, runtime, first=first))

    return BuiltNode(afunc=run)


def _locate(node: ClassifyNodeSpec, context: BuildContext) -> Path:
    assert node.classifier is not None
    root = getattr(context.resolver, "project_root", None)
    try:
        state_dir = lookup_state_dir(root, node.classifier, "classifier")
        return classifier_path(node.classifier, state_dir)
    except ConfigError as error:
        raise FlowCompileError(f"{context.where('classifier')}: {error}") from None


def _check_labels(
    node: ClassifyNodeSpec,
    manifest: ClassifierManifest,
    fallback: str | None,
    context: BuildContext,
) -> None:
    """The node's `labels` must be what the classifier answers (its fallback too, if given)."""
    if node.labels is None:
        return
    produced = {*manifest.labels, *([fallback] if fallback is not None else [])}
    declared = set(node.labels)
    if produced == declared:
        return
    problems = []
    if missing := sorted(produced - declared):
        problems.append(f"it can answer {', '.join(missing)}, which `labels` lacks")
    if extra := sorted(declared - produced):
        problems.append(f"it never answers {', '.join(extra)}")
    raise FlowCompileError(
        f"{context.where('labels')}: the labels do not match classifier "
        f"'{manifest.name}@v{manifest.version}': {'; '.join(problems)}. Its labels: "
        f"{', '.join(manifest.labels)}; fallback: {fallback or manifest.fallback}. Drop "
        "`labels` to take them from the classifier, or retrain it."
    )
