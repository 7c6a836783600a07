"""Secrets read from the environment, remembered so traces and logs can mask them.

A value is masked once it is registered: by `register_secret` (a tier reading its key, the
service reading its bearer token) or by `register_environment`, which tracing and settings call
when they start, so secrets are masked from a command's first span. It registers the variables
a project names (`api_key_env`) and every environment variable whose name ends in `_KEY`,
`_TOKEN` or `_SECRET`. Values shorter than `MIN_SECRET_LENGTH` are never masked (they would
mask ordinary words).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_SUFFIXES",
    "has_secrets",
    "register_environment",
    "register_secret",
    "scrub",
    "scrub_value",
]

MASK = "[secret]"
MIN_SECRET_LENGTH = 8
SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")

_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, so a key containing another is masked whole
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember `value` (an API key) so `scrub` masks it wherever it appears."""
    global _ordered
    if len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def register_environment(
    variables: Iterable[str | None] = (), environ: Mapping[str, str] | None = None
) -> None:
    """Register the values of `variables` and of every `*_KEY`, `*_TOKEN`, `*_SECRET` variable.

    Args:
        variables: Names of variables holding secrets (say, the tiers' `api_key_env`); None
            and unset names are skipped.
        environ: Where to read them (default: `os.environ`).
    """
    environ = os.environ if environ is None else environ
    for name in variables:
        if name and environ.get(name):
            register_secret(environ[name])
    for name, value in environ.items():
        if name.upper().endswith(SECRET_SUFFIXES):
            register_secret(value)


def has_secrets() -> bool:
    """Whether any secret is registered (nothing needs scrubbing otherwise)."""
    return bool(_ordered)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `[secret]`."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub_value(value: Any) -> Any:
    """`value` with secrets masked in its strings, inside tuples, lists and dicts too.

    Values without a secret are returned as they are (the same object).
    """
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (tuple, list)):
        items = [scrub_value(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return type(value)(items)
        return value
    if isinstance(value, dict):
        cleaned = {key: scrub_value(item) for key, item in value.items()}
        if any(cleaned[key] is not item for key, item in value.items()):
            return cleaned
        return value
    return value
