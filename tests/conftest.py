"""Shared fixtures: no network, offline model hubs, and a helper to make projects."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach beyond the loopback interface."""


def _is_local(host: Any) -> bool:
    if host is None or host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Fail any test that connects or resolves a name beyond loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise NetworkBlocked(f"tests must not use the network (tried {address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = real_getaddrinfo


def write_project(root: Path, files: dict[str, str], settings: str = "name: test\n") -> Path:
    """Create a project folder with `stepladder.yaml` and the given files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stepladder.yaml").write_text(settings, encoding="utf-8")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def embedded_pool() -> Iterator[Any]:
    """A model pool with the real embedded llama.cpp server as tier `small` (one per session)."""
    import asyncio

    from stepladder.config.tiers import LlamaCppTier
    from stepladder.runtimes import ModelPool

    pool = ModelPool({"small": LlamaCppTier(runtime="llamacpp", max_tokens=128)})
    asyncio.run(pool.start(["small"]))
    yield pool
    pool.close()
