"""Writing files so that a reader never sees half of one: a leaf module everyone may use."""

from __future__ import annotations

import secrets
from pathlib import Path

__all__ = ["write_text_atomic"]


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
