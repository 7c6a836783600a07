"""The `route` node: a trained router picks the tier that should answer, before any LLM call.

```yaml
- id: pick_tier
  kind: route
  router: support_router        # stepladder router train / calibrate support_router ...
  reads: [message]              # joined into one text, one value per line
  output: tier                  # receives the chosen tier's name (a str)
```

Building the node reads only the router's manifest, to check that it exists and is
calibrated. The arrays and the embedding model load at the first run, once per process.
Each input goes to the cheapest tier whose predicted P(right) reaches the calibrated
threshold, else to the most capable tier; an empty text goes to the most capable tier.
The decision and the probabilities are recorded on the node's span.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from opentelemetry import trace
from pydantic import Field, model_validator

from stepladder.config.artifacts import lookup_state_dir
from stepladder.errors import ConfigError, FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, State
from stepladder.routing.artifacts import load_router, read_router_manifest, router_path

__all__ = ["ROUTE_PROBABILITIES", "ROUTE_ROUTER", "ROUTE_TIER", "RouteNodeSpec"]

ROUTE_TIER = "stepladder.route.tier"
ROUTE_ROUTER = "stepladder.route.router"
ROUTE_PROBABILITIES = "stepladder.route.probabilities"


class RouteNodeSpec(NodeSpecBase):
    """A node that writes the tier a trained, calibrated router chooses for its reads."""

    kind: Literal["route"]
    router: str = Field(description="The router: NAME (newest version), NAME@vN, or a folder.")
    version: int | None = Field(default=None, ge=1, description="A version of NAME to use.")
    output: str = Field(description="State key that receives the chosen tier's name.")

    @model_validator(mode="before")
    @classmethod
    def _default_writes(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and not data.get("writes")
            and isinstance(data.get("output"), str)
        ):
            data = {**data, "writes": [data["output"]]}
        return data

    def build(self, context: BuildContext) -> BuiltNode:
        """Check the router is there and calibrated; return a node that loads it lazily."""
        if self.output not in self.writes:
            raise FlowCompileError(
                f"{context.where('writes')}: the output key '{self.output}' must be in the "
                "node's writes."
            )
        if not self.reads:
            raise FlowCompileError(
                f"{context.where('reads')}: a route node needs `reads`: the state keys whose "
                "text the router judges (for example [message])."
            )
        folder = self._locate(context)
        try:
            manifest = read_router_manifest(folder)
        except ConfigError as error:
            raise FlowCompileError(f"{context.where('router')}: {error}") from None
        if manifest.calibration is None:
            raise FlowCompileError(
                f"{context.where('router')}: router '{manifest.name}@v{manifest.version}' is "
                f"not calibrated; run `stepladder router calibrate {manifest.name} "
                "--target-quality 0.95` first."
            )
        reference = f"{manifest.name}@v{manifest.version}"

        def decide(state: State, tracing: Any) -> dict[str, Any]:
            text = "\n".join(str(state[k]) for k in self.reads if state.get(k) is not None)
            router = load_router(folder)
            if text.strip():
                probabilities = router.probabilities([text])
                tier = router.tiers[int(router.choose(probabilities)[0])]
                chances = [round(float(p), 4) for p in probabilities[0]]
            else:
                tier, chances = router.tiers[-1], []
            if tracing is not None:
                _record(reference, tier, router.tiers, chances)
            return {self.output: tier}

        def run_sync(state: State, runtime: Any) -> dict[str, Any]:
            return decide(state, _tracing(runtime))

        async def run(state: State, runtime: Any) -> dict[str, Any]:
            return await asyncio.to_thread(decide, state, _tracing(runtime))

        return BuiltNode(afunc=run, func=run_sync)

    def _locate(self, context: BuildContext) -> Path:
        root = getattr(context.resolver, "project_root", None)
        try:
            state_dir = lookup_state_dir(root, self.router, "router")
            return router_path(self.router, state_dir, self.version)
        except ConfigError as error:
            raise FlowCompileError(f"{context.where('router')}: {error}") from None


def _tracing(runtime: Any) -> Any:
    context = getattr(runtime, "context", None)
    return getattr(context, "tracing", None)


def _record(reference: str, tier: str, tiers: list[str], chances: list[float]) -> None:
    """Put the decision on the current (node) span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute(ROUTE_ROUTER, reference)
    span.set_attribute(ROUTE_TIER, tier)
    if chances:
        span.set_attribute(
            ROUTE_PROBABILITIES, [f"{t}={p}" for t, p in zip(tiers, chances, strict=True)]
        )
