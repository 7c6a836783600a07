"""Node kinds: one module each, joined here in the `NodeSpec` union (discriminated by `kind`)."""

from typing import Annotated, Union

from pydantic import Field

from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase, check_updates
from stepladder.nodes.context import RunContext
from stepladder.nodes.function import FunctionNodeSpec, function_node

__all__ = [
    "NODE_KINDS",
    "BuildContext",
    "BuiltNode",
    "FunctionNodeSpec",
    "NodeSpec",
    "NodeSpecBase",
    "RunContext",
    "check_updates",
    "function_node",
]

# Adding a node kind: write its module, then add its spec class here.
NodeSpec = Annotated[Union[FunctionNodeSpec], Field(discriminator="kind")]  # noqa: UP007

NODE_KINDS: dict[str, type[NodeSpecBase]] = {"function": FunctionNodeSpec}
