"""`TypedField`: a YAML field with a type expression (state keys, extracted fields).

A bare type is shorthand: `name: str` means `name: {type: str}`; enums list their `values`.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from stepladder.specs.type_expressions import TypeExpr, parse_type

__all__ = ["TypedField"]


class TypedField(BaseModel):
    """A field typed by a type expression (`str`, `list[str]`, `enum`, `module:Model`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(default="any", description="Type expression, e.g. str, list[str], enum.")
    values: list[StrictStr | StrictInt] | None = Field(
        default=None, description="Members of an enum (strings or integers)."
    )
    description: str = Field(default="", description="What the field holds.")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Allow the shorthand (a bare type expression) in the published schema too."""
        schema = handler(core_schema)
        shorthand = {"type": "string", "description": "Shorthand for {type: ...}."}
        return {"anyOf": [shorthand, schema]}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @field_validator("type")
    @classmethod
    def _valid_type(cls, value: str) -> str:
        parse_type(value)
        return value

    @field_validator("values", mode="before")
    @classmethod
    def _distinct_values(cls, values: Any) -> Any:
        if not isinstance(values, list):
            return values
        seen: set[str | int] = set()
        repeated: set[str] = set()
        for index, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(_not_a_member(index, value))
            if value in seen:
                repeated.add(str(value))
            seen.add(value)
        if repeated:
            listed = ", ".join(sorted(repeated))
            raise ValueError(f"enum values must be distinct; repeated: {listed}")
        return values

    @model_validator(mode="after")
    def _enum_values(self) -> Self:
        is_enum = self.parsed_type.name == "enum"
        if is_enum and not self.values:
            raise ValueError("an enum needs `values: [...]` listing its members")
        if self.values is not None and not is_enum:
            raise ValueError(f"`values` applies only to type enum, not '{self.type}'")
        return self

    @property
    def parsed_type(self) -> TypeExpr:
        """The parsed type expression."""
        return parse_type(self.type)


def _not_a_member(index: int, value: Any) -> str:
    """Why `values[index]` cannot be an enum member."""
    if isinstance(value, bool):
        return (
            f"values[{index}] is the boolean {str(value).lower()}: enum values are strings or "
            "integers, and YAML reads unquoted yes/no/true/false/on/off as booleans, so quote "
            "them ('yes')"
        )
    return f"values[{index}] is a {type(value).__name__}: enum values are strings or integers"
