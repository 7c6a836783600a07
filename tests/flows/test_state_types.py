"""State types are enforced: every node's update against the declared types, defaults at compile."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from pydantic import BaseModel

from stepladder import (
    END,
    START,
    FlowBuilder,
    FlowCompileError,
    FlowSpecError,
    compile_flow,
    flow_from_dict,
    flow_from_yaml,
)
from stepladder.errors import NodeError, RunError
from stepladder.flows import Flow, run_flow


class Ticket(BaseModel):
    """A pydantic model used as a state type (`module:Class`)."""

    title: str
    priority: int = 0


class Colour(enum.Enum):
    RED = "red"


TICKET = f"{__name__}:Ticket"

# type expression, enum values, values that fit, values that do not (with pydantic's reason)
KINDS: list[tuple[str, list[Any] | None, list[Any], list[tuple[Any, str]]]] = [
    ("str", None, ["", "text"], [(3, "valid string"), (None, "valid string")]),
    ("int", None, [0, -7], [("3", "valid integer"), (3.0, "valid integer"), (True, "integer")]),
    ("float", None, [1.5, 3], [("1.5", "valid number"), (True, "valid number")]),
    ("bool", None, [True, False], [(1, "valid boolean"), ("true", "valid boolean")]),
    ("list", None, [[], [1, "a"]], [((1, 2), "valid list"), ("ab", "valid list")]),
    ("dict", None, [{}, {"a": [1]}], [([("a", 1)], "valid dictionary"), ({1: "a"}, "string")]),
    ("any", None, [None, object, (1,), "x"], []),
    ("list[int]", None, [[1, 2]], [([1, "2"], "valid integer at [1]"), ([None], "at [0]")]),
    ("dict[str, float]", None, [{"a": 1, "b": 2.5}], [({"a": "1"}, "valid number at a")]),
    ("optional[int]", None, [None, 4], [("4", "valid integer")]),
    ("enum", ["low", "high"], ["low", "high"], [("Z", "'low' or 'high'"), ("LOW", "'low'")]),
    ("enum", [1, 2], [1, 2], [("1", "1 or 2"), (True, "a bool is not one of the enum's values")]),
    ("enum", ["red", "blue"], ["red", Colour.RED], [("green", "'red' or 'blue'")]),
    (TICKET, None, [{"title": "t"}, Ticket(title="t", priority=2)], [({}, "Field required")]),
    (f"list[{TICKET}]", None, [[{"title": "t", "priority": "2"}]], [([{"title": 1}], "[0].title")]),
]
CASES = [
    pytest.param(kind, values, good, id=f"{kind}-{values}-ok-{good!r}"[:60])
    for kind, values, goods, _ in KINDS
    for good in goods
]
BAD_CASES = [
    pytest.param(kind, values, bad, reason, id=f"{kind}-{values}-bad-{bad!r}"[:60])
    for kind, values, _, bads in KINDS
    for bad, reason in bads
]


def writer_flow(kind: str, value: Any, values: list[Any] | None = None, **field: Any) -> Flow:
    """`text` in, then node `write` writes `value` into state key `out` of type `kind`."""

    def write(text: str) -> dict[str, Any]:
        return {"out": value}

    return (
        FlowBuilder("typed")
        .state("text", str, input=True)
        .state("out", kind, values=values, **field)
        .function("write", write, reads=["text"], writes=["out"])
        .compile(allow_imports=(__name__,))
    )


@pytest.mark.parametrize(("kind", "values", "good"), CASES)
def test_a_value_of_the_declared_type_is_written_unchanged(
    kind: str, values: list[Any] | None, good: Any
) -> None:
    assert writer_flow(kind, good, values).invoke({"text": "x"})["out"] is good


@pytest.mark.parametrize(("kind", "values", "bad", "reason"), BAD_CASES)
def test_a_value_of_another_type_fails_the_run_naming_node_key_type_and_value(
    kind: str, values: list[Any] | None, bad: Any, reason: str
) -> None:
    flow = writer_flow(kind, bad, values)
    with pytest.raises(NodeError) as caught:
        flow.invoke({"text": "x"})
    message = str(caught.value)
    assert caught.value.node_id == "write"
    assert message.startswith(f"node 'write': wrote {bad!r} into state key 'out', declared ")
    declared = f"enum ({', '.join(map(str, values))})" if kind == "enum" else kind
    assert f"declared {declared} (" in message
    assert reason in message
    assert "change the key's `type` under `state:`" in message


async def test_the_async_path_and_run_flow_report_a_run_error_with_the_partial_state() -> None:
    flow = writer_flow("enum", "maybe", ["yes", "no"])
    with pytest.raises(RunError) as caught:
        await run_flow(flow, {"text": "x"})
    assert "wrote 'maybe' into state key 'out', declared enum (yes, no)" in str(caught.value)
    assert caught.value.partial_state is not None
    assert "out" not in caught.value.partial_state


def test_a_long_value_is_shown_truncated() -> None:
    with pytest.raises(NodeError) as caught:
        writer_flow("int", "x" * 10_000).invoke({"text": "x"})
    shown = str(caught.value).split("wrote ", 1)[1].split(" into state key", 1)[0]
    assert shown.startswith("'xxx") and "..." in shown and len(shown) <= 100
    with pytest.raises(NodeError) as caught:
        writer_flow("list[int]", [*range(100_000), "x"]).invoke({"text": "x"})
    message = str(caught.value)
    assert "[0, 1, 2, 3, 4, ...]" in message and "at [100000]" in message


def test_an_append_key_takes_a_list_of_items_and_a_merge_key_a_dict_or_null() -> None:
    appended = writer_flow("list[int]", [1, 2], reducer="append", default=[0])
    assert appended.invoke({"text": "x"})["out"] == [0, 1, 2]
    with pytest.raises(NodeError, match=r"wrote 3 into .*with reducer append a node writes a "):
        writer_flow("list[int]", 3, reducer="append").invoke({"text": "x"})
    with pytest.raises(NodeError, match=r"wrote \['3'\] into .*valid integer at \[0\]"):
        writer_flow("list[int]", ["3"], reducer="append").invoke({"text": "x"})
    merged = writer_flow("dict[str, int]", None, reducer="merge", default={"a": 1})
    assert merged.invoke({"text": "x"})["out"] == {"a": 1}
    with pytest.raises(NodeError, match=r"with reducer merge a node writes a dict\[str, int\]"):
        writer_flow("dict[str, int]", {"b": "x"}, reducer="merge").invoke({"text": "x"})


def test_parallel_appends_are_each_checked() -> None:
    def one(text: str) -> list[int]:
        return [1]

    def bad(text: str) -> list[Any]:
        return ["two"]

    builder = (
        FlowBuilder("fan")
        .state("text", str, input=True)
        .state("items", "list[int]", reducer="append", default=[])
        .function("one", one, reads=["text"], writes=["items"])
        .function("bad", bad, reads=["text"], writes=["items"])
        .edge(START, "one")
        .edge(START, "bad")
        .edge(["one", "bad"], END)
    )
    with pytest.raises(NodeError, match="node 'bad': wrote \\['two'\\] into state key 'items'"):
        builder.compile().invoke({"text": "x"})


def test_only_the_keys_a_node_wrote_are_checked() -> None:
    def partial(text: str) -> dict[str, Any]:
        return {"a": 1}

    flow = (
        FlowBuilder("partial")
        .state("text", str, input=True)
        .state("a", int)
        .state("b", int)
        .function("partial", partial, reads=["text"], writes=["a", "b"])
        .compile()
    )
    assert flow.invoke({"text": "x"}) == {"text": "x", "a": 1}


@pytest.mark.parametrize(
    ("kind", "values", "default", "expected"),
    [
        ("enum", ["A", "B"], "Z", r"state\.out\.default: the default 'Z' does not fit the key's "
         r"type enum \(A, B\) \(Input should be 'A' or 'B'\)\. Use one of the enum's `values`"),
        ("int", None, "notanint", r"the default 'notanint' does not fit the key's type int "
         r"\(Input should be a valid integer\)\. Give a default of type int"),
        ("int", None, None, r"the default None .* or declare the key optional\[int\]"),
        ("list[str]", None, ["a", 2], r"list\[str\] \(Input should be a valid string at \[1\]"),
        (TICKET, None, {"priority": 1}, r"Field required at title"),
    ],
)  # fmt: skip
def test_a_default_that_does_not_fit_is_a_compile_error(
    kind: str, values: list[Any] | None, default: Any, expected: str
) -> None:
    with pytest.raises(FlowCompileError, match=expected):
        writer_flow(kind, None, values, default=default)


def test_every_bad_default_is_reported_at_once_and_good_ones_pass() -> None:
    builder = (
        FlowBuilder("defaults")
        .state("text", str, input=True, default="hello")
        .state("level", "enum", values=["low", "high"], default="low")
        .state("count", int, default="3")
        .state("ratio", float, default=1)
        .state("maybe", "optional[int]", default=None)
        .state("ticket", TICKET, default={"title": "t"})
        .state("flag", bool, default="yes")
        .function("f", lambda text: text, reads=["text"], writes=["text"])
    )
    with pytest.raises(FlowCompileError, match=r"2 problems: state\.count\.default.*state\.flag"):
        builder.compile(allow_imports=(__name__,))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("[yes, no]", r"values\[0\] is the boolean true: .*quote them \('yes'\)"),
        ("[a, b, a, 1, 1]", "enum values must be distinct; repeated: 1, a"),
        ("[a, 1.5]", r"values\[1\] is a float: enum values are strings or integers"),
    ],
)
def test_enum_values_are_distinct_strings_or_integers(values: str, expected: str) -> None:
    text = f"""
name: enums
state:
  level: {{type: enum, values: {values}}}
nodes:
  - {{id: a, kind: function, call: "m:f", writes: [level]}}
"""
    with pytest.raises(FlowSpecError, match=rf"state\.level\.values \(line 4\): {expected}"):
        flow_from_yaml(text)
    quoted = flow_from_yaml(text.replace(values, "['yes', 'no', 1]"))
    assert quoted.state["level"].values == ["yes", "no", 1]


def classify_flow(category: Any, confidence: str, **node: Any) -> Flow:
    """A flow whose LLM `classify` node writes `category` and its confidence (built, not run)."""
    classify = {"id": "sort", "kind": "classify", "reads": ["text"], "output": "category"}
    state = {"text": {"type": "str", "input": True}, "category": category, "p": confidence}
    nodes = [{**classify, "labels": ["a", "b"], "confidence": "p", **node}]
    return compile_flow(flow_from_dict({"name": "sort", "state": state, "nodes": nodes}))


def test_a_classify_node_must_fit_the_enum_and_the_confidence_key_it_writes() -> None:
    enum = {"type": "enum", "values": ["a", "b", "c"]}
    assert classify_flow(enum, "optional[float]").name == "sort"
    assert classify_flow("str", "any").name == "sort"
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.output: node 'sort' can write label\(s\) d into state key 'category', "
        r"an enum whose values are: a, b, c\. Add the label\(s\) to the key's `values`",
    ):
        classify_flow(enum, "optional[float]", labels={"a": "first", "d": "fourth"})
    with pytest.raises(
        FlowCompileError,
        match=r"nodes\[0\]\.confidence: node 'sort' writes a float or null .* into state key 'p', "
        r"whose type does not take it: declare the key optional\[float\]",
    ):
        classify_flow(enum, "float")
