"""What a model call costs: API models by tokens, self-hosted models by machine time.

API prices come from `prices:` in `stepladder.yaml`, else from LiteLLM's bundled price map
(`LITELLM_LOCAL_MODEL_COST_MAP=True` keeps it offline). A self-hosted tier is charged its share
of the machine's hourly price, so it is never $0.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stepladder.config.costs import DEFAULT_USD_PER_HOUR, MachineCost, TokenPrice
from stepladder.config.tiers import OpenAICompatibleTier, TierBase

__all__ = [
    "CallCost",
    "MachinePricer",
    "Pricer",
    "TokenPricer",
    "UnpricedModel",
    "lookup_token_price",
    "pricer_for",
]

logger = logging.getLogger(__name__)
MILLION = 1_000_000
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class CallCost:
    """A call's price and how it was worked out (`tokens`, `machine-tokens`, ...)."""

    usd: float
    basis: str


class Pricer(Protocol):
    """Prices one model call."""

    def price(
        self, prompt: int, completion: int, cached: int, started: float, ended: float
    ) -> CallCost:
        """The cost of a call with these token counts and monotonic start/end times."""
        ...


@dataclass(frozen=True)
class TokenPricer:
    """An API model: USD per million input, cached input and output tokens."""

    price_per_million: TokenPrice

    def price(
        self, prompt: int, completion: int, cached: int, started: float, ended: float
    ) -> CallCost:
        """Uncached input, cached input and output tokens at their rates."""
        rates = self.price_per_million
        cached_rate = rates.input if rates.cached is None else rates.cached
        uncached = max(prompt - cached, 0)
        usd = (uncached * rates.input + cached * cached_rate + completion * rates.output) / MILLION
        return CallCost(usd, "tokens")


class MachinePricer:
    """A self-hosted model: each call's share of the machine's hourly price.

    With `share: tokens` a call pays for its tokens at the machine's throughput: the
    configured `tokens_per_second`, else the throughput measured over this pricer's calls
    (tokens over the time the server was busy with at least one call).
    """

    def __init__(self, cost: MachineCost) -> None:
        self.cost = cost
        self._tokens = 0
        self._busy_seconds = 0.0
        self._busy_until = float("-inf")
        self._lock = threading.Lock()

    def price(
        self, prompt: int, completion: int, cached: int, started: float, ended: float
    ) -> CallCost:
        """The call's tokens at the throughput, or its wall seconds, at the hourly price."""
        per_second = self.cost.usd_per_hour / SECONDS_PER_HOUR
        seconds = max(ended - started, 0.0)
        throughput = self._measure(prompt + completion, started, ended)
        if self.cost.share == "seconds":
            return CallCost(seconds * per_second, "machine-seconds")
        tokens = prompt + completion
        if throughput <= 0:
            return CallCost(seconds * per_second, "machine-seconds")
        return CallCost(tokens / throughput * per_second, "machine-tokens")

    @property
    def measured_tokens_per_second(self) -> float:
        """Tokens per busy second over the calls priced so far (0 before any)."""
        with self._lock:
            return self._tokens / self._busy_seconds if self._busy_seconds > 0 else 0.0

    def _measure(self, tokens: int, started: float, ended: float) -> float:
        with self._lock:
            self._tokens += tokens
            self._busy_seconds += max(ended - max(started, self._busy_until), 0.0)
            self._busy_until = max(self._busy_until, ended)
            if self.cost.tokens_per_second is not None:
                return self.cost.tokens_per_second
            return self._tokens / self._busy_seconds if self._busy_seconds > 0 else 0.0


@dataclass(frozen=True)
class UnpricedModel:
    """An API model with no known price: recorded as $0 with basis `unpriced`."""

    model: str

    def price(
        self, prompt: int, completion: int, cached: int, started: float, ended: float
    ) -> CallCost:
        """Nothing known: $0, marked so reports can say so."""
        return CallCost(0.0, "unpriced")


def lookup_token_price(model: str, prices: Mapping[str, TokenPrice]) -> TokenPrice | None:
    """The price of `model` (`provider/name`) from `prices`, else from LiteLLM's price map."""
    bare = model.split("/", 1)[1] if "/" in model else model
    for name in (model, bare):
        if name in prices:
            return prices[name]
    try:
        # Lazy: LiteLLM's price table is slow to import; a price from it is the last resort.
        import litellm
    except ImportError:
        return None
    for name in (model, bare):
        entry = litellm.model_cost.get(name)
        if entry and entry.get("input_cost_per_token") is not None:
            cached = entry.get("cache_read_input_token_cost")
            return TokenPrice(
                input=float(entry["input_cost_per_token"]) * MILLION,
                output=float(entry.get("output_cost_per_token") or 0.0) * MILLION,
                cached=None if cached is None else float(cached) * MILLION,
            )
    return None


def pricer_for(
    settings: TierBase, model: str, prices: Mapping[str, TokenPrice] | None = None
) -> Pricer:
    """The pricer for a tier: its machine cost, or its model's token price for API tiers.

    Self-hosted tiers (llamacpp, sglang, openai-compatible without an API key) default to
    `DEFAULT_USD_PER_HOUR` of their runtime; `cost:` on the tier overrides that.
    """
    if settings.cost is not None:
        return MachinePricer(settings.cost)
    runtime = str(getattr(settings, "runtime", ""))
    self_hosted = runtime in ("llamacpp", "sglang") or (
        isinstance(settings, OpenAICompatibleTier) and settings.api_key_env is None
    )
    if self_hosted:
        return MachinePricer(MachineCost(usd_per_hour=DEFAULT_USD_PER_HOUR[runtime]))
    price = lookup_token_price(model, prices or {})
    if price is not None:
        return TokenPricer(price)
    if runtime:
        logger.warning("no price known for model %s: add it under `prices:`", model)
    return UnpricedModel(model)
