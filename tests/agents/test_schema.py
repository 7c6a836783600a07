"""Tool schemas from Python functions and from YAML declarations."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stepladder.errors import UnknownToolError
from stepladder.tools import ToolRegistry, ToolSpec, parse_docstring, tool, tool_from_function
from tests.agents.toolbox import get_customer, get_order_status, search_orders, ship


def test_types_defaults_and_descriptions_come_from_the_function() -> None:
    made = tool_from_function(search_orders)
    assert made.name == "search_orders"
    assert made.description == "Search orders by status. The second paragraph of the summary."
    props = made.parameters["properties"]
    assert made.parameters["required"] == ["status"]
    assert made.parameters["additionalProperties"] is False
    assert props["status"] == {
        "description": "Which orders to list.",
        "enum": ["shipped", "processing"],
        "type": "string",
    }
    assert props["limit"]["type"] == "integer" and props["limit"]["default"] == 5
    assert props["limit"]["description"] == "At most this many orders (a description on two lines)."
    assert props["include_archived"]["type"] == "boolean"
    assert {"type": "null"} in props["note"]["anyOf"]


def test_async_functions_and_the_decorator() -> None:
    assert tool_from_function(get_customer).parameters["required"] == ["order_id"]
    made = tool(name="status", description="Order status.", timeout_s=2)(get_order_status)
    assert (made.name, made.description, made.timeout_s) == ("status", "Order status.", 2)
    assert made.describe() == "status(order_id: text): Order status."


def test_nested_models_are_inlined() -> None:
    schema = tool_from_function(ship).parameters
    assert "$defs" not in schema
    assert schema["properties"]["to"]["properties"]["city"]["type"] == "string"


def test_star_arguments_are_refused() -> None:
    def anything(*args: Any) -> None:
        return None

    with pytest.raises(TypeError, match="named parameters only"):
        tool_from_function(anything)


def test_docstring_sections() -> None:
    summary, args = parse_docstring("Do it.\n\nArgs:\n    a (int): First.\n    b: Second.\n")
    assert summary == "Do it."
    assert args == {"a": "First.", "b": "Second."}


def test_a_yaml_declaration_validates_its_arguments() -> None:
    spec = ToolSpec(
        name="refund",
        description="Refund an order.",
        parameters={
            "properties": {
                "order_id": {"type": "string"},
                "amount": {"type": "number"},
                "reason": {"enum": ["late", "broken"]},
            },
            "required": ["order_id"],
        },
        call="tests.agents.toolbox:refund",
    )
    made = spec.to_tool(lambda **kw: kw)
    assert made.parameters["type"] == "object"
    assert made.arguments.model_validate({"order_id": "1", "amount": 2}).amount == 2.0
    with pytest.raises(ValidationError):
        made.arguments.model_validate({"amount": 2})
    with pytest.raises(ValidationError):
        made.arguments.model_validate({"order_id": "1", "reason": "bored"})
    with pytest.raises(ValueError, match="supported"):
        ToolSpec(name="x", parameters={"properties": {"a": {"type": "date"}}}, call="m:f").to_tool(
            print
        )


def test_the_registry_refuses_duplicates_and_names_valid_tools() -> None:
    status = tool_from_function(get_order_status)
    with pytest.raises(ValueError, match="two tools"):
        ToolRegistry([status, status])
    with pytest.raises(ValueError, match="reserved"):
        ToolRegistry([tool(name="finish")(get_order_status)])
    with pytest.raises(UnknownToolError, match="valid tools: get_order_status"):
        ToolRegistry([status]).get("delete_everything")
