"""Sample LoRA adapters for tests: manifests, placeholder exports, and a random GGUF LoRA.

`random_lora_gguf` writes what llama.cpp's `convert_lora_to_gguf.py` writes for a llama
model (general.type `adapter`, adapter.type `lora`, adapter.lora.alpha, tensors
`blk.N.<target>.weight.lora_a` [rank, n_in] and `.lora_b` [n_out, rank]), with random
weights: large enough that greedy answers change, which is all a serving test needs.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from stepladder.predictors.adapters import (
    AdapterBase,
    AdapterData,
    AdapterFiles,
    AdapterManifest,
    SavedAdapter,
    save_adapter,
)
from stepladder.predictors.manifest import created_now
from stepladder.runtimes.models import KNOWN_MODELS

SMOLLM = KNOWN_MODELS["smollm2-135m"]
SMOLLM_BASE = AdapterBase(
    architecture="llama", model=SMOLLM.name, gguf_file=SMOLLM.filename, sha256=SMOLLM.sha256
)


def sample_manifest(name: str, base: AdapterBase = SMOLLM_BASE) -> AdapterManifest:
    """A manifest as `stepladder tune` would write it (the version is set when saved)."""
    return AdapterManifest(
        name=name,
        created=created_now(),
        base=base,
        flow="support",
        nodes=["reply"],
        data=AdapterData(
            hash="0" * 64, counts={"evalset:train": 36, "captures": 4}, train=36, validation=4
        ),
        hyperparameters={"rank": 8, "alpha": 16, "learning_rate": 0.002},
        metrics_before={"accuracy": 0.24},
        metrics_after={"accuracy": 0.9},
        train_seconds=12.5,
        peak_rss_gb=1.25,
    )


def placeholder_exports(files: AdapterFiles, gguf: bool = True) -> None:
    """Non-empty stand-ins for the exports (for tests that never load them)."""
    files.peft.mkdir(parents=True, exist_ok=True)
    (files.peft / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    (files.peft / "adapter_model.safetensors").write_bytes(b"weights")
    if gguf:
        files.gguf.write_bytes(b"GGUF")


def save_sample(
    state_dir: Path, name: str, base: AdapterBase = SMOLLM_BASE, gguf: Path | None = None
) -> SavedAdapter:
    """Save an adapter version: placeholder exports, or a real GGUF file copied in."""

    def write(files: AdapterFiles) -> None:
        placeholder_exports(files)
        if gguf is not None:
            files.gguf.write_bytes(gguf.read_bytes())

    return save_adapter(sample_manifest(name, base), state_dir, write)


def random_lora_gguf(
    path: Path,
    base_gguf: Path,
    *,
    rank: int = 8,
    scale: float = 0.05,
    seed: int = 0,
    targets: tuple[str, ...] = ("attn_q", "attn_v"),
) -> Path:
    """Write a random LoRA adapter for the llama GGUF model `base_gguf` (shapes read from it)."""
    reader = gguf.GGUFReader(str(base_gguf))
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    layers = int(reader.fields["llama.block_count"].contents())
    random = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    for layer in range(layers):
        for target in targets:
            n_in, n_out = shapes[f"blk.{layer}.{target}.weight"]  # GGUF order: [n_in, n_out]
            name = f"blk.{layer}.{target}.weight"
            a = random.standard_normal((rank, n_in)) * scale
            b = random.standard_normal((n_out, rank)) * scale
            writer.add_tensor(f"{name}.lora_a", a.astype(np.float32))
            writer.add_tensor(f"{name}.lora_b", b.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
