"""`ModelPool`: the runtimes of one run (or one eval, or one server), started once, shared.

Each tier a flow uses is started before the run begins, so a missing key, a missing model or
a server that is down is reported before any node runs. All nodes share one LM per tier.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepladder.config.costs import TokenPrice
from stepladder.config.tiers import (
    LiteLLMTier,
    LlamaCppTier,
    OpenAICompatibleTier,
    SGLangTier,
    TierBase,
)
from stepladder.errors import ConfigError
from stepladder.runtimes.base import Endpoint, Runtime, make_lm
from stepladder.runtimes.llamacpp import LlamaCppRuntime
from stepladder.runtimes.prices import Pricer, pricer_for
from stepladder.runtimes.remote import LiteLLMRuntime, OpenAICompatibleRuntime
from stepladder.runtimes.sglang import SGLangRuntime

if TYPE_CHECKING:
    import dspy

__all__ = ["BoundTier", "ModelPool", "runtime_for"]


def runtime_for(tier: str, settings: TierBase) -> Runtime:
    """Build the runtime object a tier's settings describe (nothing is started)."""
    if isinstance(settings, LlamaCppTier):
        return LlamaCppRuntime(settings, tier)
    if isinstance(settings, SGLangTier):
        return SGLangRuntime(settings, tier)
    if isinstance(settings, OpenAICompatibleTier):
        return OpenAICompatibleRuntime(settings, tier)
    if isinstance(settings, LiteLLMTier):
        return LiteLLMRuntime(settings, tier)
    raise ConfigError(f"tier '{tier}': unsupported runtime {type(settings).__name__}.")


@dataclass(frozen=True)
class BoundTier:
    """A started tier: its settings, endpoint, DSPy LM and the pricer of its calls."""

    name: str
    settings: TierBase
    endpoint: Endpoint
    lm: dspy.LM
    pricer: Pricer
    cache: bool = False

    def answered_from_cache(self, prompt_tokens: int, completion_tokens: int) -> bool:
        """Whether a call came from DSPy's response cache (it reports no usage then)."""
        return self.cache and prompt_tokens + completion_tokens == 0


class ModelPool:
    """Starts the tiers a run needs and hands out one shared LM per tier.

    Args:
        tiers: Tier settings by name (from `stepladder.yaml`).
        lms: Ready LMs by tier name (tests pass DSPy's `DummyLM` here); these need no runtime.
        prices: API model prices (USD per million tokens) overriding the built-in table.
        cache: Let DSPy answer repeated requests from its response cache (off by default).
    """

    def __init__(
        self,
        tiers: Mapping[str, TierBase],
        lms: Mapping[str, Any] | None = None,
        prices: Mapping[str, TokenPrice] | None = None,
        cache: bool = False,
    ) -> None:
        self.tiers = dict(tiers)
        self.prices = dict(prices or {})
        self.cache = cache
        self._given = dict(lms or {})
        self._bound: dict[str, BoundTier] = {}
        self._runtimes: dict[str, Runtime] = {}
        self._lock = asyncio.Lock()

    async def start(self, names: Iterable[str]) -> None:
        """Start every named tier now (in worker threads; servers may take a while)."""
        for name in sorted(set(names)):
            await self.bound(name)

    async def bound(self, name: str) -> BoundTier:
        """The started tier `name`, starting it on first use.

        Raises:
            ConfigError: If no such tier is configured.
        """
        if name in self._bound:
            return self._bound[name]
        async with self._lock:
            if name not in self._bound:
                self._bound[name] = await asyncio.to_thread(self._start, name)
        return self._bound[name]

    def unavailable(self, name: str) -> str | None:
        """Why tier `name` cannot start for want of an API key (None: nothing known against it).

        A fresh machine has no frontier key: an escalating node skips such a rung.
        """
        if name in self._bound or name in self._given:
            return None
        variable = getattr(self.tiers.get(name), "api_key_env", None)
        if variable and not os.environ.get(variable):
            return f"its API key variable {variable} is not set"
        return None

    async def lm(self, name: str) -> dspy.LM:
        """The shared LM of tier `name`."""
        return (await self.bound(name)).lm

    def _start(self, name: str) -> BoundTier:
        if name in self._given:
            lm = self._given[name]
            endpoint = Endpoint(model=str(getattr(lm, "model", "given")), base_url=None,
                                api_key="", supports_logprobs=False)  # fmt: skip
            settings = self.tiers.get(name, TierBase())
            pricer = self._pricer(settings, endpoint)
            return BoundTier(name, settings, endpoint, lm, pricer, self.cache)
        if name not in self.tiers:
            bound = ", ".join(sorted({*self.tiers, *self._given})) or "(none)"
            raise ConfigError(
                f"tier '{name}' is not bound in stepladder.yaml; bound tiers: {bound}."
            )
        settings = self.tiers[name]
        runtime = runtime_for(name, settings)
        endpoint = runtime.start()
        self._runtimes[name] = runtime
        lm = make_lm(endpoint, settings, cache=self.cache)
        return BoundTier(name, settings, endpoint, lm, self._pricer(settings, endpoint), self.cache)

    def _pricer(self, settings: TierBase, endpoint: Endpoint) -> Pricer:
        return pricer_for(settings, endpoint.model, self.prices)

    def close(self) -> None:
        """Stop every runtime this pool started."""
        for runtime in self._runtimes.values():
            runtime.stop()
        self._runtimes.clear()
        self._bound.clear()

    async def __aenter__(self) -> ModelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)
