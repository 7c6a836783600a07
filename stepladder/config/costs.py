"""Cost settings: token prices for API models, machine prices for self-hosted ones.

```yaml
prices:                                   # USD per million tokens; overrides the defaults
  openai/gpt-4.1-mini: {input: 0.40, output: 1.60, cached: 0.10}
tiers:
  small: {runtime: llamacpp, cost: {usd_per_hour: 0.10}}             # a 2-core CPU box
  gpu: {runtime: sglang, base_url: "http://gpu:30000/v1",
        cost: {usd_per_hour: 2.50, share: tokens, tokens_per_second: 2400}}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_USD_PER_HOUR", "MachineCost", "TokenPrice"]

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

    `share: tokens` charges a call its tokens at the machine's throughput (`tokens_per_second`,
    or the throughput measured over this process's calls when unset), which is right for a
    server batching many requests. `share: seconds` charges the call's wall time, as if it had
    the machine to itself (GPU-seconds).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd_per_hour: float = Field(ge=0, description="The machine's price per hour (GPU or CPU).")
    share: Literal["tokens", "seconds"] = Field(
        default="tokens", description="How a call's share of the machine is counted."
    )
    tokens_per_second: float | None = Field(
        default=None, gt=0, description="Machine throughput (default: measured)."
    )
