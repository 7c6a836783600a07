"""The LoRA trainer on the real SmolLM2 GGUF, on a toy task: a few short steps each.

Loss falls; only the answer's tokens count; seeded runs agree; a killed training resumes from
its checkpoint and continues exactly as an uninterrupted one; early stopping keeps the best.
"""

from __future__ import annotations

import mmap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stepladder.config.tune import TuneSettings
from stepladder.errors import ConfigError
from stepladder.optimize.finetune.encoding import (
    IGNORE_INDEX,
    EncodedExample,
    answer_text,
    encode_example,
    micro_batches,
    plan_batches,
    prompt_groups,
    prompt_ids,
)
from stepladder.optimize.finetune.examples import TrainingExample
from stepladder.optimize.finetune.loss import collate, completion_loss, shared_prefix
from stepladder.optimize.finetune.results import peak_rss_gb, reset_peak_rss
from stepladder.optimize.finetune.trainer import StepReport, lr_factor, train_lora
from tests.optimize.finetune.conftest import TOY_WORDS, toy_example, toy_examples

pytestmark = pytest.mark.slow

THREADS = 1  # more threads on a busy shared CPU slow torch down many times over
QUICK = TuneSettings(
    precision="fp32",  # the equivalence tests compare runs to 1e-4: fp32 on every CPU
    batch_size=4,
    learning_rate=2e-3,
    max_steps=4,
    epochs=5,
    eval_every=2,
    checkpoint_every=2,
    early_stop_patience=0,
)


class Killed(Exception):
    """Stands for the process being killed between two steps."""


def test_the_answer_is_the_template_turn_and_only_it_is_learned(base_model: Any) -> None:
    tokenizer = base_model.tokenizer
    example = toy_example("apple", "fruit")
    encoded = encode_example(tokenizer, example)
    prompt = prompt_ids(tokenizer, example.messages)

    assert encoded.input_ids[: len(prompt)] == tuple(prompt)
    assert encoded.labels[: len(prompt)] == (IGNORE_INDEX,) * len(prompt)
    answer = encoded.labels[len(prompt) :]
    assert IGNORE_INDEX not in answer
    # The completion, closed as the chat template closes an assistant turn: the model learns
    # to stop with the end-of-turn token.
    assert tokenizer.decode(list(answer)) == '{"category": "fruit"}' + tokenizer.eos_token
    assert answer_text(tokenizer, example.messages, example.completion).endswith(
        tokenizer.eos_token
    )


def test_the_loss_counts_only_answer_tokens(base_model: Any) -> None:
    import torch
    from torch.nn import functional

    tokenizer = base_model.tokenizer
    examples = [encode_example(tokenizer, toy_example(w, "fruit")) for w in ("kiwi", "banana")]
    batch = collate(examples, tokenizer.eos_token_id, torch.device("cpu"))
    with torch.no_grad():
        total, count = completion_loss(base_model.model, batch)
        logits = base_model.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits

    expected_total, expected_count = 0.0, 0
    for row, example in enumerate(examples):
        for position in range(example.prompt_length, len(example)):
            target = example.input_ids[position]
            log_probs = functional.log_softmax(logits[row, position - 1].float(), dim=-1)
            expected_total -= float(log_probs[target])
            expected_count += 1
    assert count == expected_count == sum(len(e) - e.prompt_length for e in examples)
    assert float(total) == pytest.approx(expected_total, rel=1e-4)


def test_batches_group_similar_lengths_and_repeat_with_the_seed() -> None:
    lengths = [5, 50, 6, 51, 7, 52, 8, 53]
    batches = plan_batches(lengths, batch_size=2, seed=3, epoch=0)

    assert sorted(i for batch in batches for i in batch) == list(range(8))
    assert all(abs(lengths[a] - lengths[b]) <= 3 for a, b in batches)
    assert plan_batches(lengths, 2, 3, 0) == batches
    assert plan_batches(lengths, 2, 3, 1) != batches


def test_a_batch_over_the_token_budget_runs_in_parts() -> None:
    examples = [EncodedExample((1,) * n, (IGNORE_INDEX,) * n, n) for n in (3, 4, 4, 9, 2)]
    parts = micro_batches(examples, max_tokens=12)
    assert [[len(e) for e in part] for part in parts] == [[3, 4, 4], [9], [2]]
    assert [len(p) for p in micro_batches(examples, max_tokens=1)] == [1, 1, 1, 1, 1]
    # a prefix shared by every example runs once per part: only the rest is padded per row
    same = [EncodedExample((1,) * n, (IGNORE_INDEX,) * n, n) for n in (3, 4, 4, 4, 4)]
    assert [len(p) for p in micro_batches(same, max_tokens=12)] == [3, 2]
    assert [len(p) for p in micro_batches(same, max_tokens=12, prefix=2)] == [5]


def test_a_step_in_parts_is_the_same_step(base_model: Any) -> None:
    # Gradients of the parts add up to the whole batch's: the same losses, the same adapter.
    # (No dropout here: parts draw their dropout masks in another order.)
    rows = toy_examples()[:8]
    runs = []
    for budget in (100_000, 1):
        settings = QUICK.model_copy(
            update={"max_steps": 2, "max_batch_tokens": budget, "dropout": 0.0}
        )
        trained = train_lora(base_model, rows, [], settings, threads=THREADS, show_progress=False)
        trained.unload()
        runs.append(_flat(trained.result.train_loss))
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)


def test_a_shared_prompt_start_runs_once_for_the_same_loss(base_model: Any) -> None:
    import torch

    tokenizer = base_model.tokenizer
    words = ("kiwi", "banana", "tiger", "red")
    examples = [encode_example(tokenizer, toy_example(w, "fruit")) for w in words]
    prefix = shared_prefix(examples)
    assert prefix >= 16 and prefix < min(e.prompt_length for e in examples)
    assert all(e.input_ids[:prefix] == examples[0].input_ids[:prefix] for e in examples)
    with torch.no_grad():
        plain, count = completion_loss(base_model.model, collate(examples, 0, "cpu"))
        shared, shared_count = completion_loss(
            base_model.model, collate(examples, 0, "cpu", prefix)
        )
    assert shared_count == count and float(shared) == pytest.approx(float(plain), rel=1e-4)
    assert shared_prefix(examples[:1]) == 0  # one example: nothing to share
    assert shared_prefix([examples[0], encode_example(tokenizer, toy_example("x", "y"))]) > 0


def other_call(example: TrainingExample) -> TrainingExample:
    """The example as another model call of its node would send it (another system message)."""
    system, *rest = example.messages
    changed = {"role": system["role"], "content": "A second call, other fields.\n" * 20}
    return replace(example, messages=(changed, *rest))


def test_examples_of_several_calls_are_grouped_by_their_prompt_start(base_model: Any) -> None:
    rows = toy_examples()[:8]
    mixed = [other_call(row) if index % 2 else row for index, row in enumerate(rows)]
    encoded = [encode_example(base_model.tokenizer, row) for row in mixed]
    groups = prompt_groups(encoded)
    assert len(set(groups)) == 2
    assert all((groups[i] == groups[0]) == (i % 2 == 0) for i in range(8))
    lengths = [len(e) for e in encoded]
    for batch in plan_batches(lengths, batch_size=4, seed=0, epoch=0, groups=groups):
        assert len({groups[i] for i in batch}) == 1  # one call per batch where they divide


@pytest.mark.parametrize("calls", [1, 2], ids=["one-call", "two-calls"])
def test_training_with_a_shared_prompt_start_is_the_same_training(
    base_model: Any, calls: int
) -> None:
    rows = toy_examples()[:8]
    if calls == 2:  # a batch holds both calls: each runs its own prompt start once
        rows = [other_call(row) if index % 2 else row for index, row in enumerate(rows)]
    runs = []
    for share in (True, False):
        settings = QUICK.model_copy(update={"max_steps": 2, "dropout": 0.0, "share_prefix": share,
                                            "batch_size": 4 * calls})  # fmt: skip
        trained = train_lora(base_model, rows, [], settings, threads=THREADS, show_progress=False)
        trained.unload()
        runs.append(_flat(trained.result.train_loss))
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)


def test_training_lowers_the_loss(base_model: Any) -> None:
    rows = toy_examples()
    reports: list[StepReport] = []
    trained = train_lora(
        base_model,
        rows[:24],
        rows[24:],
        QUICK.model_copy(update={"max_steps": 6, "eval_every": 3}),
        threads=THREADS,
        show_progress=False,
        on_step=reports.append,
    )
    try:
        result = trained.result
        losses = [loss for _, loss in result.train_loss]
        print(f"train loss {losses}, validation {result.validation_loss}, {result.seconds:.1f}s")
        assert result.steps == result.planned_steps == 6
        assert [r.step for r in reports] == [1, 2, 3, 4, 5, 6]
        assert losses[-1] < losses[0] / 4
        validation = dict(result.validation_loss)
        assert sorted(validation) == [0, 3, 6]  # step 0 is the base model
        assert validation[6] < validation[0] / 4
        assert result.best_step == 6
        assert result.stopped == "completed"
        assert result.train_examples == 24 and result.validation_examples == 12
        assert result.tokens > 0 and result.seconds > 0 and result.peak_rss_gb > 0.1
        assert result.precision == "fp32"
    finally:
        trained.unload()


def test_training_in_bf16_lowers_the_loss_too(base_model: Any) -> None:
    # Explicit bf16 runs on any CPU (emulated where it has no bf16 instructions).
    rows = toy_examples()
    settings = QUICK.model_copy(update={"precision": "bf16", "max_steps": 6, "eval_every": 3})
    trained = train_lora(
        base_model, rows[:24], rows[24:], settings, threads=THREADS, show_progress=False
    )
    try:
        validation = dict(trained.result.validation_loss)
        assert trained.result.precision == "bf16"
        assert validation[6] < validation[0] / 4
    finally:
        trained.unload()


def test_a_decaying_schedule_reaches_zero_at_the_last_planned_step() -> None:
    assert [lr_factor("constant", step, 4) for step in range(4)] == [1.0, 1.0, 1.0, 1.0]
    assert [lr_factor("linear", step, 4) for step in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    cosine = [lr_factor("cosine", step, 4) for step in range(5)]
    assert cosine == pytest.approx([1.0, 0.8536, 0.5, 0.1464, 0.0], abs=1e-4)


def test_the_schedule_sets_the_rate_of_each_step(base_model: Any) -> None:
    # Step 1 runs at the full rate under both schedules, so the losses of steps 1 and 2 agree;
    # step 2 runs at 2/3 of it under `linear`, so the loss of step 3 differs.
    rows = toy_examples()
    settings = QUICK.model_copy(update={"max_steps": 3})
    losses = {}
    for schedule in ("constant", "linear"):
        trained = train_lora(
            base_model,
            rows[:12],
            (),
            settings.model_copy(update={"lr_schedule": schedule}),
            threads=THREADS,
            show_progress=False,
        )
        trained.unload()
        losses[schedule] = [loss for _, loss in trained.result.train_loss]
    assert losses["linear"][:2] == pytest.approx(losses["constant"][:2], rel=1e-5)
    assert losses["linear"][2] != pytest.approx(losses["constant"][2], rel=1e-3)


def test_seeded_runs_agree_and_a_killed_training_resumes(base_model: Any, tmp_path: Path) -> None:
    rows = toy_examples()
    train, validation = rows[:16], rows[16:20]
    whole = train_lora(base_model, train, validation, QUICK, threads=THREADS, show_progress=False)
    whole.unload()

    def kill_at_step_3(report: StepReport) -> None:
        if report.step == 3:
            raise Killed

    folder = tmp_path / "checkpoints"
    with pytest.raises(Killed):
        train_lora(
            base_model,
            train,
            validation,
            QUICK,
            threads=THREADS,
            checkpoint_dir=folder,
            show_progress=False,
            on_step=kill_at_step_3,
        )
    assert [p.name for p in folder.iterdir()] == ["step-000002"]

    resumed = train_lora(
        base_model,
        train,
        validation,
        QUICK,
        threads=THREADS,
        checkpoint_dir=folder,
        show_progress=False,
    )
    resumed.unload()
    assert resumed.result.resumed_from == 2
    assert resumed.result.steps == 4
    # The same seed gives the same steps, and the resumed run goes on exactly where the
    # killed one left off: its loss history is the uninterrupted run's.
    assert _flat(resumed.result.train_loss) == pytest.approx(_flat(whole.result.train_loss))
    assert _flat(resumed.result.validation_loss) == pytest.approx(
        _flat(whole.result.validation_loss)
    )

    other_seed = QUICK.model_copy(update={"seed": 1})
    with pytest.raises(ConfigError, match="another training"):
        train_lora(
            base_model,
            train,
            validation,
            other_seed,
            threads=THREADS,
            checkpoint_dir=folder,
            show_progress=False,
        )
    assert not _has_lora(base_model.model)


def test_early_stopping_keeps_the_best_adapter(base_model: Any) -> None:
    # Validation answers contradict training: once it has learned the format, more training
    # makes validation worse, and the training stops and keeps the best step's adapter.
    train = [toy_example(word, "fruit") for word in TOY_WORDS["animal"][:8]]
    validation = [toy_example(word, "animal") for word in TOY_WORDS["animal"][:8]]
    settings = QUICK.model_copy(
        update={"max_steps": 8, "eval_every": 1, "early_stop_patience": 1, "learning_rate": 5e-3}
    )
    trained = train_lora(
        base_model, train, validation, settings, threads=THREADS, show_progress=False
    )
    try:
        result = trained.result
        assert result.stopped == "early_stop"
        assert result.steps < result.planned_steps
        measured = dict(result.validation_loss)
        assert result.best_step is not None
        assert result.best_validation_loss == min(v for s, v in measured.items() if s > 0)
        assert measured[result.steps] > measured[result.best_step]
    finally:
        trained.unload()


def test_examples_longer_than_max_length_are_refused_not_cut(base_model: Any) -> None:
    settings = QUICK.model_copy(update={"max_length": 10})
    with pytest.raises(ConfigError, match=r"longer than tune\.max_length \(10 tokens\)"):
        train_lora(base_model, toy_examples()[:4], [], settings, show_progress=False)


def _flat(history: tuple[tuple[int, float], ...]) -> list[float]:
    return [value for point in history for value in point]


def _has_lora(model: Any) -> bool:
    return any("lora_" in name for name, _ in model.named_parameters())


def test_a_failed_training_leaves_the_base_plain(base_model: Any) -> None:
    def fail(report: StepReport) -> None:
        raise Killed

    with pytest.raises(Killed):
        train_lora(
            base_model,
            toy_examples()[:4],
            [],
            QUICK.model_copy(update={"max_steps": 1}),
            threads=THREADS,
            show_progress=False,
            on_step=fail,
        )
    assert not _has_lora(base_model.model)


def test_the_training_peak_memory_is_measured_from_a_reset() -> None:
    # Pages mapped for this test and touched (so resident), then unmapped: the resident size
    # surely rises by 0.4 GB and falls back, whatever the allocator holds from other tests.
    block = mmap.mmap(-1, 400_000_000)
    block.write(b"\x01" * 400_000_000)
    before = peak_rss_gb()
    block.close()
    assert reset_peak_rss()  # Linux: /proc/self/clear_refs
    assert peak_rss_gb() < before - 0.3
