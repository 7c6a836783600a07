"""Training examples as token ids: the served prompt, then the answer the loss is counted on.

The prompt is the tokenizer's chat template over the node's messages with the generation prompt
(what a chat server renders for the same request), and it is masked out of the loss (-100).
The answer is the completion followed by whatever the chat template writes to close an
assistant turn, up to and including the end-of-turn token, so the tuned model learns to stop.
Batches group examples that share their prompt's start (the same model call: an agent makes
several) and of similar length, and pad only to the longest in the batch.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stepladder.optimize.finetune.examples import TrainingExample

__all__ = [
    "IGNORE_INDEX",
    "EncodedExample",
    "answer_text",
    "encode_example",
    "micro_batches",
    "plan_batches",
    "prompt_groups",
    "prompt_ids",
    "prompt_text",
]

IGNORE_INDEX = -100
"""The label of a token the loss ignores (PyTorch's cross-entropy default)."""

MEGA_BATCHES = 50
"""Batches shuffled together before sorting by length: groups similar lengths, keeps variety."""


@dataclass(frozen=True)
class EncodedExample:
    """One example as token ids.

    Attributes:
        input_ids: The prompt's tokens, then the answer's.
        labels: -100 over the prompt, the answer's own ids over the answer.
        prompt_length: How many of `input_ids` are the prompt.
    """

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    prompt_length: int

    def __len__(self) -> int:
        return len(self.input_ids)


def _chat(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return [dict(message) for message in messages]


def prompt_text(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The chat template over `messages`, ending where the assistant's answer starts."""
    text = tokenizer.apply_chat_template(
        _chat(messages), add_generation_prompt=True, tokenize=False
    )
    return str(text)


def prompt_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The prompt's token ids, as a server tokenizes the rendered template (specials parsed)."""
    return _tokenize(tokenizer, prompt_text(tokenizer, messages))


def answer_text(tokenizer: Any, messages: Sequence[Mapping[str, str]], completion: str) -> str:
    """`completion` as the chat template writes an assistant turn after the prompt.

    The text after the generation prompt in the template's rendering of the conversation with
    the answer appended, cut after the end-of-turn token (what follows it is never generated).
    A template that renders the conversation differently from its prompt gets the completion
    and the end-of-sequence token.
    """
    prompt = prompt_text(tokenizer, messages)
    turn = {"role": "assistant", "content": completion}
    full = str(tokenizer.apply_chat_template([*_chat(messages), turn], tokenize=False))
    end = str(tokenizer.eos_token or "")
    if not full.startswith(prompt):
        return completion + end
    answer = full[len(prompt) :]
    if end and end in answer:
        answer = answer[: answer.rindex(end) + len(end)]
    return answer


def encode_example(tokenizer: Any, example: TrainingExample) -> EncodedExample:
    """Token ids and labels of one example: the prompt masked, the answer learned."""
    prompt = prompt_ids(tokenizer, example.messages)
    answer = _tokenize(tokenizer, answer_text(tokenizer, example.messages, example.completion))
    return EncodedExample(
        input_ids=(*prompt, *answer),
        labels=(*([IGNORE_INDEX] * len(prompt)), *answer),
        prompt_length=len(prompt),
    )


def _tokenize(tokenizer: Any, text: str) -> list[int]:
    # The template writes the special tokens itself; none are added around it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def plan_batches(
    lengths: Sequence[int],
    batch_size: int,
    seed: int,
    epoch: int,
    groups: Sequence[int] | None = None,
) -> list[list[int]]:
    """One epoch's batches of example indices, the same for the same seed and epoch.

    Indices are shuffled, sorted by group (`prompt_groups`) and length within groups of
    `MEGA_BATCHES` batches (so a batch pads little and shares its prompt's start), cut into
    batches, and the batches shuffled again.
    """
    generator = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    generator.shuffle(order)
    group = batch_size * MEGA_BATCHES

    def key(index: int) -> tuple[int, int]:
        return (groups[index] if groups else 0, lengths[index])

    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=key)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    generator.shuffle(batches)
    return batches


def prompt_groups(examples: Sequence[EncodedExample]) -> list[int]:
    """A group number per example: examples whose prompts share most of their start.

    Prompts are sorted; a new group starts where a prompt shares less than half of the
    shorter one's tokens with the prompt before it (one group per model call of a node: its
    instructions and demos are the same, the request differs).
    """
    order = sorted(
        range(len(examples)), key=lambda i: examples[i].input_ids[: examples[i].prompt_length]
    )
    groups = [0] * len(examples)
    number, previous = 0, None
    for index in order:
        current = examples[index]
        if previous is not None:
            shorter = min(previous.prompt_length, current.prompt_length)
            if _common(previous.input_ids, current.input_ids, shorter) * 2 < shorter:
                number += 1
        groups[index], previous = number, current
    return groups


def _common(first: Sequence[int], second: Sequence[int], limit: int) -> int:
    length = 0
    while length < limit and first[length] == second[length]:
        length += 1
    return length


def micro_batches(
    batch: Sequence[EncodedExample], max_tokens: int, prefix: int = 0
) -> list[list[EncodedExample]]:
    """Split a batch, in order, into parts whose padded size stays within `max_tokens`.

    With `prefix` (tokens every example starts with, run once per part as one row), the
    budget holds the rows' padded rest: the prefix costs what one example costs, however
    long it is. A part holds at least one example, so an example longer than the budget
    runs alone.
    """
    parts: list[list[EncodedExample]] = []
    for example in batch:
        current = parts[-1] if parts else None
        if current:
            longest = max(len(example), *map(len, current)) - prefix
            if (len(current) + 1) * longest <= max_tokens:
                current.append(example)
                continue
        parts.append([example])
    return parts
