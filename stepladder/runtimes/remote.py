"""Runtimes that only connect: any OpenAI-compatible server, and frontier APIs (LiteLLM names)."""

from __future__ import annotations

from stepladder.config.tiers import LiteLLMTier, OpenAICompatibleTier
from stepladder.runtimes.base import Endpoint, read_api_key

__all__ = ["LiteLLMRuntime", "OpenAICompatibleRuntime"]


class OpenAICompatibleRuntime:
    """Connects to a running server that speaks the OpenAI chat API."""

    def __init__(self, settings: OpenAICompatibleTier, tier: str) -> None:
        self.settings = settings
        self.tier = tier

    def start(self) -> Endpoint:
        """Return the endpoint (the key is read from its variable now, before any call)."""
        return Endpoint(
            model=f"openai/{self.settings.model}",
            base_url=self.settings.base_url.rstrip("/"),
            api_key=read_api_key(self.settings.api_key_env, self.tier),
            display_name=self.settings.model,
        )

    def stop(self) -> None:
        """Nothing to stop."""


class LiteLLMRuntime:
    """A frontier model by provider/model name; the key comes from an environment variable."""

    def __init__(self, settings: LiteLLMTier, tier: str) -> None:
        self.settings = settings
        self.tier = tier

    def start(self) -> Endpoint:
        """Return the endpoint, failing early with the variable's name if the key is missing."""
        return Endpoint(
            model=self.settings.model,
            base_url=self.settings.base_url,
            api_key=read_api_key(self.settings.api_key_env, self.tier),
            supports_logprobs=False,
            display_name=self.settings.model,
        )

    def stop(self) -> None:
        """Nothing to stop."""
