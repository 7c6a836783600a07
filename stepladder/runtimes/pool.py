"""`ModelPool`: the runtimes of one run (or one eval, or one server), started once, shared.

Each tier a flow uses is started before the run begins, so a missing key, a missing model or
a server that is down is reported before any node runs. All nodes share one LM per tier.

Flows tell the pool the LoRA adapters their nodes name (`want_adapters`) before it starts
their tiers; each tier's server loads every wanted adapter whose base is the tier's own, and
requests pick one each. A tier already started when a new adapter it fits is wanted is
started again with all of them; the old server keeps answering the calls it has until the
pool closes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepladder.config.costs import MeasuredThroughput, TokenPrice
from stepladder.config.price_table import read_price_table
from stepladder.config.tiers import (
    LiteLLMTier,
    LlamaCppTier,
    OpenAICompatibleTier,
    SGLangTier,
    TierBase,
)
from stepladder.errors import ConfigError
from stepladder.runtimes.adapters import AdapterLoad, ServedBase, served_base, tier_loads
from stepladder.runtimes.base import Endpoint, Runtime, make_lm
from stepladder.runtimes.llamacpp import LlamaCppRuntime
from stepladder.runtimes.prices import MachinePricer, Pricer, pricer_for
from stepladder.runtimes.remote import LiteLLMRuntime, OpenAICompatibleRuntime
from stepladder.runtimes.sglang import SGLangRuntime

if TYPE_CHECKING:
    import dspy

    from stepladder.config.settings import Project

__all__ = ["BoundTier", "ModelPool", "runtime_for"]


def runtime_for(tier: str, settings: TierBase, adapters: tuple[AdapterLoad, ...] = ()) -> Runtime:
    """Build the runtime object a tier's settings describe (nothing is started).

    Args:
        tier: The tier's name.
        settings: Its settings.
        adapters: LoRA adapters its server loads (llamacpp and sglang tiers only).
    """
    if isinstance(settings, LlamaCppTier):
        return LlamaCppRuntime(settings, tier, adapters)
    if isinstance(settings, SGLangTier):
        return SGLangRuntime(settings, tier, adapters=adapters)
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

    def adapter_body(self, key: str) -> Mapping[str, Any] | None:
        """The request body fields that select the adapter `key` (its folder), if loaded here."""
        return self.endpoint.adapters.get(key)


class ModelPool:
    """Starts the tiers a run needs and hands out one shared LM per tier.

    Args:
        tiers: Tier settings by name (from `stepladder.yaml`).
        lms: Ready LMs by tier name (tests pass DSPy's `DummyLM` here); these need no runtime.
        prices: API model prices (USD per million tokens) overriding the built-in table.
        cache: Let DSPy answer repeated requests from its response cache (off by default).
        measured: Self-hosted tiers' entries in the project's price table (their throughput,
            from `stepladder models bench`), by tier name.
    """

    def __init__(
        self,
        tiers: Mapping[str, TierBase],
        lms: Mapping[str, Any] | None = None,
        prices: Mapping[str, TokenPrice] | None = None,
        cache: bool = False,
        measured: Mapping[str, MeasuredThroughput] | None = None,
    ) -> None:
        self.tiers = dict(tiers)
        self.prices = dict(prices or {})
        self.cache = cache
        self.measured = dict(measured or {})
        self._given = dict(lms or {})
        self._bound: dict[str, BoundTier] = {}
        self._runtimes: dict[str, Runtime] = {}
        self._retired: list[Runtime] = []
        self._wanted: dict[str, AdapterLoad] = {}
        self._bases: dict[str, ServedBase | None] = {}
        self._unchecked: set[str] = set()  # started tiers to check against newly wanted adapters
        self._generation = 0  # counts changes to the wanted adapters
        self._lock = asyncio.Lock()
        self._wanted_lock = threading.Lock()

    @classmethod
    def for_project(cls, project: Project, *, cache: bool = False) -> ModelPool:
        """A pool of the project's tiers, priced from its settings and price table.

        Raises:
            ConfigError: If the price table (`prices.yaml`) is not valid.
        """
        settings = project.settings
        table = read_price_table(project.root)
        return cls(settings.tiers, prices=settings.prices, cache=cache, measured=table.self_hosted)

    def pricing(self) -> dict[str, str]:
        """How each started self-hosted tier's calls are priced, in words, by tier name."""
        return {
            name: bound.pricer.describe()
            for name, bound in sorted(self._bound.items())
            if isinstance(bound.pricer, MachinePricer)
        }

    async def start(self, names: Iterable[str]) -> None:
        """Start every named tier now (in worker threads; servers may take a while)."""
        for name in sorted(set(names)):
            await self.bound(name)

    async def bound(self, name: str) -> BoundTier:
        """The started tier `name`, starting it on first use.

        A started tier is started again, with all its adapters, when an adapter it fits has
        been wanted since.

        Raises:
            ConfigError: If no such tier is configured.
        """
        bound = self._bound.get(name)
        if bound is not None and name not in self._unchecked:
            return bound
        async with self._lock:
            if name not in self._bound or name in self._unchecked:
                await asyncio.to_thread(self._start_or_restart, name)
        return self._bound[name]

    def want_adapters(self, adapters: Iterable[AdapterLoad]) -> None:
        """Have each tier whose base an adapter fits load it (from its next start on)."""
        with self._wanted_lock:
            for adapter in adapters:
                known = self._wanted.get(adapter.key)
                merged = adapter if known is None else known.merged(adapter)
                if merged != known:
                    self._wanted[adapter.key] = merged
                    self._generation += 1
                    self._unchecked.update(self._bound)

    def served_base(self, name: str) -> ServedBase | None:
        """The base model tier `name` serves, for adapters (None: a given LM, not known).

        Raises:
            ConfigError: If no such tier is configured.
        """
        if name in self._given:
            return None
        if name not in self._bases:
            self._bases[name] = served_base(self._settings(name))
        return self._bases[name]

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

    def _start_or_restart(self, name: str) -> None:
        """Start tier `name`, or start it again when it lacks an adapter it fits.

        Until the new server is bound, callers keep waiting for it (the tier stays
        unchecked), so no call goes to the old server without the adapter it asked for. A
        failed restart leaves the running server in place and is tried again next time.
        """
        with self._wanted_lock:
            generation = self._generation
        bound = self._bound.get(name)
        needed = {a.key for a in self._adapters_for(name)}
        if bound is None or not needed <= set(bound.endpoint.adapters):
            old = self._runtimes.get(name)
            self._bound[name] = self._start(name)
            if old is not None:
                self._retired.append(old)
        with self._wanted_lock:
            if self._generation == generation:
                self._unchecked.discard(name)
            else:  # an adapter was wanted while it started: check again on the next call
                self._unchecked.add(name)

    def _adapters_for(self, name: str) -> tuple[AdapterLoad, ...]:
        base = self.served_base(name)
        if base is None:
            return ()
        with self._wanted_lock:
            wanted = list(self._wanted.values())
        return tier_loads(name, base, wanted)

    def _settings(self, name: str) -> TierBase:
        if name not in self.tiers:
            bound = ", ".join(sorted({*self.tiers, *self._given})) or "(none)"
            raise ConfigError(
                f"tier '{name}' is not bound in stepladder.yaml; bound tiers: {bound}."
            )
        return self.tiers[name]

    def _start(self, name: str) -> BoundTier:
        if name in self._given:
            lm = self._given[name]
            endpoint = Endpoint(model=str(getattr(lm, "model", "given")), base_url=None,
                                api_key="", supports_logprobs=False)  # fmt: skip
            settings = self.tiers.get(name, TierBase())
            pricer = self._pricer(name, settings, endpoint)
            return BoundTier(name, settings, endpoint, lm, pricer, self.cache)
        settings = self._settings(name)
        runtime = runtime_for(name, settings, self._adapters_for(name))
        endpoint = runtime.start()
        self._runtimes[name] = runtime
        lm = make_lm(endpoint, settings, cache=self.cache)
        pricer = self._pricer(name, settings, endpoint)
        return BoundTier(name, settings, endpoint, lm, pricer, self.cache)

    def _pricer(self, name: str, settings: TierBase, endpoint: Endpoint) -> Pricer:
        return pricer_for(settings, endpoint.model, self.prices, self.measured.get(name), name)

    def close(self) -> None:
        """Stop every runtime this pool started."""
        for runtime in [*self._runtimes.values(), *self._retired]:
            runtime.stop()
        self._runtimes.clear()
        self._retired.clear()
        self._bound.clear()

    async def __aenter__(self) -> ModelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)
