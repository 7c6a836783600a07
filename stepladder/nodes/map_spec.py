"""`map:`: run a node once per element of a list in state (the spec; the graph is in flows)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_MAX_ITEMS", "MapSpec"]

DEFAULT_MAX_ITEMS = 1000


class MapSpec(BaseModel):
    """How a node runs once per element of a list (`map: {over, as, into}`).

    Each element runs as its own LangGraph `Send` task, up to `concurrency` at a time; the
    results land in `into` in the order of `over`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    over: str = Field(description="The list-typed state key whose elements the node runs on.")
    as_: str = Field(
        alias="as", description="The state key that holds one element while the node runs on it."
    )
    into: str = Field(
        description="The list-typed state key that receives one result per element, in order: "
        "the value of the node's one write, or a dict of its writes."
    )
    concurrency: int = Field(default=8, ge=1, description="Elements that run at once, at most.")
    on_error: Literal["fail", "skip", "collect"] = Field(
        default="fail",
        description="An element that raises: fail the run, skip it (its slot is left out), or "
        "collect it (its slot holds null and `errors` records it).",
    )
    errors: str | None = Field(
        default=None,
        description="With on_error collect: a list-typed state key receiving "
        "{index, error} per failed element.",
    )
    max_items: int = Field(
        default=DEFAULT_MAX_ITEMS, ge=1, description="A longer list is an error before any call."
    )

    def to_data(self) -> dict[str, object]:
        """The spec as YAML data (`as`, not `as_`)."""
        return self.model_dump(by_alias=True, exclude_unset=True)
