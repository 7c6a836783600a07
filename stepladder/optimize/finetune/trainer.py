"""LoRA training with PEFT: a plain loop, completion-only loss, seeded, resumable.

`train_lora` adds a LoRA to a loaded base model and trains it on `TrainingExample`s: the loss
counts only the answer's tokens (the prompt is masked), batches group similar lengths and pad
within the batch, the validation loss is measured every `eval_every` steps and stops the
training when it no longer improves (the best adapter is kept), and a checkpoint every
`checkpoint_every` steps lets a killed training go on where it stopped. It knows nothing of any
data set or model: the examples carry the messages, the tokenizer the chat template.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.progress import TextColumn

from stepladder.config.tune import LrSchedule, TuneSettings
from stepladder.errors import ConfigError
from stepladder.optimize.finetune.base_model import LoadedBaseModel, require_tune_extra
from stepladder.optimize.finetune.checkpoints import Progress, latest_checkpoint, save_checkpoint
from stepladder.optimize.finetune.encoding import (
    EncodedExample,
    encode_example,
    micro_batches,
    plan_batches,
    prompt_groups,
)
from stepladder.optimize.finetune.examples import TrainingExample
from stepladder.optimize.finetune.loss import collate, completion_loss, shared_prefix
from stepladder.optimize.finetune.precision import training_precision
from stepladder.optimize.finetune.results import (
    StepReport,
    TrainedAdapter,
    TrainingResult,
    peak_rss_gb,
    reset_peak_rss,
)
from stepladder.progress import progress_bar

__all__ = ["StepReport", "TrainedAdapter", "TrainingResult", "lr_factor", "train_lora"]

CLIP_NORM = 1.0
UNAFFECTED = ("threads", "checkpoint_every", "base_model", "max_batch_tokens", "share_prefix")
"""Settings that do not change what is learned, so a checkpoint resumes across them."""


def train_lora(
    base: LoadedBaseModel,
    train: Sequence[TrainingExample],
    validation: Sequence[TrainingExample],
    settings: TuneSettings,
    *,
    threads: int | None = None,
    checkpoint_dir: Path | None = None,
    show_progress: bool = True,
    on_step: Callable[[StepReport], None] | None = None,
) -> TrainedAdapter:
    """Train a LoRA on `base` and return it in place on the base model.

    The base model gets the LoRA layers in place; `TrainedAdapter.unload()` gives it back
    plain. If training fails or is interrupted, they are taken out before the error goes on.

    Args:
        base: The base model and tokenizer.
        train: Examples to learn.
        validation: Examples for the validation loss and early stopping (may be empty).
        settings: Hyper-parameters.
        threads: CPU threads when `settings.threads` is unset (the tier's threads).
        checkpoint_dir: Folder for checkpoints; a complete one there is resumed.
        show_progress: Show a progress bar (steps, loss, time left) on stderr.
        on_step: Called after every step (and its checkpoint).

    Raises:
        ConfigError: If the `tune` extra is missing, no example fits `max_length`, or the
            checkpoint folder holds another training's checkpoint.
    """
    require_tune_extra()
    # Lazy: torch and PEFT are the optional `tune` extra.
    import torch
    from peft import LoraConfig, get_peft_model  # lazy: the `tune` extra

    reset_peak_rss()  # the training's own peak, not what ran before it in this process
    train_set, too_long = _encode_all(base.tokenizer, train, settings.max_length)
    validation_set, too_long_validation = _encode_all(
        base.tokenizer, validation, settings.max_length
    )
    if not train_set:
        raise ConfigError(
            f"all {len(train)} training examples are longer than tune.max_length "
            f"({settings.max_length} tokens): raise it in stepladder.yaml or shorten the prompt."
        )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads or threads or previous_threads)
    torch.manual_seed(settings.seed)
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # PEFT calls a transformers method that transformers 5 marks as deprecated.
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(base.model, lora)
    loop = _Loop(
        model=model,
        pad_id=_pad_id(base.tokenizer),
        train=train_set,
        validation=validation_set,
        settings=settings,
        fingerprint=_fingerprint(base, train, validation, settings),
    )
    try:
        progress, resumed_from = loop.run(checkpoint_dir, show_progress, on_step)
    except BaseException:
        model.unload()
        raise
    finally:
        torch.set_num_threads(previous_threads)
    return TrainedAdapter(
        model=model,
        result=_result(progress, loop, too_long + too_long_validation, resumed_from),
    )


class _Loop:
    """The training loop's state: model, optimizer, data, and where it stands."""

    def __init__(
        self,
        model: Any,
        pad_id: int,
        train: list[EncodedExample],
        validation: list[EncodedExample],
        settings: TuneSettings,
        fingerprint: str,
    ) -> None:
        # Lazy: torch is the optional `tune` extra.
        import torch

        self.model = model
        self.pad_id = pad_id
        self.train = train
        self.validation = validation
        self.settings = settings
        self.fingerprint = fingerprint
        self.device = next(model.parameters()).device
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=settings.learning_rate)
        self.plan = _plan([len(e) for e in train], prompt_groups(train), settings)
        self.best_adapter: dict[str, Any] | None = None
        self.precision = training_precision(settings.precision, self.device)
        self.autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def run(
        self,
        checkpoint_dir: Path | None,
        show_progress: bool,
        on_step: Callable[[StepReport], None] | None,
    ) -> tuple[Progress, int | None]:
        progress, resumed_from = self._resume(checkpoint_dir)
        if progress.stopped is None and progress.step == 0 and self.validation:
            progress.validation_loss.append([0, self._validation_loss()])
        bar = progress_bar(TextColumn("loss {task.fields[loss]}"), disable=not show_progress)
        started, earlier = time.perf_counter(), progress.seconds
        with bar:
            task = bar.add_task(
                "training LoRA", total=len(self.plan), completed=progress.step, loss="-"
            )
            while progress.stopped is None:
                loss, measured = self._step(progress)
                progress.seconds = earlier + time.perf_counter() - started
                self._end_if_done(progress)
                if checkpoint_dir and self._checkpoint_due(progress):
                    save_checkpoint(checkpoint_dir, progress, self._tensors())
                bar.update(task, completed=progress.step, loss=f"{loss:.4f}")
                if on_step:
                    on_step(StepReport(progress.step, len(self.plan), loss, measured))
        self._restore_best()
        return progress, resumed_from

    def _step(self, progress: Progress) -> tuple[float, float | None]:
        # Lazy: torch is the optional `tune` extra.
        import torch

        batch = [self.train[i] for i in self.plan[progress.step]]
        answer_tokens = sum(len(example) - example.prompt_length for example in batch)
        summed = 0.0
        # A batch over the token budget runs in parts; their gradients add up to the batch's.
        for part, prefix in self._parts(batch):
            with self.autocast:
                total, _ = completion_loss(
                    self.model, collate(part, self.pad_id, self.device, prefix)
                )
            (total / answer_tokens).backward()
            summed += float(total.item())
        torch.nn.utils.clip_grad_norm_(self.parameters, CLIP_NORM)
        rate = self.settings.learning_rate * lr_factor(
            self.settings.lr_schedule, progress.step, len(self.plan)
        )
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = summed / answer_tokens
        progress.step += 1
        progress.tokens += sum(len(example) for example in batch)
        progress.train_loss.append([progress.step, loss])
        measured = None
        if self.validation and (
            progress.step % self.settings.eval_every == 0 or progress.step == len(self.plan)
        ):
            measured = self._validation_loss()
            self._record_validation(progress, measured)
        return loss, measured

    def _parts(self, batch: list[EncodedExample]) -> list[tuple[list[EncodedExample], int]]:
        """The batch in parts within the token budget, each with the prompt start it shares.

        Examples of different model calls (an agent's) go to different parts, so that each
        part runs its own shared prompt start once.
        """
        budget = self.settings.max_batch_tokens
        if not self.settings.share_prefix:
            return [(part, 0) for part in micro_batches(batch, budget)]
        groups = prompt_groups(batch)
        parts: list[tuple[list[EncodedExample], int]] = []
        for number in dict.fromkeys(groups):
            same = [example for example, g in zip(batch, groups, strict=True) if g == number]
            prefix = shared_prefix(same)
            parts += [(part, shared_prefix(part) if prefix else 0)
                      for part in micro_batches(same, budget, prefix)]  # fmt: skip
        return parts

    def _record_validation(self, progress: Progress, loss: float) -> None:
        progress.validation_loss.append([progress.step, loss])
        if progress.best_loss is None or loss < progress.best_loss:
            progress.best_step, progress.best_loss = progress.step, loss
            progress.evaluations_without_gain = 0
            self.best_adapter = self._adapter_state()
        else:
            progress.evaluations_without_gain += 1

    def _end_if_done(self, progress: Progress) -> None:
        patience = self.settings.early_stop_patience
        if patience and progress.evaluations_without_gain >= patience:
            progress.stopped = "early_stop"
        elif progress.step >= len(self.plan):
            progress.stopped = "completed"

    def _checkpoint_due(self, progress: Progress) -> bool:
        every = self.settings.checkpoint_every
        return progress.stopped is not None or progress.step % every == 0

    def _validation_loss(self) -> float:
        # Lazy: torch is the optional `tune` extra.
        import torch

        groups = prompt_groups(self.validation)
        ranks = sorted(range(len(groups)), key=lambda i: (groups[i], len(self.validation[i])))
        ordered = [self.validation[i] for i in ranks]
        size = self.settings.batch_size
        total, count = 0.0, 0
        self.model.eval()
        try:
            with torch.no_grad(), self.autocast:
                for start in range(0, len(ordered), size):
                    batch = ordered[start : start + size]
                    for part, prefix in self._parts(batch):
                        summed, tokens = completion_loss(
                            self.model, collate(part, self.pad_id, self.device, prefix)
                        )
                        total, count = total + float(summed), count + tokens
        finally:
            self.model.train()
        return total / max(count, 1)

    def _adapter_state(self) -> dict[str, Any]:
        # Lazy: PEFT is the optional `tune` extra.
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.model, save_embedding_layers=False)
        return {name: tensor.detach().cpu().clone() for name, tensor in state.items()}

    def _restore_best(self) -> None:
        if self.best_adapter is not None:
            # Lazy: PEFT is the optional `tune` extra.
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, self.best_adapter)

    def _tensors(self) -> dict[str, Any]:
        # Lazy: torch is the optional `tune` extra.
        import torch

        return {
            "adapter": self._adapter_state(),
            "best_adapter": self.best_adapter,
            "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def _resume(self, checkpoint_dir: Path | None) -> tuple[Progress, int | None]:
        found = latest_checkpoint(checkpoint_dir, self.fingerprint) if checkpoint_dir else None
        if found is None:
            return Progress(fingerprint=self.fingerprint), None
        # Lazy: torch and PEFT are the optional `tune` extra.
        import torch
        from peft import set_peft_model_state_dict  # lazy: the `tune` extra

        set_peft_model_state_dict(self.model, found.tensors["adapter"])
        self.optimizer.load_state_dict(found.tensors["optimizer"])
        self.best_adapter = found.tensors["best_adapter"]
        torch.set_rng_state(found.tensors["rng"])
        if found.tensors.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(found.tensors["cuda_rng"])
        return found.progress, found.progress.step


def _encode_all(
    tokenizer: Any, examples: Sequence[TrainingExample], max_length: int
) -> tuple[list[EncodedExample], int]:
    encoded = [encode_example(tokenizer, example) for example in examples]
    kept = [example for example in encoded if len(example) <= max_length]
    return kept, len(encoded) - len(kept)


def lr_factor(schedule: LrSchedule, step: int, total: int) -> float:
    """The share of the learning rate for the step after `step` of `total` planned steps.

    Computed from the step alone, so a resumed training goes on with the same rates.
    """
    if schedule == "constant" or total <= 0:
        return 1.0
    done = min(step, total) / total
    if schedule == "linear":
        return 1.0 - done
    return 0.5 * (1.0 + math.cos(math.pi * done))


def _plan(lengths: list[int], groups: list[int], settings: TuneSettings) -> list[list[int]]:
    plan: list[list[int]] = []
    for epoch in range(settings.epochs):
        plan.extend(plan_batches(lengths, settings.batch_size, settings.seed, epoch, groups))
    return plan[: settings.max_steps] if settings.max_steps else plan


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def _fingerprint(
    base: LoadedBaseModel,
    train: Sequence[TrainingExample],
    validation: Sequence[TrainingExample],
    settings: TuneSettings,
) -> str:
    def rows(examples: Sequence[TrainingExample]) -> list[object]:
        return [[[dict(m) for m in e.messages], e.completion] for e in examples]

    payload = {
        "base": base.source.name,
        "settings": settings.model_dump(mode="json", exclude=set(UNAFFECTED)),
        "train": rows(train),
        "validation": rows(validation),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _result(
    progress: Progress, loop: _Loop, too_long: int, resumed_from: int | None
) -> TrainingResult:
    return TrainingResult(
        steps=progress.step,
        planned_steps=len(loop.plan),
        stopped=progress.stopped or "completed",
        train_loss=tuple((int(s), float(v)) for s, v in progress.train_loss),
        validation_loss=tuple((int(s), float(v)) for s, v in progress.validation_loss),
        best_step=progress.best_step,
        best_validation_loss=progress.best_loss,
        train_examples=len(loop.train),
        validation_examples=len(loop.validation),
        too_long=too_long,
        tokens=progress.tokens,
        seconds=progress.seconds,
        peak_rss_gb=peak_rss_gb(),
        resumed_from=resumed_from,
        precision=loop.precision,
    )
