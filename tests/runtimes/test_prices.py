"""Cost arithmetic: API token prices, self-hosted machine shares, and which tier gets which."""

import pytest

from stepladder.config.costs import MachineCost, MeasuredThroughput, Throughput, TokenPrice
from stepladder.config.tiers import LiteLLMTier, LlamaCppTier, OpenAICompatibleTier, SGLangTier
from stepladder.runtimes.prices import (
    DEFAULT_THROUGHPUT,
    MachinePricer,
    TokenPricer,
    UnpricedModel,
    lookup_token_price,
    pricer_for,
)


def test_token_price_charges_cached_input_at_its_own_rate() -> None:
    pricer = TokenPricer(TokenPrice(input=2.0, output=8.0, cached=0.5))
    cost = pricer.price(prompt=1000, completion=200, cached=400, started=0.0, ended=1.0)
    # 600 uncached * $2/M + 400 cached * $0.5/M + 200 out * $8/M
    assert cost.usd == pytest.approx((600 * 2.0 + 400 * 0.5 + 200 * 8.0) / 1e6)
    assert cost.basis == "tokens"


def test_cached_tokens_default_to_the_input_rate() -> None:
    cost = TokenPricer(TokenPrice(input=1.0, output=0.0)).price(100, 0, 100, 0.0, 0.0)
    assert cost.usd == pytest.approx(100 / 1e6)


RATES = Throughput(prompt_tokens_per_second=1000, completion_tokens_per_second=100)


def test_machine_seconds_share_is_wall_time_at_the_hourly_price() -> None:
    pricer = MachinePricer(MachineCost(usd_per_hour=3.6, share="seconds"), RATES)
    cost = pricer.price(500, 50, 0, started=10.0, ended=12.5)
    assert cost.usd == pytest.approx(2.5 * 0.001)
    assert cost.basis == "machine-seconds"


def test_machine_token_share_uses_the_configured_throughput() -> None:
    tier = LlamaCppTier(
        runtime="llamacpp", cost=MachineCost(usd_per_hour=7.2, tokens_per_second=1000)
    )
    pricer = pricer_for(tier, "openai/smollm2")
    cost = pricer.price(800, 200, 0, started=0.0, ended=30.0)
    # 1000 tokens at 1000 tokens/s is one machine-second at $0.002/s, however long the call.
    assert cost.usd == pytest.approx(0.002)
    assert cost.basis == "machine-tokens"


def test_the_same_tokens_cost_the_same_whatever_the_wall_time() -> None:
    pricer = MachinePricer(MachineCost(usd_per_hour=3.6), RATES)
    quick = pricer.price(1000, 100, 0, started=0.0, ended=0.1)
    loaded = pricer.price(1000, 100, 0, started=0.0, ended=9.0)  # a busy machine
    overlapping = pricer.price(1000, 100, 400, started=0.05, ended=3.0)  # cache hits too
    # 1000 prompt tokens at 1000/s + 100 completion tokens at 100/s: 2 machine-seconds.
    assert quick.usd == loaded.usd == overlapping.usd == pytest.approx(2 * 0.001)
    assert "$3.6/h machine at 1000 prompt + 100 completion tokens/s" in pricer.describe()


def test_the_price_table_gives_throughput_and_hourly_price() -> None:
    measured = MeasuredThroughput(
        model="smollm2-135m", runtime="llamacpp", usd_per_hour=0.36,
        prompt_tokens_per_second=200, completion_tokens_per_second=20,
        measured_at="2026-12-06T23:00:00Z", machine="2 CPU cores",
    )  # fmt: skip
    pricer = pricer_for(LlamaCppTier(runtime="llamacpp"), "openai/x", measured=measured)
    assert isinstance(pricer, MachinePricer) and pricer.cost.usd_per_hour == 0.36
    assert pricer.price(200, 20, 0, 0.0, 99.0).usd == pytest.approx(2 * 0.0001)
    assert "measured by `stepladder models bench` 2026-12-06 on 2 CPU cores" in pricer.describe()
    # the tier's own cost wins over the table's hourly price, not over its throughput
    own = LlamaCppTier(runtime="llamacpp", cost=MachineCost(usd_per_hour=0.72))
    mine = pricer_for(own, "openai/x", measured=measured)
    assert mine.price(200, 20, 0, 0.0, 0.0).usd == pytest.approx(4 * 0.0001)
    # an entry measured for another model is stale: the model's default applies
    other = LlamaCppTier(runtime="llamacpp", model="/models/other.gguf")
    stale = pricer_for(other, "openai/x", measured=measured)
    assert isinstance(stale, MachinePricer) and "rough default" in stale.source


def test_known_models_have_a_default_throughput_with_its_origin() -> None:
    pricer = pricer_for(LlamaCppTier(runtime="llamacpp"), "openai/smollm2")
    assert isinstance(pricer, MachinePricer)
    assert pricer.throughput == DEFAULT_THROUGHPUT[("llamacpp", "smollm2-135m")][0]
    assert "default for smollm2-135m" in pricer.describe()
    by_file = pricer_for(
        LlamaCppTier(runtime="llamacpp", model="/cache/SmolLM2-135M-Instruct.Q4_1.gguf"), "m"
    )
    assert isinstance(by_file, MachinePricer) and by_file.throughput == pricer.throughput


def test_self_hosted_tiers_are_never_free() -> None:
    llamacpp = pricer_for(LlamaCppTier(runtime="llamacpp"), "openai/smollm2")
    sglang = pricer_for(SGLangTier(runtime="sglang", base_url="http://gpu/v1"), "openai/m")
    local = pricer_for(
        OpenAICompatibleTier(runtime="openai-compatible", base_url="http://x/v1", model="m"), "m"
    )
    assert isinstance(llamacpp, MachinePricer) and llamacpp.cost.usd_per_hour == 0.10
    assert isinstance(sglang, MachinePricer) and sglang.cost.usd_per_hour == 2.50
    assert isinstance(local, MachinePricer)
    assert llamacpp.price(100, 10, 0, 0.0, 1.0).usd > 0


def test_a_tier_cost_overrides_the_default() -> None:
    tier = LlamaCppTier(runtime="llamacpp", cost=MachineCost(usd_per_hour=0.5, share="seconds"))
    pricer = pricer_for(tier, "openai/smollm2")
    assert isinstance(pricer, MachinePricer)
    assert pricer.price(0, 0, 0, 0.0, 3600.0).usd == pytest.approx(0.5)


def test_api_models_are_priced_from_the_table_then_litellm() -> None:
    tier = LiteLLMTier(runtime="litellm", model="openai/gpt-4o-mini", api_key_env="K")
    builtin = pricer_for(tier, "openai/gpt-4o-mini")
    assert isinstance(builtin, TokenPricer)
    assert builtin.price_per_million.input == pytest.approx(0.15)
    assert builtin.price_per_million.output == pytest.approx(0.60)
    override = {"openai/gpt-4o-mini": TokenPrice(input=1.0, output=2.0)}
    mine = pricer_for(tier, "openai/gpt-4o-mini", override)
    assert isinstance(mine, TokenPricer) and mine.price_per_million.input == 1.0


def test_an_unknown_api_model_is_marked_unpriced() -> None:
    tier = LiteLLMTier(runtime="litellm", model="acme/brand-new", api_key_env="K")
    pricer = pricer_for(tier, "acme/brand-new")
    assert isinstance(pricer, UnpricedModel)
    assert pricer.price(10, 10, 0, 0.0, 1.0).basis == "unpriced"
    assert lookup_token_price("acme/brand-new", {}) is None


def test_prices_in_settings_load_from_yaml() -> None:
    from stepladder.config.settings import Settings

    settings = Settings.model_validate(
        {
            "prices": {"openai/gpt-4.1-mini": {"input": 0.4, "output": 1.6, "cached": 0.1}},
            "tiers": {"small": {"runtime": "llamacpp", "cost": {"usd_per_hour": 0.2}}},
        }
    )
    assert settings.prices["openai/gpt-4.1-mini"].cached == 0.1
    assert settings.tiers["small"].cost == MachineCost(usd_per_hour=0.2)
