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

Building the node reads no file. When a run starts, the classifier's manifest is read, to
check that it exists and that its labels (and fallback) are the node's `labels` when given;
the weights and the embedding model load at the first call, once per process. The node's
reads are joined into one text (one line each); an empty text gets the fallback label.

With `escalate:` the classifier is the first rung of the node's ladder: when its confidence
is below `min_confidence` (or a verifier refuses its label), a model tier is asked for one of
the same labels, then the next rung, up to a human reviewer. A request the classifier does not
recognise then counts as confidence 0 (it goes up the ladder rather than getting the fallback
label), so `labels` need not hold the fallback.

This module holds the classifier's side; `stepladder.nodes.classify` wires it into the node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stepladder.errors import FlowCompileError
from stepladder.nodes.artifacts import ArtifactRef, Artifacts
from stepladder.nodes.base import BuildContext, State
from stepladder.nodes.llm.answers import ModelAnswer
from stepladder.nodes.llm.call import LLMCall
from stepladder.nodes.llm.escalation import EMBEDDINGS
from stepladder.predictors.classifier.manifest import ClassifierManifest

__all__ = ["ClassifierRung", "check_labels", "classifier_ref"]


def classifier_ref(reference: str) -> ArtifactRef:
    """The artifact a node's `classifier:` names."""
    return ArtifactRef("classifier", reference, field="classifier")


@dataclass(frozen=True)
class ClassifierRung:
    """A classify node's classifier, as its manifest (read when the run started) has it.

    Attributes:
        ref: The classifier.
        reads: The state keys whose text it classifies.
        output: The state key of the label.
        fallback: The label for an empty text or a request it does not recognise.
        labels: The labels the node's ladder answers (escalating nodes only).
        call: The model call of the rungs above it (escalating nodes only).
    """

    ref: ArtifactRef
    reads: tuple[str, ...]
    output: str
    fallback: str
    labels: tuple[str, ...] = ()
    call: LLMCall | None = None

    def classify(self, state: State, artifacts: Artifacts) -> tuple[str, float]:
        """The label of the node's reads and the classifier's confidence in it."""
        text = "\n".join(str(state[k]) for k in self.reads if state.get(k) is not None).strip()
        if not text:
            return self.fallback, 1.0
        item = artifacts.classifier(self.ref).predict_timed([text], self.fallback).items[0]
        return item.label, item.confidence

    def first_rung(self, state: State, artifacts: Artifacts) -> ModelAnswer:
        """The answer of the `embeddings` rung; a request it does not know gets confidence 0."""
        label, confidence = self.classify(state, artifacts)
        if label == self.fallback and label not in self.labels:  # not recognised: go up
            confidence = 0.0
        return ModelAnswer({self.output: label}, None, 1, EMBEDDINGS, confidence)


def check_labels(
    declared: Iterable[str] | None,
    manifest: ClassifierManifest,
    fallback: str | None,
    context: BuildContext,
) -> None:
    """The node's `labels` must be what the classifier answers (its fallback too, if given).

    Raises:
        FlowCompileError: Naming the labels either side lacks.
    """
    if declared is None:
        return
    produced = {*manifest.labels, *([fallback] if fallback is not None else [])}
    given = set(declared)
    if produced == given:
        return
    problems = []
    if missing := sorted(produced - given):
        problems.append(f"it can answer {', '.join(missing)}, which `labels` lacks")
    if extra := sorted(given - produced):
        problems.append(f"it never answers {', '.join(extra)}")
    raise FlowCompileError(
        f"{context.where('labels')}: the labels do not match classifier "
        f"'{manifest.name}@v{manifest.version}': {'; '.join(problems)}. Its labels: "
        f"{', '.join(manifest.labels)}; fallback: {fallback or manifest.fallback}. Drop "
        "`labels` to take them from the classifier, or retrain it."
    )
