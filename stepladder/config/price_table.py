"""The project's price table: `prices.yaml` beside `stepladder.yaml`, written by `models bench`.

It holds, per self-hosted tier, the throughput measured on the tier's server and the
machine's hourly price; a call is charged the machine time its tokens take at that
throughput, so two runs with the same tokens cost the same under any load. Commit it with the
project: CI prices its runs from it.

```yaml
self_hosted:
  small:
    model: smollm2-135m
    runtime: llamacpp
    usd_per_hour: 0.1
    prompt_tokens_per_second: 180.0
    completion_tokens_per_second: 40.0
    concurrency: 2
    measured_at: '2026-12-06T23:00:00Z'
    machine: 2 CPU cores, x86_64, Linux
```
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stepladder.config.costs import MeasuredThroughput
from stepladder.errors import ConfigError

__all__ = ["PRICE_TABLE_FILE", "PriceTable", "read_price_table", "write_measured"]

PRICE_TABLE_FILE = "prices.yaml"
MILLION = 1_000_000

HEADER = """\
# The price table of this project's self-hosted tiers, written by `stepladder models bench TIER`.
# A call costs the machine time its tokens take at the measured throughput:
#   (prompt tokens / prompt_tokens_per_second + completion tokens / completion_tokens_per_second)
#   seconds at usd_per_hour (a tier's `cost:` in stepladder.yaml wins over it).
# The wall time of a call never counts, so CPU load does not move cost. Commit this file.
"""


class PriceTable(BaseModel):
    """What `prices.yaml` holds: measured throughput and machine price per self-hosted tier."""

    model_config = ConfigDict(extra="forbid")

    self_hosted: dict[str, MeasuredThroughput] = Field(
        default_factory=dict, description="Per tier: its measured throughput and machine price."
    )


def read_price_table(root: Path) -> PriceTable:
    """The project's price table (empty when it has no `prices.yaml`).

    Raises:
        ConfigError: If the file is not valid YAML or not a price table.
    """
    path = root / PRICE_TABLE_FILE
    if not path.is_file():
        return PriceTable()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read the price table: {error}.") from error
    try:
        return PriceTable.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in detail['loc']) or 'file'}: {detail['msg']}"
            for detail in error.errors(include_url=False)
        )
        raise ConfigError(
            f"{path}: not a price table ({problems}). Fix it, or delete it and run "
            "`stepladder models bench TIER` again."
        ) from None


def write_measured(root: Path, tier: str, entry: MeasuredThroughput) -> Path:
    """Put `entry` in the table as `tier`'s (other tiers' entries are kept); return the file."""
    table = read_price_table(root)
    table.self_hosted[tier] = entry
    path = root / PRICE_TABLE_FILE
    path.write_text(HEADER + render_entries(table), encoding="utf-8")
    return path


def render_entries(table: PriceTable) -> str:
    """The table as YAML, each tier followed by a comment with its price per million tokens."""
    lines = ["self_hosted:"]
    for tier, entry in sorted(table.self_hosted.items()):
        body = yaml.safe_dump(entry.model_dump(mode="json"), sort_keys=False).rstrip()
        lines.append(f"  {tier}:")
        lines.extend(f"    {line}" for line in body.splitlines())
        prompt, completion = per_million(entry)
        lines.append(
            f"    # = ${prompt:.4g} per million prompt tokens, ${completion:.4g} per million "
            f"completion tokens at ${entry.usd_per_hour:g}/h"
        )
    return "\n".join(lines) + "\n"


def per_million(entry: MeasuredThroughput) -> tuple[float, float]:
    """USD per million prompt and per million completion tokens of a table entry."""
    per_second = entry.usd_per_hour / 3600.0
    return (
        MILLION / entry.prompt_tokens_per_second * per_second,
        MILLION / entry.completion_tokens_per_second * per_second,
    )
