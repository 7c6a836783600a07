"""Cost settings: token prices for API models, machine prices for self-hosted ones.

```yaml
prices:                                   # USD per million tokens; overrides the defaults
  openai/gpt-4.1-mini: {input: 0.40, output: 1.60, cached: 0.10}
tiers:
  small: {runtime: llamacpp, cost: {usd_per_hour: 0.10}}             # a 2-core CPU box
  gpu: {runtime: sglang, base_url: "http://gpu:30000/v1",
        cost: {usd_per_hour: 2.50, share: tokens, tokens_per_second: 2400}}
```

A self-hosted call is charged the machine time its tokens take at a throughput measured once
(`stepladder models bench TIER` writes it to the project's price table, `prices.yaml`; see
`stepladder.config.price_table`), never the wall time of the call, so load does not move it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_USD_PER_HOUR", "MachineCost", "MeasuredThroughput", "Throughput", "TokenPrice"]

DEFAULT_USD_PER_HOUR = {"llamacpp": 0.10, "sglang": 2.50, "openai-compatible": 2.50}


class TokenPrice(BaseModel):
    """An API model's price in USD per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="USD per million input tokens.")
    output: float = Field(ge=0, description="USD per million output tokens.")
    cached: float | None = Field(
        default=None, ge=0, description="USD per million cached input tokens (default: input)."
    )


class MachineCost(BaseModel):
    """A self-hosted model's price: the machine's hourly price and each call's share of it.

    `share: tokens` (the default) charges a call the machine time its tokens take at a stored
    throughput: `tokens_per_second` when set (prompt and completion alike), else the tier's
    entry in the price table (`stepladder models bench`), else a default for the model. Two
    calls with the same tokens cost the same, however busy the machine was. `share: seconds`
    charges the call's wall time instead, as if it had the machine to itself (GPU-seconds);
    that cost moves with load.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd_per_hour: float = Field(ge=0, description="The machine's price per hour (GPU or CPU).")
    share: Literal["tokens", "seconds"] = Field(
        default="tokens", description="How a call's share of the machine is counted."
    )
    tokens_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Machine throughput, prompt and completion alike (default: the price "
        "table's, from `stepladder models bench`, else the model's default).",
    )


class Throughput(BaseModel):
    """How fast a self-hosted model reads a prompt and writes a completion, in tokens/s."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens_per_second: float = Field(gt=0, description="Prompt tokens read per second.")
    completion_tokens_per_second: float = Field(
        gt=0, description="Completion tokens written per second."
    )

    def seconds(self, prompt: int, completion: int) -> float:
        """The machine time a call with these tokens takes at this throughput."""
        return prompt / self.prompt_tokens_per_second + (
            completion / self.completion_tokens_per_second
        )


class MeasuredThroughput(Throughput):
    """A tier's entry in the price table: its throughput as measured, and the machine's price.

    Attributes:
        model: The model the tier served when measured (an entry for another model is stale).
        runtime: The tier's runtime.
        usd_per_hour: The machine's price per hour (a tier's own `cost:` wins over it).
        concurrency: Requests in flight while measuring (the server's parallel slots).
        measured_at: When it was measured (ISO-8601 UTC).
        machine: What it was measured on (CPU cores, architecture, system).
    """

    model: str = Field(description="The model the tier served when measured.")
    runtime: str = Field(default="", description="The tier's runtime.")
    usd_per_hour: float = Field(ge=0, description="The machine's price per hour.")
    concurrency: int = Field(default=1, ge=1, description="Requests in flight while measuring.")
    measured_at: str = Field(default="", description="When it was measured (ISO-8601 UTC).")
    machine: str = Field(default="", description="What it was measured on.")
