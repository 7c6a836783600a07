"""The `route` node: a trained router picks the tier that should answer, before any LLM call.

```yaml
- id: pick_tier
  kind: route
  router: support_router        # stepladder router train / calibrate support_router ...
  reads: [message]              # joined into one text, one value per line
  output: tier                  # receives the chosen tier's name (a str)
```

Building the node reads no file. When a run starts, the router's manifest is read, to check
that it exists and is calibrated; the arrays and the embedding model load at the first call,
once per process.
Each input goes to the cheapest tier whose predicted P(right) reaches the calibrated
threshold, else to the most capable tier; an empty text goes to the most capable tier.
The decision and the probabilities are recorded on the node's span.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from langgraph.runtime import Runtime
from opentelemetry import trace
from pydantic import Field, model_validator

from stepladder.errors import FlowCompileError
from stepladder.nodes.artifacts import ArtifactRef, Artifacts
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, State
from stepladder.nodes.context import RunContext, run_context

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

    def artifacts(self) -> tuple[ArtifactRef, ...]:
        """The router (its `version`, when given)."""
        return (ArtifactRef("router", self.router, self.version, field="router"),)

    def build(self, context: BuildContext) -> BuiltNode:
        """Check the keys; return a node that loads the router when it first runs."""
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
        (ref,) = self.artifacts()

        def prepare(artifacts: Artifacts) -> None:
            manifest = artifacts.router_manifest(ref)
            if manifest.calibration is None:
                raise FlowCompileError(
                    f"{context.where('router')}: router '{manifest.name}@v{manifest.version}' "
                    f"is not calibrated; run `stepladder router calibrate {manifest.name} "
                    "--target-quality 0.95` first."
                )

        def decide(state: State, context: RunContext) -> dict[str, Any]:
            text = "\n".join(str(state[k]) for k in self.reads if state.get(k) is not None)
            router = context.artifacts.router(ref)
            if text.strip():
                probabilities = router.probabilities([text])
                tier = router.tiers[int(router.choose(probabilities)[0])]
                chances = [round(float(p), 4) for p in probabilities[0]]
            else:
                tier, chances = router.tiers[-1], []
            if context.tracing is not None:
                manifest = router.manifest
                _record(f"{manifest.name}@v{manifest.version}", tier, router.tiers, chances)
            return {self.output: tier}

        def run_sync(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return decide(state, run_context(runtime, self.id))

        async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
            return await asyncio.to_thread(decide, state, run_context(runtime, self.id))

        return BuiltNode(afunc=run, func=run_sync, prepare=prepare)


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
