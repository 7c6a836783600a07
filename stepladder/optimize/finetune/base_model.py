"""The base model a LoRA is trained on: a tier's GGUF file, or a local model folder.

An embedded (llamacpp) tier's GGUF loads straight into transformers (`gguf_file=`, which
de-quantizes the weights to fp32), so the adapter is trained on the very weights llama.cpp
serves, with no model hub. A GPU or OpenAI-compatible tier names a local model folder in the
Hugging Face layout (`tune.base_model`, or an sglang tier's `model_path` when it is a folder).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepladder.config.tiers import LiteLLMTier, LlamaCppTier, SGLangTier, TierSpec
from stepladder.config.tune import TuneSettings
from stepladder.errors import ConfigError, ModelError
from stepladder.retrieval.local_models import quiet_transformers
from stepladder.runtimes.models import ensure_model

__all__ = [
    "TUNE_INSTALL_HINT",
    "LoadedBaseModel",
    "base_model_source",
    "gguf_architecture",
    "load_base_model",
    "require_tune_extra",
]

TUNE_INSTALL_HINT = "pip install 'stepladder[tune]' (PEFT, gguf, accelerate and transformers)"
TUNE_MODULES = ("torch", "transformers", "peft", "gguf", "accelerate")


@dataclass(frozen=True)
class LoadedBaseModel:
    """A base model in torch, with its tokenizer.

    Attributes:
        model: The transformers causal LM (fp32, on the CPU unless moved).
        tokenizer: Its tokenizer, with the chat template the model is served with.
        source: The GGUF file or the model folder it came from.
        from_gguf: Whether `source` is a GGUF file (its q/k rows were un-permuted on load).
        architecture: transformers' model type (`llama`, `qwen2`, ...).
        load_seconds: How long loading took.
    """

    model: Any
    tokenizer: Any
    source: Path
    from_gguf: bool
    architecture: str
    load_seconds: float


def require_tune_extra() -> None:
    """Import the `tune` extra's packages.

    Raises:
        ConfigError: Naming the missing packages, with the install hint.
    """
    missing: list[str] = []
    for name in TUNE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"fine-tuning needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {TUNE_INSTALL_HINT}."
        )


def base_model_source(tier: TierSpec, tier_name: str, settings: TuneSettings) -> Path:
    """The GGUF file or model folder to train a LoRA on for `tier`.

    A llamacpp tier trains on its own GGUF (pulled into the model cache if needed), so the
    adapter fits the weights it is served with; other tiers need a local model folder.

    Raises:
        ConfigError: If the tier is an API model, or no local model folder is known.
    """
    if isinstance(tier, LlamaCppTier):
        return ensure_model(tier.model)
    if isinstance(tier, LiteLLMTier):
        raise ConfigError(
            f"tier '{tier_name}' is an API model ({tier.model}), whose weights cannot be tuned "
            f"here: tune a llamacpp, sglang or openai-compatible tier."
        )
    named = settings.base_model or (tier.model_path if isinstance(tier, SGLangTier) else None)
    if named is None or not Path(named).expanduser().is_dir():
        given = f" ('{named}' is not a folder here)" if named else ""
        raise ConfigError(
            f"tier '{tier_name}' ({tier.runtime}) is not served from a GGUF file, so a LoRA for "
            f"it trains on a local copy of its model{given}: set `tune.base_model` in "
            f"stepladder.yaml to a folder holding the model in the Hugging Face layout "
            f"(config.json, the weights and the tokenizer)."
        )
    return Path(named).expanduser()


def load_base_model(source: Path, device: str | None = None) -> LoadedBaseModel:
    """Load a GGUF file or a model folder into transformers, with its tokenizer.

    The model goes to `device` (default: the GPU when torch sees one, else the CPU).

    Raises:
        ConfigError: If the `tune` extra is missing, the source does not exist, or the GGUF's
            architecture is one transformers cannot load (named in the message).
        ModelError: If the file or folder is there but does not load.
    """
    require_tune_extra()
    # Lazy: torch and transformers are the optional `tune` extra.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # lazy: the `tune` extra

    if not source.exists():
        raise ConfigError(f"the base model {source} does not exist.")
    quiet_transformers()
    from_gguf = source.is_file()
    folder, options = (source.parent, {"gguf_file": source.name}) if from_gguf else (source, {})
    started = time.perf_counter()
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **options)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **options)
    except Exception as error:
        if from_gguf:
            _refuse_unsupported_architecture(source)
        raise ModelError(f"could not load the base model {source} for training: {error}") from error
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return LoadedBaseModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        from_gguf=from_gguf,
        architecture=str(model.config.model_type),
        load_seconds=time.perf_counter() - started,
    )


def gguf_architecture(path: Path) -> str:
    """The `general.architecture` a GGUF file declares (`llama`, `qwen2`, ...).

    Raises:
        ModelError: If the file is not a readable GGUF.
    """
    # Lazy: gguf is the optional `tune` extra.
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).get_field("general.architecture")
    except Exception as error:
        raise ModelError(f"{path} is not a readable GGUF file: {error}") from error
    if field is None:
        raise ModelError(f"{path} declares no general.architecture; it is not a model GGUF.")
    return str(field.contents())


def _refuse_unsupported_architecture(source: Path) -> None:
    # Lazy: transformers is the optional `tune` extra.
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    architecture = gguf_architecture(source)
    if architecture in GGUF_SUPPORTED_ARCHITECTURES:
        return
    supported = ", ".join(a for a in GGUF_SUPPORTED_ARCHITECTURES if a != "general")
    raise ConfigError(
        f"{source} is a '{architecture}' model, and transformers cannot load GGUF files of "
        f"that architecture for training (it loads: {supported}). Train on a tier whose model "
        f"has one of those architectures, or set `tune.base_model` to a local model folder."
    )
