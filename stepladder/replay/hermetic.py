"""`HermeticPool`: model tiers that never start, for replays with no model server.

A hermetic replay serves every node call from its record, or fails it (`ReplayMiss`) before
the node runs, so no call reaches a tier. The pool keeps the tiers' settings (they are part of
each LLM node's key) and refuses to start one: whatever still asks for a model (an LLM judge
metric) is told why.
"""

from __future__ import annotations

from collections.abc import Iterable

from stepladder.errors import ConfigError
from stepladder.runtimes import ModelPool
from stepladder.runtimes.pool import BoundTier

__all__ = ["HermeticPool"]


class HermeticPool(ModelPool):
    """A `ModelPool` whose tiers are known but never started."""

    async def start(self, names: Iterable[str]) -> None:
        """Start nothing: a hermetic replay calls no model."""

    async def bound(self, name: str) -> BoundTier:
        """Refuse: a hermetic replay calls no model.

        Raises:
            ConfigError: Always, naming the tier.
        """
        raise ConfigError(
            f"tier '{name}': a hermetic replay starts no model server, but something asked "
            "for this tier outside the recorded node calls (an LLM judge metric?). Replay "
            "without --hermetic, or score with metrics that call no model."
        )
