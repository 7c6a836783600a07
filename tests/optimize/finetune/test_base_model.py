"""Where the base model comes from, and the clear errors when it cannot be trained on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stepladder.config.tiers import (
    LiteLLMTier,
    LlamaCppTier,
    OpenAICompatibleTier,
    SGLangTier,
)
from stepladder.config.tune import TuneSettings
from stepladder.errors import ConfigError
from stepladder.optimize.finetune.base_model import (
    TUNE_INSTALL_HINT,
    base_model_source,
    gguf_architecture,
    load_base_model,
    require_tune_extra,
)
from stepladder.optimize.finetune.encoding import prompt_ids
from stepladder.optimize.finetune.gguf_export import export_adapter
from stepladder.optimize.finetune.trainer import train_lora
from tests.optimize.finetune.conftest import toy_examples


def test_a_missing_tune_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A None entry in sys.modules makes `import peft` fail, as if it were not installed.
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ConfigError) as caught:
        require_tune_extra()
    message = str(caught.value)
    assert "peft" in message and "pip install 'stepladder[tune]'" in message
    assert TUNE_INSTALL_HINT in message
    with pytest.raises(ConfigError, match=r"stepladder\[tune\]"):
        load_base_model(tmp_path / "model.gguf")
    with pytest.raises(ConfigError, match=r"stepladder\[tune\]"):
        train_lora(None, [], [], TuneSettings())  # type: ignore[arg-type]


def _write_gguf(path: Path, architecture: str) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_name("tiny")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.slow
def test_a_gguf_transformers_cannot_load_names_its_architecture(tmp_path: Path) -> None:
    model = _write_gguf(tmp_path / "odd.gguf", "frobnicator")
    assert gguf_architecture(model) == "frobnicator"
    with pytest.raises(ConfigError) as caught:
        load_base_model(model)
    message = str(caught.value)
    assert "'frobnicator'" in message
    assert "llama" in message  # the architectures it can load are listed
    assert "tune.base_model" in message


def test_a_missing_base_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_base_model(tmp_path / "absent.gguf")


def test_a_llamacpp_tier_trains_on_its_own_gguf(tmp_path: Path) -> None:
    model = _write_gguf(tmp_path / "mine.gguf", "llama")
    tier = LlamaCppTier(runtime="llamacpp", model=str(model))
    assert base_model_source(tier, "small", TuneSettings()) == model


def test_other_tiers_name_a_local_model_folder(tmp_path: Path) -> None:
    served = OpenAICompatibleTier(
        runtime="openai-compatible", base_url="http://127.0.0.1:9/v1", model="m"
    )
    with pytest.raises(ConfigError, match=r"tier 'local'.*set `tune.base_model`"):
        base_model_source(served, "local", TuneSettings())
    with pytest.raises(ConfigError, match="'/no/such/folder' is not a folder here"):
        base_model_source(served, "local", TuneSettings(base_model="/no/such/folder"))
    assert base_model_source(served, "local", TuneSettings(base_model=str(tmp_path))) == tmp_path

    gpu = SGLangTier(runtime="sglang", model_path=str(tmp_path))
    assert base_model_source(gpu, "gpu", TuneSettings()) == tmp_path
    api = LiteLLMTier(runtime="litellm", model="openai/gpt-4.1-mini", api_key_env="KEY")
    with pytest.raises(ConfigError, match="tier 'frontier' is an API model"):
        base_model_source(api, "frontier", TuneSettings())


@pytest.mark.slow
def test_a_model_folder_trains_and_exports_both_ways(base_model: Any, tmp_path: Path) -> None:
    # A GPU or OpenAI-compatible tier's base: a model folder in the Hugging Face layout. A tiny
    # random llama with the real tokenizer (and its chat template) stands in for the model.
    import torch
    from gguf import GGUFReader
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path / "tiny-llama"
    config = LlamaConfig(
        vocab_size=len(base_model.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    base_model.tokenizer.save_pretrained(folder)

    loaded = load_base_model(folder)
    assert not loaded.from_gguf and loaded.architecture == "llama"
    messages = toy_examples()[0].messages
    assert prompt_ids(loaded.tokenizer, messages) == prompt_ids(base_model.tokenizer, messages)

    settings = TuneSettings(batch_size=2, max_steps=2, rank=4, alpha=8, validation=0)
    trained = train_lora(loaded, toy_examples()[:4], [], settings, threads=1, show_progress=False)
    assert trained.result.steps == 2
    files = export_adapter(trained.model, tmp_path / "peft", tmp_path / "adapter.gguf")
    assert (files.architecture, files.tensors) == ("llama", 2 * 7)
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in GGUFReader(files.gguf_file).tensors}
    # GGUF lists shapes innermost first: A is [rank, in] in torch, [in, rank] here.
    assert shapes["blk.0.attn_q.weight.lora_a"] == (32, 4)
    assert shapes["blk.0.attn_q.weight.lora_b"] == (4, 32)
    assert shapes["blk.1.attn_k.weight.lora_b"] == (4, 16)  # 2 kv heads of 8
    assert shapes["blk.1.ffn_down.weight.lora_a"] == (64, 4)
