"""Fine-tuned LoRA adapters: versioned artifacts under `<state_dir>/adapters/` (`ADAPTERS`).

```
.stepladder/adapters/<name>/v<N>/manifest.json                 base model, nodes, data, ...
.stepladder/adapters/<name>/v<N>/peft/adapter_config.json      PEFT's folder (SGLang, vLLM)
.stepladder/adapters/<name>/v<N>/peft/adapter_model.safetensors
.stepladder/adapters/<name>/v<N>/adapter.gguf                  GGUF LoRA (llama.cpp)
```

The manifest says what the adapter was trained on: the base model (for the embedded tier, a
GGUF file and its sha256, which a tier must serve for the adapter to fit; for a GPU tier, a
model folder), the flow's nodes, the data (hash, counts by source, split sizes), the
hyper-parameters, the metrics before and after, the training time and peak memory.
`save_adapter` writes a version into a staging folder and renames it only once both exports
are complete, so nothing half-written is ever registered. Nodes name an adapter as `NAME`
(the newest version) or `NAME@vN`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from stepladder.config.tiers import LlamaCppTier, SGLangTier, TierBase
from stepladder.errors import ConfigError
from stepladder.predictors.artifacts import ArtifactKind
from stepladder.predictors.manifest import ArtifactManifest, ManifestPart
from stepladder.runtimes.adapters import AdapterLoad
from stepladder.runtimes.models import KNOWN_MODELS, model_sha256

__all__ = [
    "ADAPTERS",
    "FORMAT",
    "GGUF_FILE",
    "PEFT_DIR",
    "PEFT_FILES",
    "AdapterBase",
    "AdapterData",
    "AdapterFiles",
    "AdapterManifest",
    "SavedAdapter",
    "adapter_path",
    "base_for_tier",
    "list_adapters",
    "read_adapter_manifest",
    "save_adapter",
]

FORMAT: Literal["stepladder-adapter"] = "stepladder-adapter"
PEFT_DIR = "peft"
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
GGUF_FILE = "adapter.gguf"


class AdapterBase(ManifestPart):
    """The base model an adapter was trained on, and must be served on.

    A GGUF base (the embedded tier) is identified by its sha256; a GPU tier's base by its
    model folder.
    """

    architecture: str = Field(description="The model's architecture (`llama`).")
    model: str | None = Field(
        default=None, description="Its known model name (`smollm2-135m`), if it has one."
    )
    gguf_file: str | None = Field(default=None, description="The GGUF file's name.")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="The GGUF file's sha256."
    )
    folder: str | None = Field(
        default=None, description="A local model folder (GPU tiers), instead of a GGUF file."
    )

    @model_validator(mode="after")
    def _gguf_or_folder(self) -> AdapterBase:
        if (self.sha256 is None) == (self.folder is None):
            raise ValueError("a base is either a GGUF file (`sha256`) or a model `folder`")
        if self.sha256 is not None and self.gguf_file is None:
            raise ValueError("a GGUF base needs its `gguf_file` name")
        return self

    def describe(self) -> str:
        """The base for a message: its name or file, and a short sha256."""
        if self.folder is not None:
            return self.folder
        name = self.model or self.gguf_file or "a GGUF model"
        return f"{name} (sha256 {(self.sha256 or '')[:12]}...)"


class AdapterData(ManifestPart):
    """The examples an adapter was trained on."""

    hash: str = Field(description="sha256 over the examples, in order.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Examples by source (eval split, captures, reviews)."
    )
    train: int = Field(ge=0, description="Training examples.")
    validation: int = Field(ge=0, description="Validation examples.")


class AdapterManifest(ArtifactManifest):
    """What a saved adapter's `manifest.json` says."""

    format: Literal["stepladder-adapter"] = FORMAT
    format_version: Literal[1] = 1
    base: AdapterBase = Field(description="The base model it was trained on.")
    flow: str = Field(description="The flow whose nodes it was trained for.")
    nodes: list[str] = Field(min_length=1, description="The node ids it was trained for.")
    data: AdapterData = Field(description="The training data.")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="rank, alpha, learning rate, steps, seed, ..."
    )
    metrics_before: dict[str, float] | None = Field(
        default=None, description="The node's scores on the test split before tuning."
    )
    metrics_after: dict[str, float] | None = Field(
        default=None, description="The same scores with the adapter."
    )
    train_seconds: float = Field(ge=0, description="Wall time of the training.")
    peak_rss_gb: float = Field(ge=0, description="Peak resident memory of the training (GB).")

    @property
    def label(self) -> str:
        """`NAME@vN`: how traces, costs and servers name this version."""
        return f"{self.name}@v{self.version}"


ADAPTERS = ArtifactKind(
    what="adapter",
    folder="adapters",
    manifest=AdapterManifest,
    data_files=(GGUF_FILE, *(f"{PEFT_DIR}/{name}" for name in PEFT_FILES)),
    train_command="stepladder tune EVALSPEC --name {name} --node NODE",
)


@dataclass(frozen=True)
class AdapterFiles:
    """Where a version's exports go (in the staging folder while it is being saved)."""

    folder: Path

    @property
    def peft(self) -> Path:
        """The PEFT folder (`save_pretrained` writes here)."""
        return self.folder / PEFT_DIR

    @property
    def gguf(self) -> Path:
        """The GGUF LoRA file."""
        return self.folder / GGUF_FILE

    def missing(self, gguf: bool = True) -> list[str]:
        """The export files that are not there, or empty (the GGUF file only if `gguf`)."""
        wanted = [*(self.peft / name for name in PEFT_FILES), *([self.gguf] if gguf else [])]
        absent = [p for p in wanted if not p.is_file() or not p.stat().st_size]
        return [str(p.relative_to(self.folder)) for p in absent]


@dataclass(frozen=True)
class SavedAdapter:
    """A saved adapter version: its folder and manifest."""

    folder: Path
    manifest: AdapterManifest

    @property
    def label(self) -> str:
        """`NAME@vN`."""
        return self.manifest.label

    @property
    def key(self) -> str:
        """What tells it from other adapters: its folder, resolved."""
        return str(self.folder.resolve())

    @property
    def served_name(self) -> str:
        """Its name on an SGLang server: the label for a saved version, else label-hash."""
        manifest = self.manifest
        if self.folder.name == f"v{manifest.version}" and self.folder.parent.name == manifest.name:
            return self.label
        return f"{self.label}-{hashlib.sha256(self.key.encode()).hexdigest()[:8]}"

    @property
    def files(self) -> AdapterFiles:
        """Its exports."""
        return AdapterFiles(self.folder)

    def load(self, trusted: frozenset[str] = frozenset()) -> AdapterLoad:
        """What a tier's server needs to serve it.

        Args:
            trusted: Tiers whose base cannot be checked that serve it anyway (those the nodes
                naming it start on).
        """
        files = self.files
        return AdapterLoad(
            key=self.key,
            label=self.label,
            served_name=self.served_name,
            gguf=files.gguf if files.gguf.is_file() else None,
            peft=files.peft if (files.peft / PEFT_FILES[0]).is_file() else None,
            base_sha256=self.manifest.base.sha256,
            base_folder=self.manifest.base.folder,
            trusted=trusted,
        )


def adapter_path(reference: str, state_dir: Path) -> Path:
    """The folder of an adapter: `name` (newest version), `name@vN`, or a folder path.

    Raises:
        ConfigError: If there is none, naming those saved and the command that trains one.
    """
    return ADAPTERS.path(reference, state_dir)


def read_adapter_manifest(folder: Path) -> AdapterManifest:
    """Read and check an adapter's manifest.

    Raises:
        ConfigError: If it is missing, unreadable, or not an adapter manifest this code reads.
    """
    return ADAPTERS.read_manifest(folder)


def list_adapters(state_dir: Path) -> list[str]:
    """The names of the project's adapters (those with at least one saved version)."""
    return ADAPTERS.names(state_dir)


def save_adapter(
    manifest: AdapterManifest, state_dir: Path, write: Callable[[AdapterFiles], object]
) -> SavedAdapter:
    """Save the next version of `manifest.name`.

    Args:
        manifest: The manifest; its version is replaced by the next one.
        state_dir: The project's state folder.
        write: Writes the exports into the `AdapterFiles` it is given (a staging folder):
            the PEFT folder, and the GGUF file (required when the base is a GGUF model).

    Raises:
        ConfigError: If `write` left an export missing; nothing is registered then (nor
            when `write` raises, e.g. on a full disk).
    """

    def write_exports(staging: Path) -> None:
        files = AdapterFiles(staging)
        write(files)
        missing = files.missing(gguf=manifest.base.sha256 is not None)
        if missing:
            raise ConfigError(
                f"adapter '{manifest.name}' was not saved: its export wrote no "
                f"{', '.join(missing)}. Nothing was registered; train it again."
            )

    folder, saved = ADAPTERS.save(manifest, state_dir, write_exports)
    return SavedAdapter(folder, saved)


def base_for_tier(settings: TierBase, architecture: str, tier: str = "small") -> AdapterBase:
    """The base an adapter trained for a tier records (a GGUF's sha256, or a model folder).

    Args:
        settings: The tier's settings.
        architecture: The model's architecture (from the GGUF or the model's config).
        tier: The tier's name, for messages.

    Raises:
        ConfigError: When the tier serves no model an adapter can be trained on.
    """
    if isinstance(settings, LlamaCppTier):
        digest = model_sha256(settings.model)
        if digest is None:
            raise ConfigError(f"tier '{tier}': model file {settings.model} does not exist.")
        known = settings.model if settings.model in KNOWN_MODELS else None
        file = KNOWN_MODELS[known].filename if known else Path(settings.model).name
        return AdapterBase(architecture=architecture, model=known, gguf_file=file, sha256=digest)
    if isinstance(settings, SGLangTier) and settings.model_path is not None:
        return AdapterBase(architecture=architecture, folder=settings.model_path)
    raise ConfigError(
        f"tier '{tier}' ({getattr(settings, 'runtime', '?')}) serves no model stepladder can "
        "tune: tune a llamacpp tier (its GGUF) or an sglang tier with `model_path`."
    )
