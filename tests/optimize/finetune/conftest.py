"""Fixtures of the fine-tuning tests: the real SmolLM2 GGUF in torch, a toy task, llama.cpp.

The base model loads once per session (about half a minute, de-quantizing the GGUF). Tests that
train take the `base_model` fixture, and leave it plain again (`TrainedAdapter.unload()`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepladder.optimize.finetune.examples import TrainingExample, input_hash

TOY_SYSTEM = "Classify the word into one of: fruit, animal, color. Answer with JSON."
_TOY_LINES = {
    "fruit": "apple banana cherry grape lemon mango peach pear plum kiwi melon orange",
    "animal": "cat dog horse tiger zebra mouse sheep goat eagle shark whale camel",
    "color": "red blue green yellow purple violet black white brown pink gray cyan",
    "unseen": "lime fig owl bear rose teal wolf date lion navy crab olive",
}
_WORDS = {label: line.split() for label, line in _TOY_LINES.items()}
NEW_WORDS = _WORDS.pop("unseen")
"""Words the toy task never trains on."""
TOY_WORDS = _WORDS
"""A toy task no base model answers in this format: a word's category as JSON."""


def toy_messages(word: str) -> tuple[dict[str, str], ...]:
    return ({"role": "system", "content": TOY_SYSTEM}, {"role": "user", "content": f"Word: {word}"})


def toy_example(word: str, label: str) -> TrainingExample:
    return TrainingExample(
        node="categorize",
        messages=toy_messages(word),
        completion=json.dumps({"category": label}),
        source=f"toy#{word}",
        input_hash=input_hash({"word": word}),
    )


def toy_examples() -> list[TrainingExample]:
    """The toy task's 36 labelled words, categories interleaved."""
    rows = [(word, label) for label, words in TOY_WORDS.items() for word in words]
    rows.sort(key=lambda row: TOY_WORDS[row[1]].index(row[0]))
    return [toy_example(word, label) for word, label in rows]


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    from stepladder.runtimes.models import ensure_model

    return ensure_model("smollm2-135m")


@pytest.fixture(scope="session")
def base_model(gguf_path: Path) -> Any:
    """The embedded tier's SmolLM2-135M, loaded from its GGUF into transformers (once)."""
    from stepladder.optimize.finetune.base_model import load_base_model

    return load_base_model(gguf_path)


class LlamaServer:
    """A real llama.cpp server (xllamacpp) on the GGUF, with LoRA adapters at scale 0."""

    def __init__(self, model: Path, adapters: list[Path], threads: int = 2) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model)
        params.n_ctx = 2048
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.verbosity = -1
        params.warmup = False
        # Loaded at scale 0: a request without `lora` runs on the plain base.
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(p), 0.0) for p in adapters]
        self._server = xllamacpp.Server(params)
        self.url = str(self._server.listening_address).rstrip("/")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("llama.cpp server did not get ready")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=300)
        response.raise_for_status()
        return response.json()

    def chat(self, messages: Any, adapter: int | None = None, max_tokens: int = 12) -> str:
        body: dict[str, Any] = {
            "messages": list(messages),
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        if adapter is not None:
            body["lora"] = [{"id": adapter, "scale": 1.0}]
        return str(self.post("/v1/chat/completions", body)["choices"][0]["message"]["content"])

    def prompt_tokens(self, messages: Any) -> list[int]:
        prompt = self.post("/apply-template", {"messages": list(messages)})["prompt"]
        tokens = self.post(
            "/tokenize", {"content": prompt, "add_special": False, "parse_special": True}
        )["tokens"]
        return [int(token) for token in tokens]

    def close(self) -> None:
        server, self._server = self._server, None
        del server
