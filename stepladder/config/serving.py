"""Service settings: what `stepladder serve` accepts.

```yaml
serve:
  max_body: 1MiB             # larger request bodies get a 413 (bytes, or 512KB, 5MB, 2MiB, ...)
  max_steps: 25              # a run stops after this many steps (a loop that never exits)
  node_threads: 32           # worker threads for synchronous function nodes
```
`stepladder serve --max-body 5MB --max-steps 50` overrides them for one server.
"""

from __future__ import annotations

from pydantic import BaseModel, ByteSize, ConfigDict, Field

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_STEPS", "DEFAULT_NODE_THREADS", "ServeSettings"]

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_STEPS = 25  # LangGraph's default recursion limit
DEFAULT_NODE_THREADS = 32
MOST_MAX_BODY = 1024**3  # 1 GiB: the body is held in memory
MOST_MAX_STEPS = 100_000
MOST_NODE_THREADS = 1024


class ServeSettings(BaseModel):
    """Limits of the HTTP service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body: ByteSize = Field(
        default=ByteSize(DEFAULT_MAX_BODY),
        gt=0,
        le=MOST_MAX_BODY,
        description="Largest request body accepted (bytes, or a size such as 512KB or 5MB).",
    )
    max_steps: int = Field(
        default=DEFAULT_MAX_STEPS,
        ge=1,
        le=MOST_MAX_STEPS,
        description="Steps a run may take before it stops.",
    )
    node_threads: int = Field(
        default=DEFAULT_NODE_THREADS,
        ge=1,
        le=MOST_NODE_THREADS,
        description="Worker threads running synchronous function nodes, off the event loop.",
    )
