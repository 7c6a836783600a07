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
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepladder.errors import ConfigError, FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.retrieval.classifier import classifier_path, load_classifier, read_manifest
from stepladder.retrieval.classifier_manifest import ClassifierManifest

if TYPE_CHECKING:
    from stepladder.nodes.classify import ClassifyNodeSpec

__all__ = ["build_embedding_classify"]

DEFAULT_STATE_DIR = ".stepladder"


def build_embedding_classify(node: ClassifyNodeSpec, context: BuildContext) -> BuiltNode:
    """Check the classifier against the node and return a node that runs it lazily."""
    folder = _locate(node, context)
    try:
        manifest = read_manifest(folder)
    except ConfigError as error:
        raise FlowCompileError(f"{context.where('classifier')}: {error}") from None
    fallback = node.fallback or manifest.fallback
    _check_labels(node, manifest, fallback, context)

    def decide(state: State) -> dict[str, Any]:
        text = "\n".join(str(state[k]) for k in node.reads if state.get(k) is not None).strip()
        if text:
            item = load_classifier(folder).predict_timed([text], fallback).items[0]
            label, confidence = item.label, item.confidence
        else:
            label, confidence = fallback, 1.0
        update: dict[str, Any] = {node.output: label}
        if node.confidence is not None:
            update[node.confidence] = confidence
        return update

    def run_sync(state: State, runtime: Any) -> dict[str, Any]:
        return decide(state)

    async def run(state: State, runtime: Any) -> dict[str, Any]:
        return await asyncio.to_thread(decide, state)

    return BuiltNode(afunc=run, func=run_sync)


def _locate(node: ClassifyNodeSpec, context: BuildContext) -> Path:
    assert node.classifier is not None
    root = getattr(context.resolver, "project_root", None)
    reference = node.classifier
    if root is None and not Path(reference).is_dir():
        raise FlowCompileError(
            f"{context.where('classifier')}: '{reference}' names a project classifier, but the "
            "flow belongs to no project; compile it with project_root=..., or give the "
            "classifier's folder."
        )
    state_dir = _state_dir(Path(root)) if root is not None else Path(DEFAULT_STATE_DIR)
    try:
        return classifier_path(reference, state_dir)
    except ConfigError as error:
        raise FlowCompileError(f"{context.where('classifier')}: {error}") from None


def _state_dir(root: Path) -> Path:
    """The project's state folder (from its stepladder.yaml, else the default)."""
    from stepladder.config.settings import CONFIG_FILE, load_project

    if (root / CONFIG_FILE).is_file():
        try:
            return load_project(root=root).state_dir
        except ConfigError:
            pass
    return root / DEFAULT_STATE_DIR


def _check_labels(
    node: ClassifyNodeSpec, manifest: ClassifierManifest, fallback: str, context: BuildContext
) -> None:
    if node.labels is None:
        return
    produced = {*manifest.labels, fallback}
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
        f"{', '.join(manifest.labels)}; fallback: {fallback}. Drop `labels` to take them from "
        "the classifier, or retrain it."
    )
