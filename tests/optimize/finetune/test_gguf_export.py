"""The two adapter exports agree: transformers + the PEFT folder, llama.cpp + the GGUF adapter.

One adapter is trained quickly on the toy task (high learning rate, a few steps, so greedy
answers change), exported both ways, and served by a real llama.cpp server (xllamacpp) on the
unchanged SmolLM2 GGUF, picked per request with the `lora` field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stepladder.config.tune import TuneSettings
from stepladder.optimize.finetune.encoding import prompt_ids
from stepladder.optimize.finetune.gguf_export import AdapterExport, export_adapter
from stepladder.optimize.finetune.trainer import train_lora
from tests.optimize.finetune.conftest import (
    NEW_WORDS,
    TOY_WORDS,
    LlamaServer,
    toy_examples,
    toy_messages,
)

pytestmark = pytest.mark.slow

PROMPT_WORDS = [words[i] for i in range(4) for words in TOY_WORDS.values()] + NEW_WORDS
"""24 prompts: 12 words trained on, 12 never seen."""
MAX_TOKENS = 12


@dataclass(frozen=True)
class Exported:
    files: AdapterExport
    peft_state: dict[str, Any]


@pytest.fixture(scope="module")
def exported(base_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    from peft import get_peft_model_state_dict

    settings = TuneSettings(batch_size=8, learning_rate=3e-3, max_steps=8, epochs=10, validation=0)
    trained = train_lora(base_model, toy_examples(), [], settings, threads=1, show_progress=False)
    try:
        folder = tmp_path_factory.mktemp("adapter")
        files = export_adapter(trained.model, folder / "peft", folder / "adapter.gguf")
        state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(trained.model).items()}
    finally:
        trained.unload()
    return Exported(files=files, peft_state=state)


@pytest.fixture(scope="module")
def server(gguf_path: Path, exported: Exported) -> Iterator[LlamaServer]:
    started = LlamaServer(gguf_path, [exported.files.gguf_file])
    yield started
    started.close()


def _greedy(model: Any, tokenizer: Any, messages: Any) -> str:
    import torch

    ids = torch.tensor([prompt_ids(tokenizer, messages)])
    with torch.no_grad():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_TOKENS, do_sample=False
        )
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore:Could not find a config file")
def test_greedy_answers_agree_between_the_two_exports(
    base_model: Any, exported: Exported, server: LlamaServer
) -> None:
    import torch
    from peft import PeftModel

    torch.set_num_threads(1)
    prompts = [toy_messages(word) for word in PROMPT_WORDS]
    tuned = PeftModel.from_pretrained(base_model.model, str(exported.files.peft_dir))
    try:
        tuned.eval()
        from_transformers = [_greedy(tuned, base_model.tokenizer, m) for m in prompts]
    finally:
        tuned.unload()
    from_llamacpp = [server.chat(m, adapter=0, max_tokens=MAX_TOKENS).strip() for m in prompts]
    on_base = [server.chat(m, max_tokens=MAX_TOKENS).strip() for m in prompts]

    agree = [a == b for a, b in zip(from_transformers, from_llamacpp, strict=True)]
    changed = [a != b for a, b in zip(from_llamacpp, on_base, strict=True)]
    shown = "\n".join(
        f"{w}: hf={a!r} llama.cpp={b!r} base={c!r}"
        for w, a, b, c in zip(PROMPT_WORDS, from_transformers, from_llamacpp, on_base, strict=True)
    )
    print(f"exports agree on {sum(agree)}/{len(agree)}; adapter changed {sum(changed)}")
    assert sum(agree) >= 20, shown
    # The adapter is what llama.cpp answered with: without it, the base answers otherwise.
    assert sum(changed) >= 20, shown
    assert sum(_is_category_json(answer) for answer in from_llamacpp) >= 20, shown
    assert sum(_is_category_json(answer) for answer in on_base) <= 2, shown


def _is_category_json(text: str) -> bool:
    try:
        return set(json.loads(text)) == {"category"}
    except (ValueError, TypeError):
        return False


@pytest.mark.parametrize(
    "messages",
    [
        toy_messages("apple"),
        [{"role": "user", "content": "No system message here."}],
        [
            {"role": "system", "content": "Answer in JSON. Fields: label."},
            {"role": "user", "content": "Demo: «café» — 3 €"},
            {"role": "assistant", "content": '{"label": "price"}'},
            {"role": "user", "content": "Next:\n  two lines\tand a tab"},
        ],
    ],
    ids=["system-user", "user-only", "with-demos-and-unicode"],
)
def test_the_training_prompt_is_the_served_prompt(
    base_model: Any, server: LlamaServer, messages: Any
) -> None:
    # llama.cpp renders the GGUF's chat template and tokenizes it; the trainer must build the
    # very same tokens, or training and serving would see different prompts.
    assert prompt_ids(base_model.tokenizer, messages) == server.prompt_tokens(messages)


def test_q_and_k_updates_follow_the_gguf_bases_row_order(
    base_model: Any, gguf_path: Path, exported: Exported
) -> None:
    from gguf import GGUFReader, dequantize

    config = base_model.model.config
    base_file = GGUFReader(gguf_path)
    adapter_file = GGUFReader(exported.files.gguf_file)
    base_tensors = {t.name: t for t in base_file.tensors}
    adapter_tensors = {t.name: np.array(t.data) for t in adapter_file.tensors}
    layer = config.num_hidden_layers - 1
    for short, hf_name in [("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj")]:
        tensor = base_tensors[f"blk.{layer}.{short}.weight"]
        in_file = dequantize(tensor.data, tensor.tensor_type)
        in_torch = getattr(base_model.model.model.layers[layer].self_attn, hf_name)
        in_torch = in_torch.weight.detach().numpy()
        # Which torch row each row of the GGUF base holds: llama.cpp's own order.
        order = _row_order(in_file, in_torch)
        if short == "attn_v":
            assert (order == np.arange(len(order))).all()
        else:
            assert not (order == np.arange(len(order))).all()
        prefix = f"base_model.model.model.layers.{layer}.self_attn.{hf_name}"
        lora_a = exported.peft_state[f"{prefix}.lora_A.weight"].numpy()
        lora_b = exported.peft_state[f"{prefix}.lora_B.weight"].numpy()
        assert np.array_equal(adapter_tensors[f"blk.{layer}.{short}.weight.lora_a"], lora_a)
        # B's rows in the base's row order, so B @ A adds to the right rows of the GGUF weight.
        assert np.array_equal(adapter_tensors[f"blk.{layer}.{short}.weight.lora_b"], lora_b[order])


def _row_order(permuted: Any, original: Any) -> Any:
    lookup = {row.tobytes(): index for index, row in enumerate(original)}
    assert len(lookup) == len(original)
    return np.array([lookup[row.tobytes()] for row in permuted])


def test_the_gguf_adapter_declares_a_lora_for_the_base(base_model: Any, exported: Exported) -> None:
    from gguf import GGUFReader

    reader = GGUFReader(exported.files.gguf_file)

    def value(key: str) -> Any:
        field = reader.get_field(key)
        assert field is not None, key
        return field.contents()

    assert value("general.architecture") == "llama"
    assert value("general.type") == "adapter"
    assert value("adapter.type") == "lora"
    assert value("adapter.lora.alpha") == pytest.approx(32.0)
    layers = base_model.model.config.num_hidden_layers
    assert exported.files.tensors == layers * 7  # q k v o gate up down, per layer
    assert len(reader.tensors) == 2 * layers * 7
    config = json.loads((exported.files.peft_dir / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 32
    assert (exported.files.peft_dir / "adapter_model.safetensors").is_file()
