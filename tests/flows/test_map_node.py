"""`map:` runs a node once per element of a list: order, concurrency, errors, validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stepladder import FlowCompileError, RunError, compile_flow, flow_from_dict
from stepladder.flows import FlowBuilder, run_flow
from tests.tracing.spans_helpers import in_memory

RUNNING = {"now": 0, "most": 0}


async def work(item: str) -> str:
    """Sleep a little (longer items less, so they finish first) and shout the item."""
    RUNNING["now"] += 1
    RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
    try:
        await asyncio.sleep(max(0.005, 0.04 - 0.002 * len(item)))
        if "boom" in item:
            raise ValueError(f"cannot take {item}")
        return item.upper()
    finally:
        RUNNING["now"] -= 1


def mapped(on_error: str = "fail", concurrency: int = 2, **extra: Any) -> dict[str, Any]:
    into = "list[optional[str]]" if on_error == "collect" else "list[str]"
    return {
        "name": "batch",
        "state": {
            "items": {"type": "list[str]", "input": True},
            "item": "str",
            "loud": "str",
            "louds": into,
            "failures": {"type": "list[dict[str, any]]", "default": []},
        },
        "nodes": [
            {"id": "shout", "kind": "function", "call": "tests.flows.test_map_node:work",
             "reads": ["item"], "writes": ["loud"],
             "map": {"over": "items", "as": "item", "into": "louds", "concurrency": concurrency,
                     "on_error": on_error, **extra}},
        ],
    }  # fmt: skip


def batch(on_error: str = "fail", concurrency: int = 2, **extra: Any) -> Any:
    spec = flow_from_dict(mapped(on_error, concurrency, **extra))
    return compile_flow(spec, allow_imports=("tests",))


def test_map_node_keeps_the_input_order_within_its_concurrency() -> None:
    RUNNING["most"] = 0
    items = [f"item {'x' * i}" for i in range(9)]
    result = batch(concurrency=3).invoke({"items": items})
    assert result["louds"] == [item.upper() for item in items]
    assert RUNNING["most"] == 3


def test_map_node_over_an_empty_list_is_a_valid_run() -> None:
    assert batch().invoke({"items": []})["louds"] == []


def test_map_node_over_max_items_fails_before_any_element_runs() -> None:
    RUNNING["most"] = 0
    with pytest.raises(RunError, match=r"holds 4 elements, over the map's max_items \(3\)"):
        batch(max_items=3).invoke({"items": ["a", "b", "c", "d"]})
    assert RUNNING["most"] == 0


def test_map_node_element_failure_fails_the_run_by_default() -> None:
    with pytest.raises(
        RunError, match=r"node 'shout': element 1 of 'items' failed: ValueError: cannot take"
    ):
        batch().invoke({"items": ["a", "boom", "c"]})


def test_map_node_skips_a_failed_element() -> None:
    assert batch("skip").invoke({"items": ["a", "boom", "c"]})["louds"] == ["A", "C"]


def test_map_node_collects_a_failed_element_in_place() -> None:
    result = batch("collect", errors="failures").invoke({"items": ["a", "boom", "c"]})
    assert result["louds"] == ["A", None, "C"]
    assert result["failures"] == [{"index": 1, "error": "ValueError: cannot take boom"}]


def test_map_node_spans_carry_the_element_index() -> None:
    tracing, exporter = in_memory()
    result = asyncio.run(run_flow(batch(concurrency=4), {"items": ["a", "b"]}, tracing=tracing))
    assert result.state["louds"] == ["A", "B"]
    spans = exporter.get_finished_spans()
    indexes = [s.attributes.get("stepladder.map.index") for s in spans if s.name == "node shout"]
    assert sorted(i for i in indexes if i is not None) == [0, 1]
    assert indexes.count(None) == 1  # the map's own span, which reads the list


def compile_error(data: dict[str, Any]) -> str:
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(flow_from_dict(data), allow_imports=("tests",))
    return str(caught.value)


def test_map_node_over_a_key_that_is_not_a_list_is_a_validation_error() -> None:
    data = mapped()
    data["state"]["items"] = {"type": "str", "input": True}
    assert "nodes[0].map.over: 'items' is str, not a list." in compile_error(data)


def test_map_node_validation_names_each_bad_key() -> None:
    data = mapped()
    data["nodes"][0]["map"].update({"as": "itme", "into": "loud"})
    message = compile_error(data)
    assert "nodes[0].map.as: unknown state key 'itme'" in message
    assert "nodes[0].map.into: 'loud' is str, not a list." in message
    data = mapped("collect")
    data["state"]["louds"] = "list[str]"
    assert "declare 'louds' list[optional[str]]" in compile_error(data)
    data = mapped()
    data["state"]["item"] = "int"
    assert "'item' is int, but the elements of 'items' are str." in compile_error(data)


def test_map_node_over_a_value_that_is_not_a_list_at_run_time() -> None:
    data = mapped()
    data["state"]["items"] = {"type": "any", "input": True}
    flow = compile_flow(flow_from_dict(data), allow_imports=("tests",))
    with pytest.raises(RunError, match="'items', which holds a str, not a list"):
        flow.invoke({"items": "abc"})


def test_map_node_reducers_are_checked_against_the_type() -> None:
    data = mapped()
    data["state"]["loud"] = {"type": "str", "reducer": "append"}
    data["state"]["louds"] = {"type": "list[str]", "reducer": "merge"}
    message = compile_error(data)
    assert "state.loud.reducer" in message and "append needs a list type, not str" in message
    assert "merge needs a dict type, not list" in message


def test_map_node_results_read_by_the_next_node_and_reducer_last() -> None:
    flow = (
        FlowBuilder("reduce")
        .state("items", "list[str]", input=True)
        .state("item", str)
        .state("loud", str)
        .state("louds", "list[str]")
        .state("best", str, reducer="last")
        .function(
            "shout",
            work,
            reads=["item"],
            writes=["loud"],
            map={"over": "items", "as": "item", "into": "louds"},
        )
        .function("pick", lambda louds: max(louds, key=len), reads=["louds"], writes=["best"])
        .compile()
    )
    assert flow.invoke({"items": ["a", "bbb", "cc"]})["best"] == "BBB"
