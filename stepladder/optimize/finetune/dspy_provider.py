"""DSPy fine-tuning on stepladder tiers: a `dspy.Provider` that trains LoRA adapters, and its LM.

`dspy.BootstrapFinetune` collects a teacher's traces, formats each predictor call as chat data
(`{"messages": [system, user..., assistant]}`, the constrained adapter's own messages) and calls
`lm.finetune(...)` on the student's LM. Here that LM is a `TierLM` named `stepladder/<tier>`;
its provider (`TierProvider`) turns the chat data into `TrainingExample`s (the prompt messages,
the assistant's answer as the completion), trains a LoRA on the tier's base model with the
same trainer as `stepladder tune` (`train_lora`), exports it (PEFT folder and GGUF adapter) with
a manifest into a candidate folder, and returns the model name `stepladder/<tier>@<folder>`.
DSPy copies the LM with that name; the copy's calls go to the tier's server with the adapter
selected per request (the body `BoundTier.adapter_body` gives, as a node's `adapter:` does).

The candidate is not yet a saved adapter: `keep_candidate` registers it as `NAME@vN` once the
caller's gate has passed (`stepladder optimize --optimizer finetune`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from stepladder.config import Project
from stepladder.errors import ModelError, UserError
from stepladder.optimize.finetune.base_model import base_model_source, load_base_model
from stepladder.optimize.finetune.candidates import (
    candidate_folder,
    training_folder,
    write_candidate,
)
from stepladder.optimize.finetune.data import data_hash
from stepladder.optimize.finetune.examples import TrainingExample, input_hash
from stepladder.optimize.finetune.trainer import TrainingResult, train_lora
from stepladder.predictors.adapters import (
    ADAPTERS,
    AdapterData,
    AdapterManifest,
    SavedAdapter,
    base_for_tier,
    read_adapter_manifest,
)
from stepladder.predictors.artifacts import saved_versions
from stepladder.predictors.manifest import created_now
from stepladder.prompts import constrained_adapter
from stepladder.runtimes import ModelPool
from stepladder.runtimes.pool import BoundTier

__all__ = [
    "MODEL_PREFIX",
    "Candidate",
    "TierLM",
    "TierProvider",
    "chat_examples",
    "finetune_adapter",
    "model_name",
    "parse_model_name",
]

MODEL_PREFIX = "stepladder/"
CHAT_FORMAT = "chat"
SOURCE = "bootstrap"


def model_name(tier: str, adapter: Path | None = None) -> str:
    """The DSPy model name of a tier (`stepladder/small`), or of it with an adapter folder."""
    return f"{MODEL_PREFIX}{tier}" + (f"@{adapter}" if adapter is not None else "")


def parse_model_name(model: str) -> tuple[str, Path | None]:
    """The tier and the adapter folder (None: the base) a `model_name` names.

    Raises:
        UserError: When the name is not a stepladder tier's.
    """
    if not model.startswith(MODEL_PREFIX) or len(model) == len(MODEL_PREFIX):
        raise UserError(f"'{model}' is not a stepladder tier's model name ({MODEL_PREFIX}TIER).")
    tier, _, folder = model[len(MODEL_PREFIX) :].partition("@")
    return tier, Path(folder) if folder else None


def finetune_adapter() -> Any:
    """The constrained adapter, able to write fine-tuning data (DSPy's JSONAdapter cannot).

    An item is the node's run-time messages (`format`) and the answer as the adapter writes
    it in a demo (`format_assistant_message_content`), as `NodeRenderer` renders them.
    """

    class ConstrainedFinetuneAdapter(type(constrained_adapter())):  # type: ignore[misc]
        def format_finetune_data(
            self, signature: Any, demos: Any, inputs: Any, outputs: Any
        ) -> dict[str, list[dict[str, Any]]]:
            messages = self.format(signature=signature, demos=demos, inputs=inputs)
            answer = self.format_assistant_message_content(signature=signature, outputs=outputs)
            return {"messages": [*messages, {"role": "assistant", "content": answer}]}

    return ConstrainedFinetuneAdapter()


def chat_examples(
    train_data: Sequence[Mapping[str, Any]], node: str, source: str = SOURCE
) -> list[TrainingExample]:
    """DSPy's chat-format fine-tuning data as training examples.

    Each item is `{"messages": [...]}` whose last message is the assistant's answer: the
    messages before it are the prompt, its content the completion.

    Raises:
        UserError: When an item is not in that shape (named by its index).
    """
    examples = []
    for index, item in enumerate(train_data):
        messages = item.get("messages") if isinstance(item, Mapping) else None
        if not isinstance(messages, list) or len(messages) < 2:
            raise UserError(f"fine-tuning item {index} has no chat `messages` (prompt and answer).")
        *prompt, answer = messages
        if answer.get("role") != "assistant" or not all(_text(m) for m in messages):
            raise UserError(
                f"fine-tuning item {index} is not text chat ending with the assistant's answer."
            )
        turns = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in prompt)
        examples.append(
            TrainingExample(
                node=node,
                messages=turns,
                completion=str(answer["content"]),
                source=f"{source}#{index}",
                input_hash=input_hash({"messages": list(turns)}),
            )
        )
    return examples


def _text(message: Any) -> bool:
    return isinstance(message, Mapping) and isinstance(message.get("content"), str)


@dataclass(frozen=True)
class Candidate:
    """A trained adapter waiting for the gate: its folder (manifest and exports), how it went."""

    folder: Path
    manifest: AdapterManifest
    training: TrainingResult


class TierProvider(dspy.Provider):  # type: ignore[misc]
    """Fine-tunes a stepladder tier's base model for `dspy.BootstrapFinetune` (LoRA, PEFT).

    Args:
        project: The project (its tiers, `tune:` settings and state folder).
        name: The adapter's name (saved as `NAME@vN` by `keep_candidate`).
        flow: The flow whose nodes the adapter is for.
        nodes: Those nodes.
        settings: Hyper-parameters overriding `stepladder.yaml`'s `tune:` section.
        show_progress: Show the training's progress bar.
    """

    def __init__(
        self,
        project: Project,
        name: str,
        flow: str,
        nodes: Sequence[str],
        settings: Mapping[str, Any] | None = None,
        show_progress: bool = True,
    ) -> None:
        super().__init__()
        self.finetunable = True
        self.project = project
        self.name = name
        self.flow = flow
        self.nodes = tuple(nodes)
        self.settings = dict(settings or {})
        self.show_progress = show_progress
        self.candidates: list[Candidate] = []

    def finetune(
        self,
        job: Any,
        model: str,
        train_data: list[dict[str, Any]],
        train_data_format: Any,
        train_kwargs: dict[str, Any] | None = None,
    ) -> str:
        """Train a LoRA for `model`'s tier on the chat data; the model name of the candidate.

        `train_kwargs` override the `tune:` settings (`max_steps`, `learning_rate`, ...).

        Raises:
            UserError: Data not in chat format, or no example to train on.
            ConfigError: The `tune` extra is missing, or the tier cannot be tuned.
        """
        if str(getattr(train_data_format, "value", train_data_format)) != CHAT_FORMAT:
            raise UserError(f"stepladder tiers fine-tune on chat data, not '{train_data_format}'.")
        tier, _ = parse_model_name(model)
        examples = chat_examples(train_data, "+".join(self.nodes))
        if not examples:
            raise UserError(
                "the teacher gave no correct run to learn from (every bootstrapped run scored "
                "below 1): use a stronger --teacher, more train cases, or the gold labels."
            )
        tier_settings = self.project.settings.tiers[tier]
        settings = self.project.settings.tune.model_copy(
            update={**self.settings, **(train_kwargs or {})}
        )
        held = settings.validation_size(len(examples))
        train, validation = examples[: len(examples) - held], examples[len(examples) - held :]
        base = load_base_model(base_model_source(tier_settings, tier, settings))
        home = ADAPTERS.home(self.project.state_dir)
        trained = train_lora(
            base, train, validation, settings, threads=getattr(tier_settings, "threads", None),
            checkpoint_dir=training_folder(self.project.state_dir, self.name),
            show_progress=self.show_progress,
        )  # fmt: skip
        digest = data_hash(train, validation)
        manifest = AdapterManifest(
            name=self.name,
            version=max(saved_versions(home / self.name), default=0) + 1,
            created=created_now(),
            base=base_for_tier(tier_settings, base.architecture, tier),
            flow=self.flow,
            nodes=list(self.nodes),
            data=AdapterData(
                hash=digest,
                counts={SOURCE: len(examples)},
                train=len(train),
                validation=len(validation),
            ),
            hyperparameters={
                **settings.model_dump(mode="json"),
                "steps": trained.result.steps,
                "stopped": trained.result.stopped,
                "optimizer": "dspy-finetune",
            },
            train_seconds=round(trained.result.seconds, 1),
            peak_rss_gb=round(trained.result.peak_rss_gb, 3),
        )
        folder = candidate_folder(self.project.state_dir, self.name, digest)
        try:
            write_candidate(folder, manifest, trained.model)
        finally:
            trained.unload()
        self.candidates.append(Candidate(folder, manifest, trained.result))
        return model_name(tier, folder)


class TierLM(dspy.LM):  # type: ignore[misc]
    """A DSPy LM that calls a stepladder tier, on its base or with a LoRA adapter.

    Its model name says which (`model_name`): `stepladder/small` is the tier's model,
    `stepladder/small@/path/to/adapter` the same tier's server with that adapter selected per
    request. The pool loads the adapter into the tier's server first (restarting it once).
    DSPy's `LM.finetune` runs the provider and copies this LM with the name it returns; copies
    share the pool.

    Args:
        model: The model name.
        models: The pool that starts the tiers (and runs them until it is closed).
        provider: The provider that fine-tunes it.
        call: Runs a coroutine on the pool's event loop and waits for it (for DSPy's
            synchronous calls), e.g. `FlowRunner.call`.
    """

    def __init__(
        self,
        model: str,
        models: ModelPool,
        provider: TierProvider | None = None,
        call: Any = None,
    ) -> None:
        parse_model_name(model)
        super().__init__(model, provider=provider, cache=False, num_retries=0)
        self.models = models
        self.call = call

    def forward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        """A synchronous call: run `aforward` on the pool's loop."""
        if self.call is None:
            raise ModelError(f"{self.model}: no event loop to call the tier from; use acall.")
        return self.call(self.aforward(prompt=prompt, messages=messages, **kwargs))

    async def aforward(self, prompt: Any = None, messages: Any = None, **kwargs: Any) -> Any:
        """Call the tier's LM, with the adapter's request fields when it names one.

        Raises:
            ModelError: When the tier's server did not load the adapter (another base).
        """
        bound, body = await self.serve()
        if body is not None:
            kwargs["extra_body"] = {**dict(kwargs.get("extra_body") or {}), **dict(body)}
        return await bound.lm.aforward(prompt=prompt, messages=messages, **kwargs)

    async def serve(self) -> tuple[BoundTier, Mapping[str, Any] | None]:
        """Start the tier (with the adapter loaded); it and the body that selects the adapter.

        Call it once before concurrent calls: a server restarting for a new adapter answers
        those that were already waiting on the base.

        Raises:
            ModelError: When the tier's server did not load the adapter (another base).
        """
        tier, folder = parse_model_name(self.model)
        if folder is None:
            return await self.models.bound(tier), None
        saved = SavedAdapter(folder, read_adapter_manifest(folder))
        self.models.want_adapters([saved.load(trusted=frozenset({tier}))])
        bound = await self.models.bound(tier)
        body = bound.adapter_body(saved.key)
        if body is None:
            raise ModelError(
                f"tier '{tier}' does not serve adapter {saved.label} ({folder}): it was "
                f"trained on {saved.manifest.base.describe()}, which the tier does not serve."
            )
        return bound, body

    def dump_state(self) -> dict[str, Any]:
        """The model name only (the pool is not saved)."""
        return {"model": self.model}
