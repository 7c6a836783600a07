"""Secrets read from the environment, remembered so traces and logs can mask them."""

from __future__ import annotations

import threading

__all__ = ["MASK", "register_secret", "scrub"]

MASK = "[secret]"
MIN_SECRET_LENGTH = 8

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember `value` (an API key) so `scrub` masks it wherever it appears."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `[secret]`."""
    if not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
