"""Saved predictors: versioned folders under the project's state folder, one family per kind.

```
<state_dir>/<kind>/<name>/v<N>/manifest.json   what the artifact says about itself
<state_dir>/<kind>/<name>/v<N>/<data files>    its weights or arrays
```

An `ArtifactKind` is one family (`classifiers`, `routers`, fine-tuned `adapters`): it
resolves references (`name` for the newest version, `name@vN`, or a folder), lists names,
saves the next version (written to a staging folder, then renamed), reads and rewrites
manifests, and loads an artifact once per process while its files are unchanged.
A manifest this code cannot read (another format version, a missing field) is refused with
a message that says to retrain; a predictor over embeddings refuses another embedding model.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from stepladder.config.settings import CONFIG_FILE, load_project
from stepladder.errors import ConfigError
from stepladder.files import write_text_atomic
from stepladder.predictors.manifest import ArtifactManifest, EmbeddingInfo

if TYPE_CHECKING:
    from stepladder.retrieval.embeddings import EmbeddingFunction

__all__ = [
    "DEFAULT_STATE_DIR",
    "MANIFEST",
    "ArtifactKind",
    "check_embedder",
    "lookup_state_dir",
    "project_state_dir",
    "saved_versions",
]

DEFAULT_STATE_DIR = ".stepladder"
MANIFEST = "manifest.json"
_VERSION_DIR = re.compile(r"^v(\d+)$")
_REFERENCE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(@v(?P<version>\d+))?$")
M = TypeVar("M", bound=ArtifactManifest)
A = TypeVar("A")
_lock = threading.Lock()
_loaded: dict[tuple[str, str, tuple[int, ...]], Any] = {}


@dataclass(frozen=True)
class ArtifactKind(Generic[M]):
    """One family of saved artifacts.

    Attributes:
        what: What one is called in messages ("classifier").
        folder: Its folder under the state folder ("classifiers").
        manifest: Its manifest model.
        data_files: The files beside the manifest that loading reads.
        train_command: The command that trains one, `{name}` standing for its name.
    """

    what: str
    folder: str
    manifest: type[M]
    data_files: tuple[str, ...]
    train_command: str

    def home(self, state_dir: Path) -> Path:
        """Where a project keeps this kind (`<state_dir>/<folder>`)."""
        return state_dir / self.folder

    def names(self, state_dir: Path) -> list[str]:
        """The names saved in the project (those with at least one version)."""
        home = self.home(state_dir)
        return sorted(p.name for p in home.iterdir() if saved_versions(p)) if home.is_dir() else []

    def path(self, reference: str, state_dir: Path, version: int | None = None) -> Path:
        """The folder of `reference`: `name` (newest version), `name@vN`, or a folder path.

        Args:
            reference: NAME, NAME@vN, or a folder holding a manifest.
            state_dir: The project's state folder.
            version: A version of NAME, instead of one in the reference.

        Raises:
            ConfigError: If there is no such artifact, naming those there are.
        """
        match = _REFERENCE.match(reference)
        if match is None:
            folder = Path(reference)
            if (folder / MANIFEST).is_file():
                return folder
            raise ConfigError(f"no {self.what} at {folder}: it has no {MANIFEST}.")
        name, home = match["name"], self.home(state_dir)
        named = int(match["version"]) if match["version"] is not None else None
        wanted = version if version is not None else named
        versions = saved_versions(home / name)
        if wanted is None and versions:
            wanted = max(versions)
        if wanted in versions:
            return home / name / f"v{wanted}"
        known = ", ".join(self.names(state_dir)) or "(none)"
        listed = ", ".join(f"v{v}" for v in sorted(versions))
        hint = f"; trained versions: {listed}" if versions else ""
        asked = f" version {version}" if version is not None else ""
        raise ConfigError(
            f"no {self.what} '{reference}'{asked} in {home}{hint}. {self.folder.capitalize()} "
            f"here: {known}. Train one with `{self.train_command.format(name=name)}`."
        )

    def read_manifest(self, folder: Path) -> M:
        """Read and check the manifest in `folder` (no data files are read).

        Raises:
            ConfigError: If it is missing or unreadable, of another kind, or one this code
                cannot read (another format version, not valid): then the message says to
                retrain it.
        """
        file = folder / MANIFEST
        try:
            text = file.read_bytes()
        except OSError as error:
            raise ConfigError(f"{file}: cannot read the {self.what} manifest: {error}.") from error
        try:
            return self.manifest.model_validate_json(text)
        except ValueError as error:
            found = _format_of(text)
            expected = self.manifest.model_fields["format"].default
            if found is not None and found[0] != expected:
                problem = f"its format is '{found[0]}', not a {self.what}'s ('{expected}')."
                raise ConfigError(f"{file}: {problem}") from None
            expected_version = self.manifest.model_fields["format_version"].default
            if found is not None and found[1] != expected_version:
                problem = (
                    f"a {self.what} saved in format version {found[1]}; this version of "
                    f"stepladder reads format version {expected_version}"
                )
            else:
                first = " ".join(str(error).splitlines()[:3])
                problem = f"not a valid {self.what} manifest: {first}"
            name = folder.parent.name if _VERSION_DIR.match(folder.name) else folder.name
            retrain = self.train_command.format(name=name)
            raise ConfigError(f"{file}: {problem}. Retrain it with `{retrain}`.") from None

    def write_manifest(self, folder: Path, manifest: M) -> None:
        """Replace a saved artifact's manifest atomically (its data files do not change)."""
        write_text_atomic(folder / MANIFEST, manifest.model_dump_json(indent=2))

    def save(
        self, manifest: M, state_dir: Path, write_data: Callable[[Path], object]
    ) -> tuple[Path, M]:
        """Save as the next version of `manifest.name`.

        Args:
            manifest: The manifest; its version is replaced by the next one.
            state_dir: The project's state folder.
            write_data: Writes the data files into the folder it is given.

        Returns:
            The version's folder, and the manifest as saved.
        """
        home = self.home(state_dir) / manifest.name
        version = max(saved_versions(home), default=0) + 1
        manifest = manifest.model_copy(update={"version": version})
        home.mkdir(parents=True, exist_ok=True)
        staging = home / f".v{version}.tmp-{time.time_ns()}"
        staging.mkdir()
        try:
            write_data(staging)
            (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2), "utf-8")
            staging.rename(home / f"v{version}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return home / f"v{version}", manifest

    def load(self, folder: Path, build: Callable[[M], A], *, cache: bool = True) -> A:
        """`build(manifest)` for the artifact in `folder`.

        With `cache`, the result is kept for the process while the manifest and data files
        are unchanged (same modification times), so a retrained folder loads afresh.
        """
        if not cache:
            return build(self.read_manifest(folder))
        files = (MANIFEST, *self.data_files)
        key = (self.folder, str(folder.resolve()), tuple(_stamp(folder / f) for f in files))
        with _lock:
            if key in _loaded:
                return cast(A, _loaded[key])
        artifact = build(self.read_manifest(folder))
        with _lock:
            _loaded[key] = artifact
        return artifact


class EmbeddedManifest(Protocol):
    """A manifest of a predictor over embeddings."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def embedding(self) -> EmbeddingInfo: ...


def check_embedder(
    manifest: EmbeddedManifest, embedder: EmbeddingFunction | None, what: str
) -> None:
    """Refuse to predict with an embedding model other than the one trained with.

    Raises:
        ConfigError: If `embedder` is given and is another model.
    """
    if embedder is not None and embedder.name != manifest.embedding.name:
        raise ConfigError(
            f"{what} '{manifest.name}@v{manifest.version}' was trained with embedding model "
            f"'{manifest.embedding.name}', not '{embedder.name}': predicting with another "
            f"model gives meaningless answers. Use its model, or retrain the {what}."
        )


def _format_of(text: bytes) -> tuple[object, object] | None:
    """A manifest's `format` and `format_version`, if it is a JSON object."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return (data.get("format"), data.get("format_version")) if isinstance(data, dict) else None


def saved_versions(folder: Path) -> list[int]:
    """The version numbers saved under `folder` (`vN` folders holding a manifest)."""
    if not folder.is_dir():
        return []
    found = (_VERSION_DIR.match(p.name) for p in folder.iterdir())
    return [int(m[1]) for m in found if m and (folder / m[0] / MANIFEST).is_file()]


def project_state_dir(root: Path) -> Path:
    """The state folder of the project at `root` (from its stepladder.yaml, else the default)."""
    if (root / CONFIG_FILE).is_file():
        try:
            return load_project(root=root).state_dir
        except ConfigError:
            pass
    return root / DEFAULT_STATE_DIR


def lookup_state_dir(root: str | Path | None, reference: str, what: str) -> Path:
    """The state folder in which a flow's `reference` to a saved `what` is looked up.

    Args:
        root: The flow's project folder, if it belongs to one.
        reference: NAME, NAME@vN, or a folder.
        what: What is referred to ("classifier", "router"), for the message.

    Raises:
        ConfigError: When the flow belongs to no project and `reference` is not a folder.
    """
    if root is None and not Path(reference).is_dir():
        raise ConfigError(
            f"'{reference}' names a project {what}, but the flow belongs to no project; "
            f"compile it with project_root=..., or give the {what}'s folder."
        )
    return project_state_dir(Path(root)) if root is not None else Path(DEFAULT_STATE_DIR)


def _stamp(file: Path) -> int:
    return file.stat().st_mtime_ns if file.is_file() else -1
