"""Where a project keeps saved artifacts (classifiers, routers), and their version folders."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from stepladder.errors import ConfigError

__all__ = [
    "DEFAULT_STATE_DIR",
    "MANIFEST",
    "lookup_state_dir",
    "project_state_dir",
    "read_manifest_file",
    "saved_versions",
    "write_text_atomic",
]

DEFAULT_STATE_DIR = ".stepladder"
MANIFEST = "manifest.json"
_VERSION_DIR = re.compile(r"^v(\d+)$")
Manifest = TypeVar("Manifest", bound=BaseModel)


def read_manifest_file(folder: Path, model: type[Manifest], what: str) -> Manifest:
    """Read and check the manifest of a saved `what` ("classifier", "router").

    Raises:
        ConfigError: If it is missing, unreadable or not a valid manifest.
    """
    file = folder / MANIFEST
    try:
        return model.model_validate_json(file.read_bytes())
    except OSError as error:
        raise ConfigError(f"{file}: cannot read the {what} manifest: {error}.") from error
    except ValueError as error:
        first = " ".join(str(error).splitlines()[:3])
        raise ConfigError(f"{file}: not a valid {what} manifest: {first}.") from None


def saved_versions(folder: Path) -> list[int]:
    """The version numbers saved under `folder` (`vN` folders holding a manifest)."""
    if not folder.is_dir():
        return []
    found = (_VERSION_DIR.match(p.name) for p in folder.iterdir())
    return [int(m[1]) for m in found if m and (folder / m[0] / MANIFEST).is_file()]


def project_state_dir(root: Path) -> Path:
    """The state folder of the project at `root` (from its stepladder.yaml, else the default)."""
    from stepladder.config.settings import CONFIG_FILE, load_project

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


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` (folders created) through a temporary file of its own.

    A reader never sees half a file, and two writers never share the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
