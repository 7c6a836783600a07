"""The `classify` node: picks one of a fixed set of labels (an enum the server enforces).

A confidence is written when asked for and the tier returns token log-probabilities: the
probability the model gave the label's tokens. Otherwise the confidence is null.

With `using: embeddings` no LLM is called: a trained embedding classifier (`classifier:`,
see `stepladder classifier train`) decides in milliseconds, and requests it does not
recognise get its fallback label (`stepladder.nodes.classify_embeddings`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import replace
from types import UnionType
from typing import Any, Literal, Self, Union, get_args, get_origin

from langgraph.runtime import Runtime
from pydantic import Field, model_validator

from stepladder.errors import FlowCompileError
from stepladder.nodes.artifacts import ArtifactRef, Artifacts
from stepladder.nodes.base import BuildContext, BuiltNode, State
from stepladder.nodes.classify_embeddings import ClassifierRung, check_labels, classifier_ref
from stepladder.nodes.context import RunContext, run_context
from stepladder.nodes.llm.answers import ModelAnswer
from stepladder.nodes.llm.call import LLMCall, LLMNodeSpec, input_fields
from stepladder.nodes.llm.climb import climb
from stepladder.nodes.llm.escalation import EMBEDDINGS
from stepladder.nodes.llm.verify import Verifier, build_verifier
from stepladder.prompts import SignatureField, build_signature, output_model
from stepladder.specs.type_expressions import enum_members, unannotated

__all__ = ["ClassifyNodeSpec", "label_confidence"]


class ClassifyNodeSpec(LLMNodeSpec):
    """A node that classifies its reads into one label."""

    kind: Literal["classify"]
    using: Literal["llm", "embeddings"] = Field(
        default="llm",
        description="llm: a model tier decides; embeddings: a trained embedding classifier "
        "decides, with no LLM call (the tier is then not used).",
    )
    labels: list[str] | dict[str, str] | None = Field(
        default=None,
        min_length=2,
        description="The labels, or labels mapped to what each means (with `using: "
        "embeddings`, optional: taken from the classifier, checked when given).",
    )
    classifier: str | None = Field(
        default=None,
        description="With `using: embeddings`: the trained classifier, as NAME (newest "
        "version), NAME@vN, or a folder.",
    )
    fallback: str | None = Field(
        default=None,
        description="With `using: embeddings`: the label for requests the classifier does "
        "not recognise (default: the classifier's own fallback label).",
    )
    output: str = Field(description="State key that receives the label.")
    confidence: str | None = Field(default=None, description="State key for the confidence.")

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("writes") and data.get("output"):
            extra = [data["confidence"]] if data.get("confidence") else []
            data = {**data, "writes": [data["output"], *extra]}
        return data

    @model_validator(mode="after")
    def _check_using(self) -> ClassifyNodeSpec:
        if self.using == "llm":
            if self.labels is None:
                raise ValueError("`labels` is required (or use `using: embeddings`)")
            given = {"classifier": self.classifier, "fallback": self.fallback}
            extra = [name for name, value in given.items() if value is not None]
            if extra:
                raise ValueError(f"`{'`, `'.join(extra)}` only apply with `using: embeddings`")
        elif self.classifier is None:
            raise ValueError(
                "`using: embeddings` needs `classifier`: the name of a classifier trained with "
                "`stepladder classifier train NAME DATA`"
            )
        elif self.signature is not None or self.demos:
            raise ValueError("`signature` and `demos` do not apply with `using: embeddings`")
        elif self.tier_from is not None and self.escalate is None:
            raise ValueError(
                "`tier_from` picks the rung a node starts on: with `using: embeddings` the "
                "ladder is the classifier and the tiers above it, so add `escalate:`"
            )
        elif self.adapter is not None and self.escalate is None:
            raise ValueError(
                "`adapter` applies to model calls: with `using: embeddings` the node calls a "
                "model only when it escalates; add `escalate:` or remove `adapter`"
            )
        return self

    def tiers(self) -> frozenset[str]:
        """The node's `tier`; none with `using: embeddings` (it may escalate to tiers)."""
        return super().tiers() if self.using == "llm" else frozenset()

    def first_rung(self) -> str | None:
        """The node's `tier`; with `using: embeddings`, `embeddings` when it escalates."""
        if self.using == "llm":
            return super().first_rung()
        return EMBEDDINGS if self.escalate is not None else None

    def confidence_key(self) -> str | None:
        """The node's `confidence` key."""
        return self.confidence

    def artifacts(self) -> tuple[ArtifactRef, ...]:
        """The classifier, with `using: embeddings`; the LoRA adapter, when it names one."""
        if self.using == "llm" or self.classifier is None:
            return super().artifacts()
        return (classifier_ref(self.classifier), *super().artifacts())

    def pinned(self, tier: str) -> Self:
        """The node on `tier` alone; with `labels`, a model decides instead of the classifier.

        With `using: embeddings`, `tier` may be `embeddings`: the classifier alone decides
        (its ladder ends there, so a request it does not recognise keeps its fallback label).
        """
        if tier == EMBEDDINGS and self.using == "embeddings":
            alone = (
                None
                if self.escalate is None
                else self.escalate.model_copy(update={"to": [EMBEDDINGS]})
            )
            return self.model_copy(update={"escalate": alone, "tier_from": None, "adapter": None})
        node = super().pinned(tier)
        if self.using == "embeddings" and self.labels:
            node = node.model_copy(update={"using": "llm"})
        return node

    @property
    def label_names(self) -> list[str]:
        """The labels, in order (empty when an embedding classifier supplies them)."""
        return list(self.labels or [])

    def build(self, context: BuildContext) -> BuiltNode:
        """Build the signature (or load the referenced one) and wrap the model call."""
        for key in filter(None, (self.output, self.confidence)):
            if key not in self.writes:
                raise FlowCompileError(
                    f"{context.where('writes')}: '{key}' must be in the node's writes."
                )
        if self.confidence is not None:  # only an embedding classifier alone is always sure
            nullable = self.using == "llm" or self.escalate is not None
            _check_confidence_key(self, context, self.confidence, nullable)
        if self.using == "embeddings":
            return self._build_embeddings(context)
        self.check_escalation(context, sampled_confidence=False)
        self.check_output_enum(context, self.label_names)
        call = self.model_call(context, self.label_names, build_verifier(self, context))

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            return self.update(await climb(call, state, runtime))

        return BuiltNode(afunc=run)

    def _build_embeddings(self, context: BuildContext) -> BuiltNode:
        """The classifier node; its manifest is checked (`prepare`) when the run starts."""
        self.check_tier_from(context)
        ref = self.artifacts()[0]
        verifier = build_verifier(self, context) if self.escalate is not None else None
        ready: list[ClassifierRung] = []  # filled by `prepare`, once per flow

        def prepare(artifacts: Artifacts) -> None:
            ready[:] = [self._classifier_rung(context, ref, artifacts, verifier)]

        def rung(context: RunContext) -> ClassifierRung:
            if not ready:  # a node run outside its flow's preparation
                prepare(context.artifacts)
            return ready[0]

        def decide(state: State, context: RunContext) -> dict[str, Any]:
            label, confidence = rung(context).classify(state, context.artifacts)
            update: dict[str, Any] = {self.output: label}
            if self.confidence is not None:
                update[self.confidence] = confidence
            return update

        if self.escalate is not None:

            async def climb_ladder(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
                context = run_context(runtime, self.id)
                classifier = rung(context)
                assert classifier.call is not None

                async def first() -> ModelAnswer:
                    return await asyncio.to_thread(classifier.first_rung, state, context.artifacts)

                return self.update(await climb(classifier.call, state, runtime, first=first))

            return BuiltNode(afunc=climb_ladder, prepare=prepare)

        def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return decide(state, run_context(runtime, self.id))

        async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return await asyncio.to_thread(decide, state, run_context(runtime, self.id))

        return BuiltNode(afunc=run, func=run_sync, prepare=prepare)

    def _classifier_rung(
        self,
        context: BuildContext,
        ref: ArtifactRef,
        artifacts: Artifacts,
        verifier: Verifier | None,
    ) -> ClassifierRung:
        """Check the classifier's manifest against the node; what the node answers with it.

        Raises:
            FlowCompileError: When the labels differ, or one does not fit the output's enum.
        """
        manifest = artifacts.classifier_manifest(ref)
        fallback = self.fallback or manifest.fallback
        escalates = self.escalate is not None and self.escalate.threshold(EMBEDDINGS) is not None
        check_labels(self.labels, manifest, None if escalates else fallback, context)
        produced = [*manifest.labels, fallback]
        if escalates:  # an unrecognised request goes up the ladder, which answers `labels`
            labels = self.label_names or produced
            self.check_output_enum(context, labels, fallback if fallback in labels else None)
        else:
            self.check_output_enum(context, manifest.labels, fallback)
        classifier = ClassifierRung(ref, tuple(self.reads), self.output, fallback)
        if self.escalate is None:
            return classifier
        labels = self.label_names or list(dict.fromkeys(produced))
        call = self.model_call(context, labels, verifier)
        return replace(classifier, labels=tuple(labels), call=call)

    def check_output_enum(
        self, context: BuildContext, labels: Iterable[str], fallback: str | None = None
    ) -> None:
        """Check the labels the node can write (and `fallback`) fit its output key's enum.

        Raises:
            FlowCompileError: Naming the labels the enum lacks and its values.
        """
        members = enum_members(context.state_types.get(self.output))
        written = [*labels, *([fallback] if fallback is not None else [])]
        missing = [label for label in dict.fromkeys(written) if label not in (members or ())]
        if members is None or not missing:
            return
        named = [f"{label} (its fallback)" if label == fallback else label for label in missing]
        raise FlowCompileError(
            f"{context.where('output')}: node '{self.id}' can write label(s) "
            f"{', '.join(named)} into state key '{self.output}', an "
            f"enum whose values are: {', '.join(map(str, members))}. Add the label(s) to "
            f"the key's `values` under `state:`, or change the node's labels."
        )

    def model_call(
        self, context: BuildContext, labels: list[str], verifier: Verifier | None
    ) -> LLMCall:
        """The call that asks a model tier for one of `labels` (with its confidence)."""
        make = lambda: _predict(self, context, labels)  # noqa: E731
        program, outputs = self.resolve_program(context, make)
        if self.output not in outputs.model_fields:
            raise FlowCompileError(
                f"{context.where('output')}: the signature has no output field '{self.output}'."
            )
        policy = self.escalate
        wants = self.confidence is not None or (
            policy is not None and "confidence" in policy.active
        )

        def confidence(answer: ModelAnswer) -> float | None:
            return label_confidence(answer.logprobs, str(answer.values[self.output]), labels)

        return LLMCall(
            self, program, outputs, want_logprobs=wants, confidence=confidence, verifier=verifier
        )

    def update(self, answer: ModelAnswer) -> dict[str, Any]:
        """The state update for an answer: the label, and its confidence when asked for."""
        update: dict[str, Any] = {self.output: answer.values[self.output]}
        if self.confidence is not None:
            update[self.confidence] = answer.confidence
        return update


def _check_confidence_key(
    node: ClassifyNodeSpec, context: BuildContext, key: str, nullable: bool
) -> None:
    """The confidence key takes a float, and null when the node's model may give none."""
    python_type = unannotated(context.state_types.get(key, Any))
    union = get_origin(python_type) in (Union, UnionType)
    members = get_args(python_type) if union else (python_type,)
    if python_type is Any or (float in members and (type(None) in members or not nullable)):
        return
    wanted = "optional[float]" if nullable else "float"
    null = " or null (when a tier returns no token log-probabilities)" if nullable else ""
    raise FlowCompileError(
        f"{context.where('confidence')}: node '{node.id}' writes a float{null} into state key "
        f"'{key}', whose type does not take it: declare the key {wanted}."
    )


def _predict(node: ClassifyNodeSpec, context: BuildContext, labels: list[str]) -> Any:
    import dspy  # lazy: importing DSPy (and LiteLLM) takes seconds

    label_type = Literal[tuple(labels)]  # type: ignore[valid-type]
    instructions = node.instructions or "Classify the input into exactly one of the labels."
    if isinstance(node.labels, dict):
        meanings = "\n".join(f"- {label}: {text}" for label, text in node.labels.items())
        instructions = f"{instructions}\nLabels:\n{meanings}"
    output = SignatureField(node.output, label_type, "one of the labels")
    signature = build_signature(node.id, instructions, input_fields(node, context), [output])
    output_model(signature)  # fail at build time if the schema cannot be made
    return dspy.Predict(signature)


def label_confidence(logprobs: Any, label: str, labels: list[str] | None = None) -> float | None:
    """How sure the model was of `label`, from token log-probabilities.

    The server reports the model's raw probabilities (before the schema restricts the output),
    so at the label's first token the label's probability is divided by that of every
    alternative that could start one of the `labels`: the share the label got among the
    answers the schema allows. Without `labels` (or top alternatives) the label's raw token
    probability is returned.
    """
    tokens = _tokens(logprobs)
    text = "".join(token for token, _, _ in tokens)
    start = text.rfind(label)
    if not tokens or start < 0:
        return None
    position, total, first = 0, 0.0, None
    for token, logprob, top in tokens:
        if position < start + len(label) and position + len(token) > start:
            total += logprob
            if first is None:
                first = (token, logprob, top, start - position)
        position += len(token)
    if first is None or not labels or not first[2]:
        return round(math.exp(total), 4)
    token, logprob, top, offset = first
    prefix = token[:offset]
    allowed = [
        math.exp(alt_logprob)
        for alt_token, alt_logprob in top
        if alt_token.startswith(prefix)
        and any(name.startswith(alt_token[offset:]) for name in labels)
        and alt_token[offset:]
    ]
    share = math.exp(logprob) / max(sum(allowed), math.exp(logprob))
    return round(min(share, 1.0), 4)


def _tokens(logprobs: Any) -> list[tuple[str, float, list[tuple[str, float]]]]:
    content = _get(logprobs, "content")
    found: list[tuple[str, float, list[tuple[str, float]]]] = []
    for item in content or []:
        token, value = _get(item, "token"), _get(item, "logprob")
        if isinstance(token, str) and isinstance(value, int | float):
            top = [
                (str(_get(alt, "token")), float(_get(alt, "logprob")))
                for alt in _get(item, "top_logprobs") or []
                if isinstance(_get(alt, "logprob"), int | float)
            ]
            found.append((token, float(value), top))
    return found


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)
