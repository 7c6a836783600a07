"""Where a project keeps saved artifacts (classifiers, routers), and their version folders."""

from __future__ import annotations

import re
from pathlib import Path

from stepladder.errors import ConfigError

__all__ = ["DEFAULT_STATE_DIR", "MANIFEST", "project_state_dir", "saved_versions"]

DEFAULT_STATE_DIR = ".stepladder"
MANIFEST = "manifest.json"
_VERSION_DIR = re.compile(r"^v(\d+)$")


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
