"""Which arithmetic a training uses: bf16 autocast where the hardware runs it natively.

`precision: auto` (the default) picks bf16 on a CUDA GPU that supports it and on a CPU with
native bfloat16 instructions (`avx512_bf16` or `amx_bf16` in `/proc/cpuinfo`), where it is
faster and holds less memory than fp32; elsewhere fp32, since emulated bf16 is slower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

__all__ = ["CPU_BF16_FLAGS", "cpu_has_native_bf16", "training_precision"]

CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (Linux `/proc/cpuinfo`) of instructions that compute in bfloat16."""
CPUINFO = Path("/proc/cpuinfo")


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU computes bfloat16 natively (False where `/proc/cpuinfo` is unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not CPU_BF16_FLAGS.isdisjoint(line.partition(":")[2].split())
    return False


def training_precision(setting: str, device: Any) -> Literal["fp32", "bf16"]:
    """The precision a training runs in, `auto` resolved for the model's device.

    Args:
        setting: `tune.precision`: `auto`, `fp32` or `bf16`.
        device: The `torch.device` the model is on.
    """
    if setting == "fp32":
        return "fp32"
    if setting == "bf16":
        return "bf16"
    if device.type == "cuda":
        # Lazy: torch is the optional `tune` extra.
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
