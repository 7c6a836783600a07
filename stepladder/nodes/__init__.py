"""Node kinds: one module each, joined here in the `NodeSpec` union (discriminated by `kind`)."""

from typing import Annotated, Union

from pydantic import Field

from stepladder.nodes.agent import AgentNodeSpec
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, check_updates
from stepladder.nodes.classify import ClassifyNodeSpec
from stepladder.nodes.context import RunContext
from stepladder.nodes.extract import ExtractField, ExtractNodeSpec
from stepladder.nodes.function import FunctionNodeSpec, function_node
from stepladder.nodes.generate import GenerateNodeSpec
from stepladder.nodes.llm import LLMNodeSpec
from stepladder.nodes.retrieve import RetrieveNodeSpec
from stepladder.nodes.route import RouteNodeSpec

__all__ = [
    "NODE_KINDS",
    "BuildContext",
    "BuiltNode",
    "ClassifyNodeSpec",
    "ExtractField",
    "ExtractNodeSpec",
    "FunctionNodeSpec",
    "GenerateNodeSpec",
    "LLMNodeSpec",
    "NodeSpec",
    "NodeSpecBase",
    "RetrieveNodeSpec",
    "RouteNodeSpec",
    "RunContext",
    "check_updates",
    "function_node",
]

# Adding a node kind: write its module, then add its spec class here.
NodeSpec = Annotated[
    Union[  # noqa: UP007
        FunctionNodeSpec,
        ClassifyNodeSpec,
        ExtractNodeSpec,
        GenerateNodeSpec,
        RetrieveNodeSpec,
        RouteNodeSpec,
        AgentNodeSpec,
    ],
    Field(discriminator="kind"),
]

NODE_KINDS: dict[str, type[NodeSpecBase]] = {
    "function": FunctionNodeSpec,
    "classify": ClassifyNodeSpec,
    "extract": ExtractNodeSpec,
    "generate": GenerateNodeSpec,
    "retrieve": RetrieveNodeSpec,
    "route": RouteNodeSpec,
    "agent": AgentNodeSpec,
}
