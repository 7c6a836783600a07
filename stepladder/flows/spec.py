"""`FlowSpec`: the pydantic model of a flow, which YAML files and the Python builder produce."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from stepladder.nodes import NodeSpec
from stepladder.specs.explain import describe_pattern
from stepladder.specs.locations import LocatedDocument
from stepladder.specs.typed_field import TypedField
from stepladder.tools import ToolSpec

__all__ = ["END", "START", "EdgeSpec", "FlowSpec", "StateField"]

START = "START"
END = "END"
NAME_PATTERN = describe_pattern(
    r"^[A-Za-z][A-Za-z0-9_\-]*$",
    "a flow name starts with a letter and holds only letters, digits, '_' and '-'",
)
CaseLabel = str | int | bool


class StateField(TypedField):
    """One typed key of the flow's state.

    In YAML a bare type is shorthand: `name: str` is `name: {type: str}`.
    """

    default: Any = Field(default=None, description="Value before any node writes the key.")
    input: bool = Field(default=False, description="Given by the caller when a run starts.")
    reducer: Literal["replace", "append", "merge", "last"] = Field(
        default="replace",
        description="How parallel writes combine: replace, append (lists), merge (dicts), "
        "last (the last write wins, where replace refuses parallel writes).",
    )

    @property
    def has_default(self) -> bool:
        """Whether a default was given (even `null`)."""
        return "default" in self.model_fields_set


class EdgeSpec(BaseModel):
    """An edge: static (`from` -> `to`) or conditional (`from` -> one of `cases`).

    A conditional edge picks its target from the value of the state key named by `when`, or
    from the label a `router` callable returns; `default` catches any other value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str | list[str] = Field(
        alias="from", description="Node id, START, or a list of node ids to join."
    )
    to: str | None = Field(default=None, description="Target node id or END.")
    when: str | None = Field(default=None, description="State key whose value picks the case.")
    router: str | None = Field(default=None, description="'module:func' returning a case label.")
    cases: dict[CaseLabel, str] | None = Field(
        default=None, description="Case label -> node id or END."
    )
    default: str | None = Field(default=None, description="Target when no case matches.")

    @model_validator(mode="after")
    def _one_shape(self) -> EdgeSpec:
        conditional = self.when is not None or self.router is not None
        if self.to is not None and (conditional or self.cases or self.default):
            raise ValueError("an edge has either `to` or `when`/`router` with `cases`, not both")
        if self.to is None and not conditional:
            raise ValueError("an edge needs `to`, or `when`/`router` with `cases`")
        if self.when is not None and self.router is not None:
            raise ValueError("a conditional edge uses `when` or `router`, not both")
        if conditional and not (self.cases or self.default):
            raise ValueError("a conditional edge needs `cases` (label -> node id)")
        if conditional and isinstance(self.source, list):
            raise ValueError("a conditional edge starts from one node, not a list")
        return self

    @property
    def sources(self) -> list[str]:
        """The source node ids as a list."""
        return self.source if isinstance(self.source, list) else [self.source]

    @property
    def targets(self) -> list[str]:
        """Every node id this edge can lead to."""
        if self.to is not None:
            return [self.to]
        found = list((self.cases or {}).values())
        return found + ([self.default] if self.default else [])


class FlowSpec(BaseModel):
    """A task flow: typed state, nodes (discriminated by `kind`) and edges.

    Without `edges`, nodes run one after another in the order listed.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(pattern=NAME_PATTERN, description="The flow's name (letters, digits, _ -).")
    description: str = ""
    state: dict[str, StateField] = Field(default_factory=dict, description="Typed state keys.")
    tools: dict[str, str | ToolSpec] = Field(
        default_factory=dict,
        description="Tools agent nodes may call, by name: 'module:attr' (a function or Tool) "
        "or a declaration (description, parameters, call). A node lists the names it uses.",
    )
    nodes: list[NodeSpec] = Field(min_length=1, description="The steps of the flow.")
    edges: list[EdgeSpec] | None = Field(
        default=None, description="Edges; omitted means the nodes run in the order listed."
    )

    _document: LocatedDocument = PrivateAttr(default_factory=lambda: LocatedDocument(data=None))

    @model_validator(mode="before")
    @classmethod
    def _tool_names(cls, data: Any) -> Any:
        """A declaration under `tools:` is named by its key (`name:` may repeat it)."""
        if not isinstance(data, dict) or not isinstance(data.get("tools"), dict):
            return data
        tools = {
            key: {"name": key, **value} if isinstance(value, dict) else value
            for key, value in data["tools"].items()
        }
        return {**data, "tools": tools}

    def __eq__(self, other: object) -> bool:
        """Specs are equal when their fields are; where they came from does not count."""
        if not isinstance(other, FlowSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    @property
    def document(self) -> LocatedDocument:
        """Where this spec came from (file and lines), when it came from YAML."""
        return self._document

    def with_document(self, document: LocatedDocument) -> FlowSpec:
        """Attach the source document, for error messages that name lines."""
        self._document = document
        return self

    def effective_edges(self) -> list[EdgeSpec]:
        """The edges, or a chain through the nodes in order when none are given."""
        if self.edges is not None:
            return list(self.edges)
        ids = [START, *(node.id for node in self.nodes), END]
        return [EdgeSpec.model_validate({"from": a, "to": b}) for a, b in itertools.pairwise(ids)]

    def to_dict(self) -> dict[str, Any]:
        """Dump to plain data, keeping only what was set (so the round trip is exact)."""
        data = self.model_dump(by_alias=True, exclude_unset=True)
        for key, value in data.get("state", {}).items():
            if list(value) == ["type"]:
                data["state"][key] = value["type"]
        for key, value in data.get("tools", {}).items():
            if isinstance(value, dict) and value.get("name") == key:
                del value["name"]
        data["nodes"] = [
            {"id": node.pop("id"), "kind": node.pop("kind"), **node} for node in data["nodes"]
        ]
        return data
