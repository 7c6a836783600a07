"""Node kinds: one module each, registered in `NODE_SPECS`.

The node contract, and how to add a kind, is `NodeSpecBase`'s docstring
(`stepladder.nodes.base`). `NODE_SPECS` is the registry: the flow file's `NodeSpec` union
(discriminated by `kind`) and `NODE_KINDS` both come from it.
"""

from typing import TYPE_CHECKING, Annotated, TypeAlias, Union

from pydantic import Field

from stepladder.nodes.agent.spec import AgentNodeSpec
from stepladder.nodes.artifacts import ArtifactRef, Artifacts
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, check_updates
from stepladder.nodes.classify import ClassifyNodeSpec
from stepladder.nodes.context import RunContext
from stepladder.nodes.extract import ExtractField, ExtractNodeSpec
from stepladder.nodes.function import FunctionNodeSpec, function_node
from stepladder.nodes.generate import GenerateNodeSpec
from stepladder.nodes.llm.call import LLMNodeSpec
from stepladder.nodes.map_spec import MapSpec
from stepladder.nodes.retrieve import RetrieveNodeSpec
from stepladder.nodes.route import RouteNodeSpec
from stepladder.nodes.subflow import FlowNodeSpec

__all__ = [
    "NODE_KINDS",
    "NODE_SPECS",
    "AgentNodeSpec",
    "ArtifactRef",
    "Artifacts",
    "BuildContext",
    "BuiltNode",
    "ClassifyNodeSpec",
    "ExtractField",
    "ExtractNodeSpec",
    "FlowNodeSpec",
    "FunctionNodeSpec",
    "GenerateNodeSpec",
    "LLMNodeSpec",
    "MapSpec",
    "NodeSpec",
    "NodeSpecBase",
    "RetrieveNodeSpec",
    "RouteNodeSpec",
    "RunContext",
    "check_updates",
    "function_node",
]

NODE_SPECS: tuple[type[NodeSpecBase], ...] = (
    FunctionNodeSpec,
    ClassifyNodeSpec,
    ExtractNodeSpec,
    GenerateNodeSpec,
    RetrieveNodeSpec,
    RouteNodeSpec,
    AgentNodeSpec,
    FlowNodeSpec,
)
"""The node kinds, one spec class each: adding a kind is adding its class here."""

NODE_KINDS: dict[str, type[NodeSpecBase]] = {spec.kind_name(): spec for spec in NODE_SPECS}
"""The spec class of each kind, by its `kind` value."""

if TYPE_CHECKING:  # the rest of stepladder reads nodes only through the contract
    NodeSpec: TypeAlias = NodeSpecBase
else:
    NodeSpec = Annotated[Union[NODE_SPECS], Field(discriminator="kind")]  # noqa: UP007
