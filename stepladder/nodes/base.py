"""The node contract: a spec (pydantic, from YAML) that builds a runnable node.

`NodeSpecBase`'s docstring is the contract: what a kind declares, what building gets, what
the built node returns, and how to add a kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self, get_args, get_origin

from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from stepladder.errors import NodeError, UserError
from stepladder.nodes.artifacts import ArtifactCheck, ArtifactRef
from stepladder.nodes.context import RunContext
from stepladder.nodes.llm.escalation import EscalationPolicy
from stepladder.nodes.map_spec import MapSpec
from stepladder.specs.explain import describe_pattern
from stepladder.specs.locations import LocatedDocument

__all__ = [
    "ArtifactRef",
    "AsyncNodeFn",
    "BuildContext",
    "BuiltNode",
    "NodeSpecBase",
    "ReferenceResolver",
    "State",
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


class SubflowBuilder(Protocol):
    """Builds a node that runs another flow of the project (`kind: flow`)."""

    def build(self, node: Any, context: BuildContext) -> BuiltNode:
        """Compile the node's flow and return the node that runs it."""
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
        agents: The agent nodes' loops (their model calls and tools) by node id, filled as
            they are built (what tuning renders an agent's steps with).
        mcp_servers: The project's MCP servers by name (`McpServerSettings`), which agent
            nodes may take tools from (`tools: [{mcp: NAME}]`).
        subflows: Builds `flow` nodes (given by the flows layer, which compiles flows).
    """

    resolver: ReferenceResolver
    path: tuple[str | int, ...]
    document: LocatedDocument = field(default_factory=lambda: LocatedDocument(data=None))
    state_types: Mapping[str, Any] = field(default_factory=dict)
    programs: dict[str, Any] = field(default_factory=dict)
    tools: Mapping[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    mcp_servers: Mapping[str, Any] = field(default_factory=dict)
    subflows: SubflowBuilder | None = None

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
        prepare: Checks the node's artifacts against what it needs, once before the flow's
            first run (it may read their manifests through the `Artifacts` it is given).
    """

    afunc: AsyncNodeFn
    func: SyncNodeFn | None = None
    prepare: ArtifactCheck | None = None


class NodeSpecBase(BaseModel):
    """The node contract: every node kind is a subclass, one module in `stepladder.nodes`.

    **What a kind declares.** A pydantic model of its YAML: a `kind: Literal["name"]` field
    (the discriminator of the flow file's `nodes:` union) and its own fields, on top of the
    shared ones here: `id`, `description`, `reads` (the state keys it reads) and `writes`
    (the keys it may write). A kind that calls a model tier subclasses `LLMNodeSpec`
    (`tier`, `instructions`, `retries`, `escalate`, `tier_from`, ...). Unknown keys are
    refused and specs are frozen.

    **What building gets.** `build(context)` receives a `BuildContext`: a resolver for
    `module:attr` references (under the project's allowlist), the node's YAML path and
    document (`context.where("field")` names a line in an error), the Python type of each
    state key, the flow's DSPy programs (an LLM node registers its own) and the flow's
    tools. It checks the spec against the flow, raising `FlowCompileError` at the field at
    fault, and returns a `BuiltNode`. Building does no I/O: it reads no file (artifacts
    are found when a run starts) and calls no model.

    **What the built node returns.** `BuiltNode.afunc(state, runtime)` (and, optionally, a
    synchronous `func`) gets the state and LangGraph's runtime, whose `context` is the
    `RunContext`: model tiers, store, tracing, usage ledger, the project's ladder and the
    flow's `Artifacts`. It returns a dict of updates holding only keys of `writes` (see
    `check_updates`); the flow checks each value against the key's declared type.
    `BuiltNode.prepare(artifacts)` checks the node's artifacts' manifests (labels,
    calibration), once before the flow's first run.

    **The contract methods.** The rest of stepladder reads a node only through its fields
    above and these methods; each kind overrides those that apply to it:

    - `tiers()`: the model tiers it starts on (each must be bound in `stepladder.yaml`; they
      are started before a run). Default: none.
    - `first_rung()`: the first rung of its escalation ladder, a tier or `embeddings`.
      Default: None (it never escalates).
    - `escalation()`: its `escalate:` policy. Default: None.
    - `tier_key()`: the state key naming the tier to start on (`tier_from`). Default: None.
    - `collections()`: the retrieval collections it searches (each must exist and hold
      chunks when a run starts). Default: none.
    - `tool_names()`: the flow-level tools it names, by position in its `tools` list (each
      must be declared under the flow's `tools:`). Default: none.
    - `confidence_key()`: the state key that receives its confidence (not an answer, so
      not captured as an expectation). Default: None.
    - `artifacts()`: the trained artifacts (classifiers, routers, LoRA adapters) it loads;
      each is found, and its manifest read, when a run starts, before any node runs.
      Default: none.
    - `pinned(tier)`: the node on `tier` alone, with no ladder (an eval per tier).
      Default: the node itself.
    - `kind_name()`: its `kind` (`node` for a class without one).

    **Adding a kind** is one module plus one line: write the module (the spec class, its
    `build`, the contract methods that apply), then add the class to `NODE_SPECS` in
    `stepladder/nodes/__init__.py`; the `nodes:` union, `NODE_KINDS` and the flow JSON
    Schema (`stepladder schema`) come from that tuple. For example:

    ```python
    class ShoutNodeSpec(NodeSpecBase):
        kind: Literal["shout"]
        output: str = Field(description="State key that receives the text in capitals.")

        def build(self, context: BuildContext) -> BuiltNode:
            if self.writes != [self.output]:
                raise FlowCompileError(f"{context.where('writes')}: write `output` only.")

            async def run(state: State, runtime: Runtime[RunContext]) -> dict[str, Any]:
                return {self.output: " ".join(str(state[k]) for k in self.reads).upper()}

            return BuiltNode(afunc=run)
    ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=NODE_ID_PATTERN, description="Unique node id within the flow.")
    description: str = Field(default="", description="What the node does, for people.")
    reads: list[str] = Field(default_factory=list, description="State keys the node reads.")
    writes: list[str] = Field(default_factory=list, description="State keys the node writes.")
    map: MapSpec | None = Field(
        default=None,
        description="Run the node once per element of a list in state, in parallel "
        "(`{over, as, into, concurrency, on_error, max_items}`).",
    )

    def build(self, context: BuildContext) -> BuiltNode:
        """Check the spec against the flow and return the runnable node (no I/O).

        Raises:
            FlowCompileError: Naming the field at fault (`context.where(field)`).
        """
        raise NotImplementedError

    @classmethod
    def kind_name(cls) -> str:
        """The node's kind: the value of its `kind` literal (`node` for a class without one)."""
        kind = cls.model_fields.get("kind")
        values = get_args(kind.annotation) if kind is not None else ()
        if kind is None or get_origin(kind.annotation) is not Literal or len(values) != 1:
            return "node"
        return str(values[0])

    def tiers(self) -> frozenset[str]:
        """The model tiers the node starts on (rungs above start only when it escalates)."""
        return frozenset()

    def first_rung(self) -> str | None:
        """The first rung of the node's ladder: a tier, `embeddings`, or None (no ladder)."""
        return None

    def escalation(self) -> EscalationPolicy | None:
        """The node's `escalate:` policy, if it has one."""
        return None

    def tier_key(self) -> str | None:
        """The state key naming the tier the node starts on (`tier_from`), if any."""
        return None

    def collections(self) -> frozenset[str]:
        """The retrieval collections the node searches."""
        return frozenset()

    def tool_names(self) -> dict[int, str]:
        """The flow-level tools the node names, by their position in its `tools` list."""
        return {}

    def confidence_key(self) -> str | None:
        """The state key that receives the node's confidence, if it writes one."""
        return None

    def artifacts(self) -> tuple[ArtifactRef, ...]:
        """The trained artifacts the node loads (found and checked when a run starts)."""
        return ()

    def detail(self) -> str:
        """What a picture of the flow shows under the node's id: its kind and first rung."""
        rung = self.first_rung()
        return f"{self.kind_name()} · {rung}" if rung else self.kind_name()

    def key_path(self, field: str, position: int) -> tuple[str | int, ...]:
        """The YAML path of the `position`th key of `reads` or `writes` (for errors)."""
        return (field, position)

    def pinned(self, tier: str) -> Self:
        """The node on `tier` alone: no ladder, no router's tier (an eval per tier)."""
        return self

    def with_adapter(self, reference: str) -> Self:
        """The node with its model calls on LoRA adapter `reference` (NAME, NAME@vN, a folder).

        Raises:
            UserError: For a kind that makes no model calls (the default).
        """
        raise UserError(
            f"node '{self.id}' ({self.kind_name()}) makes no model calls, so it takes no adapter."
        )


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
