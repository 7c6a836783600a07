"""A trained LoRA written twice: as a PEFT folder (SGLang, vLLM) and as a GGUF adapter (llama.cpp).

The GGUF adapter follows llama.cpp's own LoRA converter: `general.type` = `adapter`,
`adapter.type` = `lora`, `adapter.lora.alpha`, and for each adapted weight the tensors
`<gguf weight name>.lora_a` ([rank, in], as PEFT holds A) and `.lora_b` ([out, rank]), in fp32.
llama.cpp scales the update by alpha / rank, as PEFT does.

llama.cpp stores the q and k projections of llama-family models with their rows permuted (its
converter interleaves the two halves of each head for its RoPE); transformers undoes that when
it loads such a GGUF, so PEFT's `lora_b` for q and k is in the Hugging Face row order and gets
the same permutation here. A's columns follow the input, which is not permuted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.errors import ConfigError
from stepladder.optimize.finetune.base_model import require_tune_extra

__all__ = [
    "GGUF_ARCHITECTURES",
    "AdapterExport",
    "export_adapter",
    "save_peft_adapter",
    "write_gguf_adapter",
]

GGUF_ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "llama": ("llama", True),
    "mistral": ("llama", True),
    "qwen2": ("qwen2", False),
    "qwen3": ("qwen3", False),
}
"""transformers model type -> (llama.cpp architecture, whether its q/k rows are permuted)."""

PEFT_PREFIX = "base_model.model."
LORA_SUFFIXES = {".lora_A.weight": "lora_a", ".lora_B.weight": "lora_b"}


@dataclass(frozen=True)
class AdapterExport:
    """Where an adapter was written.

    Attributes:
        peft_dir: The PEFT folder (`adapter_config.json`, `adapter_model.safetensors`).
        gguf_file: The GGUF LoRA adapter for llama.cpp.
        architecture: The llama.cpp architecture it is for.
        tensors: How many LoRA pairs (adapted weights) it holds.
    """

    peft_dir: Path
    gguf_file: Path
    architecture: str
    tensors: int


def export_adapter(model: Any, peft_dir: Path, gguf_file: Path) -> AdapterExport:
    """Write a PEFT model's adapter as a PEFT folder and as a GGUF adapter.

    Raises:
        ConfigError: If the base model's architecture has no GGUF adapter layout here, or
            the adapter holds more than LoRA pairs.
    """
    save_peft_adapter(model, peft_dir)
    architecture, pairs = write_gguf_adapter(model, gguf_file)
    return AdapterExport(
        peft_dir=peft_dir, gguf_file=gguf_file, architecture=architecture, tensors=pairs
    )


def save_peft_adapter(model: Any, folder: Path) -> Path:
    """Save the adapter in PEFT's format (what SGLang's `--lora-paths` loads)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), save_embedding_layers=False)
    return folder


def write_gguf_adapter(model: Any, path: Path) -> tuple[str, int]:
    """Write the adapter as a GGUF LoRA adapter for llama.cpp; return (architecture, pairs).

    The file is written under a temporary name and renamed when complete.

    Raises:
        ConfigError: As `export_adapter`.
    """
    require_tune_extra()
    # Lazy: gguf and PEFT are the optional `tune` extra.
    import gguf
    from peft import get_peft_model_state_dict  # lazy: the `tune` extra

    config = model.peft_config[model.active_adapter]
    base_config = model.get_base_model().config
    architecture, permuted = _architecture(str(base_config.model_type))
    pairs = _lora_pairs(get_peft_model_state_dict(model, save_embedding_layers=False))
    names = gguf.get_tensor_name_map(
        {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[architecture],
        int(base_config.num_hidden_layers),
    )
    heads = {
        "attn_q": int(base_config.num_attention_heads),
        "attn_k": int(getattr(base_config, "num_key_value_heads", None) or 0)
        or int(base_config.num_attention_heads),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(str(staging), architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, _llamacpp_alpha(config))
        for module, (lora_a, lora_b) in sorted(pairs.items()):
            target = names.get_name(module)
            if target is None:
                raise ConfigError(
                    f"the adapter adapts '{module}', which has no llama.cpp tensor name for "
                    f"'{architecture}' models: train it with other target modules."
                )
            kind = target.rsplit(".", 1)[-1]
            if permuted and kind in heads:
                lora_b = _permute_rows(lora_b, heads[kind])
            writer.add_tensor(f"{target}.weight.lora_a", lora_a)
            writer.add_tensor(f"{target}.weight.lora_b", lora_b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    return architecture, len(pairs)


def _architecture(model_type: str) -> tuple[str, bool]:
    try:
        return GGUF_ARCHITECTURES[model_type]
    except KeyError:
        known = ", ".join(sorted(GGUF_ARCHITECTURES))
        raise ConfigError(
            f"no GGUF adapter layout for '{model_type}' models here (known: {known}); the PEFT "
            f"adapter can still be served by SGLang or vLLM."
        ) from None


def _lora_pairs(state: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """PEFT's state dict as {HF module name: (A [rank, in], B [out, rank])} in fp32 numpy."""
    halves: dict[str, dict[str, Any]] = {}
    for key, tensor in state.items():
        suffix = next((s for s in LORA_SUFFIXES if key.endswith(s)), None)
        if suffix is None:
            raise ConfigError(
                f"the adapter holds '{key}', which is not a LoRA A or B matrix; only plain "
                f"LoRA adapters (no trained embeddings or extra modules) can be written as GGUF."
            )
        module = key.removeprefix(PEFT_PREFIX).removesuffix(suffix)
        weights = tensor.detach().float().cpu().numpy()
        halves.setdefault(module, {})[LORA_SUFFIXES[suffix]] = weights
    return {module: (pair["lora_a"], pair["lora_b"]) for module, pair in halves.items()}


def _llamacpp_alpha(config: Any) -> float:
    """The alpha llama.cpp needs to scale like PEFT: it always scales by alpha / rank."""
    if config.rank_pattern or config.alpha_pattern:
        raise ConfigError(
            "the adapter has per-layer ranks or alphas, which a GGUF adapter cannot express."
        )
    alpha = float(config.lora_alpha)
    return alpha * math.sqrt(config.r) if config.use_rslora else alpha


def _permute_rows(weight: Any, heads: int) -> Any:
    """llama.cpp's q/k row order: within each head, the two halves' rows interleaved."""
    rows = weight.shape[0]
    split = weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
    return split.swapaxes(1, 2).reshape(weight.shape)
