"""LoRA adapters served on a tier's unchanged base model, picked per request.

A flow hands the pool the adapters its nodes name (`AdapterLoad`: the files, and the base
model they were trained on); the pool gives each tier the adapters whose base is the tier's
own (`fits`), and the tier's server loads them all when it starts:

- llama.cpp (`llamacpp`): every GGUF adapter, at scale 0; each request names its adapters,
  `"lora": [{"id": i, "scale": 1.0}]` for adapter `i` and `"lora": [{"id": 0, "scale": 0.0}]`
  for the base (see `stepladder.runtimes.llamacpp` for why the base says so too).
- SGLang (`sglang`): a launched server gets `--enable-lora --lora-paths NAME@vN=PEFT_FOLDER`;
  a request picks one with `"lora_path": "NAME@vN"`. A connected server is trusted to have
  been launched with the same names (its base cannot be checked from here).

An adapter is known by its folder (`key`): two folders never share a server's slot for one,
even with one label (a candidate `stepladder tune` is still testing, beside saved versions).

A tier's base (`ServedBase`) is a GGUF file's sha256 (llamacpp), a model folder (a launched
SGLang server), unchecked (a connected SGLang server), or none (API and OpenAI-compatible
tiers, which serve no adapters).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from stepladder.config.tiers import LlamaCppTier, SGLangTier, TierBase
from stepladder.runtimes.models import model_sha256

__all__ = ["AdapterLoad", "ServedBase", "fits", "same_folder", "served_base", "tier_loads"]

BaseKind = Literal["gguf", "folder", "unchecked", "none"]


@dataclass(frozen=True)
class AdapterLoad:
    """An adapter a tier's server may load.

    Attributes:
        key: Its folder (resolved): what tells adapters apart.
        label: `NAME@vN`: what traces and costs show.
        served_name: What an SGLang server knows it by (`--lora-paths`, `lora_path`): the
            label for a saved version, the label and a hash of the folder for another folder.
        gguf: Its GGUF LoRA file (llama.cpp), if exported.
        peft: Its PEFT folder (SGLang), if exported.
        base_sha256: The sha256 of the GGUF base it was trained on, if any.
        base_folder: The model folder it was trained on (GPU tiers), if any.
        trusted: Tiers whose base cannot be checked (a connected SGLang server) that serve it
            anyway: those the nodes naming it start on.
    """

    key: str
    label: str
    served_name: str
    gguf: Path | None = None
    peft: Path | None = None
    base_sha256: str | None = None
    base_folder: str | None = None
    trusted: frozenset[str] = field(default_factory=frozenset)

    def merged(self, other: AdapterLoad) -> AdapterLoad:
        """This adapter, trusted on the tiers of both."""
        return replace(self, trusted=self.trusted | other.trusted)


@dataclass(frozen=True)
class ServedBase:
    """The base model a tier serves, as far as adapters are concerned.

    Attributes:
        kind: `gguf` (checked by sha256), `folder` (a launched SGLang server's model),
            `unchecked` (a connected SGLang server) or `none` (serves no adapters).
        sha256: The GGUF file's sha256 (kind `gguf`).
        folder: The model folder or name (kind `folder`).
        description: What it is, for messages.
    """

    kind: BaseKind
    sha256: str | None = None
    folder: str | None = None
    description: str = ""


def served_base(settings: TierBase) -> ServedBase:
    """The base model a tier's settings serve (a GGUF tier's file is hashed once, then kept)."""
    if isinstance(settings, LlamaCppTier):
        digest = model_sha256(settings.model)
        shown = f"{settings.model} (sha256 {digest[:12]}...)" if digest else settings.model
        return ServedBase("gguf", sha256=digest, description=shown)
    if isinstance(settings, SGLangTier):
        if settings.model_path is not None:
            path = settings.model_path
            return ServedBase("folder", folder=path, description=path)
        return ServedBase("unchecked", description=f"the SGLang server at {settings.base_url}")
    runtime = getattr(settings, "runtime", type(settings).__name__)
    return ServedBase("none", description=f"a {runtime} tier ({settings.model_name})")


def fits(tier: str, base: ServedBase, load: AdapterLoad) -> bool:
    """Whether `tier`, serving `base`, can serve the adapter (its files and base fit)."""
    if base.kind == "gguf":
        return load.gguf is not None and base.sha256 is not None and load.base_sha256 == base.sha256
    if base.kind == "folder":
        return load.peft is not None and same_folder(load.base_folder, base.folder)
    if base.kind == "unchecked":
        return load.peft is not None and tier in load.trusted
    return False


def same_folder(a: str | None, b: str | None) -> bool:
    """Whether two model folders (or hub names) are the same model."""
    if a is None or b is None:
        return False
    if a == b:
        return True
    left, right = Path(a).expanduser(), Path(b).expanduser()
    return left.exists() and right.exists() and left.resolve() == right.resolve()


def tier_loads(
    tier: str, base: ServedBase, wanted: Iterable[AdapterLoad]
) -> tuple[AdapterLoad, ...]:
    """The wanted adapters that `tier` serves, by label (a stable order: ids follow it)."""
    served = (w for w in wanted if fits(tier, base, w))
    return tuple(sorted(served, key=lambda w: (w.label, w.key)))
