"""What a model call costs: API models by tokens, self-hosted models by machine time.

API prices come from `prices:` in `stepladder.yaml`, else from LiteLLM's bundled price map
(`LITELLM_LOCAL_MODEL_COST_MAP=True` keeps it offline). A self-hosted tier is charged its share
of the machine's hourly price, so it is never $0: the seconds its tokens take at a throughput
measured once (the tier's `cost.tokens_per_second`, else its entry in the project's price
table written by `stepladder models bench`, else the model's default below), not the call's
wall time, so CPU load does not move cost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stepladder.config.costs import (
    DEFAULT_USD_PER_HOUR,
    MachineCost,
    MeasuredThroughput,
    Throughput,
    TokenPrice,
)
from stepladder.config.price_table import PRICE_TABLE_FILE
from stepladder.config.tiers import OpenAICompatibleTier, TierBase
from stepladder.runtimes.models import KNOWN_MODELS

__all__ = [
    "DEFAULT_THROUGHPUT",
    "RUNTIME_THROUGHPUT",
    "CallCost",
    "MachinePricer",
    "Pricer",
    "TokenPricer",
    "UnpricedModel",
    "lookup_token_price",
    "pricer_for",
    "self_hosted_throughput",
]

logger = logging.getLogger(__name__)
MILLION = 1_000_000
SECONDS_PER_HOUR = 3600.0

DEFAULT_THROUGHPUT: dict[tuple[str, str], tuple[Throughput, str]] = {
    # `stepladder models bench small` (4 requests a round, 2 in flight) on a 2-core x86_64 VM
    # shared with other jobs (load 4-5): 207-445 prompt and 48-87 completion tokens/s over 3
    # runs; benchmarks/README.md's runtime benchmark saw ~100 completion tokens/s on 2 idle cores.
    ("llamacpp", "smollm2-135m"): (
        Throughput(prompt_tokens_per_second=300.0, completion_tokens_per_second=90.0),
        "default for smollm2-135m on 2 CPU cores (2 threads): run `stepladder models bench` "
        "for this machine's",
    ),
}
"""Throughput of known models on their usual runtime, by (runtime, model), and its origin."""

RUNTIME_THROUGHPUT: dict[str, Throughput] = {
    "llamacpp": Throughput(prompt_tokens_per_second=100.0, completion_tokens_per_second=10.0),
    "sglang": Throughput(prompt_tokens_per_second=10_000.0, completion_tokens_per_second=1_000.0),
    "openai-compatible": Throughput(
        prompt_tokens_per_second=10_000.0, completion_tokens_per_second=1_000.0
    ),
}
"""Rough guesses for a model nothing is known of (a ~1B model on a few CPU cores; a small model
batched on one GPU); a warning asks for `stepladder models bench TIER`."""


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


@dataclass(frozen=True)
class MachinePricer:
    """A self-hosted model: the machine time a call's tokens take, at the hourly price.

    With `share: tokens` (the default) a call is charged its prompt and completion tokens at
    a stored throughput (`throughput`, which `source` explains), never its wall time, so the
    same tokens always cost the same. With `share: seconds` it is charged its wall time.
    """

    cost: MachineCost
    throughput: Throughput
    source: str = ""

    def price(
        self, prompt: int, completion: int, cached: int, started: float, ended: float
    ) -> CallCost:
        """The call's tokens at the throughput (or its wall seconds) at the hourly price."""
        per_second = self.cost.usd_per_hour / SECONDS_PER_HOUR
        if self.cost.share == "seconds":
            return CallCost(max(ended - started, 0.0) * per_second, "machine-seconds")
        # Cached prompt tokens count like the others: which slot's cache a call found
        # depends on scheduling, and cost must not.
        return CallCost(self.throughput.seconds(prompt, completion) * per_second, "machine-tokens")

    def describe(self) -> str:
        """The machine-hour basis in words, for reports (`$0.10/h at 180 prompt + ...`)."""
        hourly = f"${self.cost.usd_per_hour:g}/h machine"
        if self.cost.share == "seconds":
            return f"{hourly}, each call charged its wall seconds (this moves with load)"
        rates = self.throughput
        return (
            f"{hourly} at {rates.prompt_tokens_per_second:.4g} prompt + "
            f"{rates.completion_tokens_per_second:.4g} completion tokens/s ({self.source})"
        )


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
    settings: TierBase,
    model: str,
    prices: Mapping[str, TokenPrice] | None = None,
    measured: MeasuredThroughput | None = None,
    tier: str = "",
) -> Pricer:
    """The pricer for a tier: its machine cost, or its model's token price for API tiers.

    Self-hosted tiers (llamacpp, sglang, openai-compatible without an API key) are charged
    `DEFAULT_USD_PER_HOUR` of their runtime, or the price table's, or their own `cost:`, at
    the throughput `self_hosted_throughput` picks.

    Args:
        settings: The tier's settings.
        model: The model name the endpoint uses.
        prices: API model prices overriding LiteLLM's.
        measured: The tier's entry in the project's price table, if it has one.
        tier: The tier's name, for messages.
    """
    runtime = str(getattr(settings, "runtime", ""))
    self_hosted = runtime in ("llamacpp", "sglang") or (
        isinstance(settings, OpenAICompatibleTier) and settings.api_key_env is None
    )
    if settings.cost is not None or self_hosted:
        if measured is not None and measured.model != settings.model_name:
            logger.warning(
                "tier %s: the price table's throughput was measured for model %s, but the tier "
                "serves %s; it is not used: run `stepladder models bench %s` again",
                tier, measured.model, settings.model_name or "-", tier or "TIER",
            )  # fmt: skip
            measured = None
        cost = settings.cost or MachineCost(
            usd_per_hour=measured.usd_per_hour
            if measured is not None
            else DEFAULT_USD_PER_HOUR.get(runtime, DEFAULT_USD_PER_HOUR["openai-compatible"])
        )
        by_tokens = cost.share == "tokens"
        throughput, source = self_hosted_throughput(settings, measured, tier, warn=by_tokens)
        return MachinePricer(cost, throughput, source)
    price = lookup_token_price(model, prices or {})
    if price is not None:
        return TokenPricer(price)
    if runtime:
        logger.warning("no price known for model %s: add it under `prices:`", model)
    return UnpricedModel(model)


def self_hosted_throughput(
    settings: TierBase, measured: MeasuredThroughput | None, tier: str = "", warn: bool = True
) -> tuple[Throughput, str]:
    """The throughput a self-hosted tier's calls are priced at, and where it comes from.

    In order: the tier's `cost.tokens_per_second`; its price table entry (`stepladder models
    bench`); the default of its model (`DEFAULT_THROUGHPUT`); a rough one for its runtime
    (logged as a warning when `warn`).
    """
    if settings.cost is not None and settings.cost.tokens_per_second is not None:
        rate = settings.cost.tokens_per_second
        return Throughput(
            prompt_tokens_per_second=rate, completion_tokens_per_second=rate
        ), "tokens_per_second in stepladder.yaml"
    if measured is not None:
        rates = Throughput(
            prompt_tokens_per_second=measured.prompt_tokens_per_second,
            completion_tokens_per_second=measured.completion_tokens_per_second,
        )
        if not measured.measured_at:
            return rates, f"the price table, {PRICE_TABLE_FILE}"
        where = f" on {measured.machine}" if measured.machine else ""
        return rates, f"measured by `stepladder models bench` {measured.measured_at[:10]}{where}"
    runtime = str(getattr(settings, "runtime", ""))
    known = DEFAULT_THROUGHPUT.get((runtime, _known_name(settings.model_name)))
    if known is not None:
        return known
    if warn:
        logger.warning(
            "tier %s: no measured throughput for model %s; its calls are priced at a rough "
            "default: run `stepladder models bench %s`",
            tier, settings.model_name or "-", tier or "TIER",
        )  # fmt: skip
    rates = RUNTIME_THROUGHPUT.get(runtime, RUNTIME_THROUGHPUT["openai-compatible"])
    return rates, f"rough default for {runtime or 'a self-hosted server'}, not measured"


def _known_name(model: str) -> str:
    """A known model's name for `model` (its name, or its cached file's path)."""
    if model in KNOWN_MODELS:
        return model
    filename = Path(model).name
    return next((e.name for e in KNOWN_MODELS.values() if e.filename == filename), model)
