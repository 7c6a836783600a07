"""What every runtime provides: start, an OpenAI-compatible endpoint, stop."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stepladder.config.secrets import register_secret
from stepladder.config.tiers import TierBase
from stepladder.errors import ConfigError

if TYPE_CHECKING:
    import dspy

__all__ = ["Endpoint", "Runtime", "make_lm", "read_api_key"]

LOCAL_API_KEY = "stepladder-local"


@dataclass(frozen=True)
class Endpoint:
    """Where a started runtime answers.

    Attributes:
        model: The model name in DSPy/LiteLLM form (`openai/<served name>` for local servers).
        base_url: The OpenAI-compatible base URL (ending in /v1), or None for provider APIs.
        api_key: The key to send (a placeholder for local servers).
        supports_logprobs: Whether token log-probabilities can be requested.
        display_name: A short model name for reports.
        extra_body: Fields every request sends in its body (beyond the OpenAI ones).
        adapters: The LoRA adapters the server loaded, by key (their folder): the body
            fields that select each (they replace `extra_body` on that request).
    """

    model: str
    base_url: str | None
    api_key: str
    supports_logprobs: bool = True
    display_name: str = ""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    adapters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class Runtime(Protocol):
    """A model runtime bound to one tier."""

    def start(self) -> Endpoint:
        """Start (or connect to) the model server and return its endpoint."""
        ...

    def stop(self) -> None:
        """Stop whatever `start` started (a no-op for remote servers)."""
        ...


def read_api_key(variable: str | None, tier: str) -> str:
    """Read an API key from the environment variable the tier names.

    Raises:
        ConfigError: Naming the variable, when it is not set.
    """
    if variable is None:
        return LOCAL_API_KEY
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            f"tier '{tier}' needs an API key in the environment variable {variable}, which is "
            f"not set. Export {variable}=... (keys never go in stepladder.yaml), or bind the "
            "tier to another runtime."
        )
    register_secret(value)
    return value


def make_lm(endpoint: Endpoint, settings: TierBase, **overrides: Any) -> dspy.LM:
    """A `dspy.LM` for an endpoint (no DSPy caching, no hidden retries: nodes retry)."""
    # Lazy: DSPy takes seconds to import, so it loads when the first tier is started.
    import dspy

    kwargs: dict[str, Any] = {
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout_s,
        "cache": False,
        "num_retries": 0,
        "api_key": endpoint.api_key,
    }
    if endpoint.base_url is not None:
        kwargs["api_base"] = endpoint.base_url
    if endpoint.extra_body:
        kwargs["extra_body"] = dict(endpoint.extra_body)
    kwargs.update(overrides)
    return dspy.LM(endpoint.model, **kwargs)
