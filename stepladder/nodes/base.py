"""The node contract: a spec (pydantic, from YAML) that builds a runnable node.

A node is an async callable `(state, runtime) -> dict of updates`; it returns only keys it
declared in `writes`. A node kind is one module in this package plus its spec class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from stepladder.config.explain import describe_pattern
from stepladder.config.locations import LocatedDocument
from stepladder.errors import NodeError
from stepladder.nodes.context import RunContext

__all__ = [
    "AsyncNodeFn",
    "BuildContext",
    "BuiltNode",
    "NodeSpecBase",
    "ReferenceResolver",
    "SyncNodeFn",
    "check_updates",
]

NODE_ID_PATTERN = describe_pattern(
    r"^[A-Za-z_][A-Za-z0-9_\-]*$",
    "a node id starts with a letter or '_' and holds only letters, digits, '_' and '-'",
)

State = Mapping[str, Any]
AsyncNodeFn = Callable[[State, Runtime[RunContext]], Awaitable[dict[str, Any]]]
SyncNodeFn = Callable[[State, Runtime[RunContext]], dict[str, Any]]


class ReferenceResolver(Protocol):
    """Resolves `module:attr` references found at a YAML path."""

    def resolve(self, reference: str, path: tuple[str | int, ...]) -> Any:
        """Return the object `reference` names, or raise `ReferenceError_`."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """What a node spec may use to build its node (no I/O happens here).

    Attributes:
        resolver: Resolves `module:attr` references under the project's allowlist.
        path: The YAML path of this node (`("nodes", 2)`), for error messages.
        document: Where the flow came from, to name lines in errors.
        state_types: The Python type of each state key.
        programs: The DSPy programs of the flow's LLM nodes by node id, filled as they are
            built (shared by all nodes of one flow; what an optimizer tunes).
        tools: The flow's tools by name (references or declarations), for agent nodes.
    """

    resolver: ReferenceResolver
    path: tuple[str | int, ...]
    document: LocatedDocument = field(default_factory=lambda: LocatedDocument(data=None))
    state_types: Mapping[str, Any] = field(default_factory=dict)
    programs: dict[str, Any] = field(default_factory=dict)
    tools: Mapping[str, Any] = field(default_factory=dict)

    def where(self, *parts: str | int) -> str:
        """Describe an item of this node for an error message (`nodes[2].call (f.yaml, line 9)`)."""
        return self.document.where((*self.path, *parts))


@dataclass(frozen=True)
class BuiltNode:
    """A node ready to add to a graph.

    Attributes:
        afunc: The async implementation (always present).
        func: A synchronous implementation, when the node has one (lets `invoke` run
            without an event loop).
    """

    afunc: AsyncNodeFn
    func: SyncNodeFn | None = None


class NodeSpecBase(BaseModel):
    """Fields every node kind shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=NODE_ID_PATTERN, description="Unique node id within the flow.")
    description: str = Field(default="", description="What the node does, for people.")
    reads: list[str] = Field(default_factory=list, description="State keys the node reads.")
    writes: list[str] = Field(default_factory=list, description="State keys the node writes.")

    def build(self, context: BuildContext) -> BuiltNode:
        """Build the runnable node. Subclasses implement this."""
        raise NotImplementedError


def check_updates(node_id: str, writes: frozenset[str], result: Any) -> dict[str, Any]:
    """Turn a node's return value into a state update, refusing undeclared keys.

    A mapping is the update and may hold only declared writes. A node that declares exactly
    one write may instead return that value bare (any non-mapping value).

    Raises:
        NodeError: When the result writes keys the node did not declare, or is not an update.
    """
    if isinstance(result, Mapping):
        extra = [str(k) for k in result if k not in writes]
        if extra:
            declared = ", ".join(sorted(writes)) or "(none)"
            raise NodeError(
                node_id,
                f"returned undeclared key(s) {', '.join(sorted(extra))}; it declares writes: "
                f"{declared}. Add them to the node's `writes` (and to the flow's `state`), or "
                "return a dict of declared keys.",
            )
        return dict(result)
    if len(writes) == 1:
        (key,) = writes
        return {key: result}
    if result is None and not writes:
        return {}
    raise NodeError(
        node_id,
        f"returned {type(result).__name__}, expected a dict of updates for its writes "
        f"({', '.join(sorted(writes)) or 'none declared'}).",
    )
