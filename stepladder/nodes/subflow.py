"""The `flow` node: runs another flow of the project as one step (a LangGraph subgraph).

`inputs` maps each of the subflow's state keys to the parent key that fills it, `outputs`
each parent key to the subflow key it receives: both read "target: source". The node's
`reads` and `writes` are these parent keys (given, or taken from the mappings). Building the
node needs the flows layer, which compiles the subflow: `BuildContext.subflows`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from stepladder.errors import FlowCompileError
from stepladder.nodes.base import BuildContext, BuiltNode, NodeSpecBase

__all__ = ["FlowNodeSpec"]


class FlowNodeSpec(NodeSpecBase):
    """Run another flow (`flow: NAME`) with state mapped in and out."""

    kind: Literal["flow"]
    flow: str = Field(description="The name of the flow to run (in the project's flows/).")
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Subflow key: parent key that fills it, for each input of the subflow.",
    )
    outputs: dict[str, str] = Field(
        default_factory=dict,
        description="Parent key: subflow key whose final value it receives.",
    )

    @model_validator(mode="before")
    @classmethod
    def _keys_from_mappings(cls, data: Any) -> Any:
        """`reads` and `writes` default to the parent keys the mappings name."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        if "reads" not in filled and isinstance(data.get("inputs"), dict):
            filled["reads"] = list(dict.fromkeys(data["inputs"].values()))
        if "writes" not in filled and isinstance(data.get("outputs"), dict):
            filled["writes"] = list(data["outputs"])
        return filled

    def detail(self) -> str:
        """`flow · NAME`: the flow the node runs."""
        return f"flow · {self.flow}"

    def key_path(self, field: str, position: int) -> tuple[str | int, ...]:
        """The mapping entry a derived key comes from (`inputs.text`), else the key's own."""
        key = (self.reads if field == "reads" else self.writes)[position]
        if field == "reads" and key in self.inputs.values():
            return ("inputs", next(k for k, v in self.inputs.items() if v == key))
        if field == "writes" and key in self.outputs:
            return ("outputs", key)
        return (field, position)

    def build(self, context: BuildContext) -> BuiltNode:
        """Compile the subflow (through the flows layer) and return the node that runs it.

        Raises:
            FlowCompileError: When flows cannot be built here, or the subflow is unsound.
        """
        if context.subflows is None:
            raise FlowCompileError(
                f"{context.where('flow')}: a `flow` node is compiled with its project "
                "(compile_flow(..., subflows=...)); none was given."
            )
        return context.subflows.build(self, context)
