from pathlib import Path
from typing import Optional

import pytest

from stepladder import END, START, FlowBuilder, compile_flow, flow_from_yaml, load_flow
from stepladder.flows import type_expression

SAMPLE = Path(__file__).parent / "sample_project"
STEPS = "flows.triage_steps"


def triage_in_python() -> FlowBuilder:
    return (
        FlowBuilder("triage", description="Route a support ticket to a team.")
        .state("ticket", f"{STEPS}:Ticket", input=True)
        .state("text", str)
        .state("category", "enum", values=["billing", "shipping", "other"])
        .state("tags", list[str], reducer="append", default=[])
        .state("reply", Optional[str])  # noqa: UP045 - the builder accepts either spelling
        .function("normalize", f"{STEPS}:normalize", reads=["ticket"], writes=["text"])
        .function("categorize", f"{STEPS}:categorize", reads=["text"], writes=["category", "tags"])
        .function("billing", f"{STEPS}:billing", reads=["text"], writes=["reply"])
        .function("shipping", f"{STEPS}:shipping", reads=["text"], writes=["reply"])
        .function("human", f"{STEPS}:human", reads=["text"], writes=["reply"])
        .function("audit", f"{STEPS}:audit", reads=["tags"], writes=["tags"])
        .edge(START, "normalize")
        .branch(
            "normalize", {"urgent": "human", "normal": "categorize"}, router=f"{STEPS}:by_priority"
        )
        .branch(
            "categorize",
            {"billing": "billing", "shipping": "shipping"},
            when="category",
            default="human",
        )
        .edge("billing", "audit")
        .edge("shipping", "audit")
        .edge("human", END)
        .edge("audit", END)
    )


def test_python_and_yaml_give_the_same_spec_and_graph() -> None:
    from_yaml = load_flow(SAMPLE / "flows" / "triage.yaml")
    from_python = triage_in_python().build()
    assert from_python == from_yaml
    yaml_graph = compile_flow(from_yaml, project_root=SAMPLE)
    python_graph = triage_in_python().compile(project_root=SAMPLE)
    assert python_graph.mermaid() == yaml_graph.mermaid()
    assert python_graph.app.get_graph().to_json() == yaml_graph.app.get_graph().to_json()


def shout(text: str) -> str:
    return text.upper()


def test_importable_callables_are_written_as_references() -> None:
    builder = (
        FlowBuilder("shout")
        .state("text", str, input=True)
        .function("shout", shout, reads=["text"], writes=["text"])
    )
    spec = builder.build()
    assert spec.nodes[0].call == "tests.flows.test_builder:shout"
    yaml_twin = flow_from_yaml(
        "name: shout\nstate:\n  text: {type: str, input: true}\nnodes:\n"
        "  - {id: shout, kind: function, call: 'tests.flows.test_builder:shout',"
        " reads: [text], writes: [text]}\n"
    )
    assert spec == yaml_twin
    assert builder.compile().invoke({"text": "hi"}) == {"text": "HI"}


async def test_local_callables_fan_out_and_join() -> None:
    def split(text: str) -> list[str]:
        return text.split()

    builder = FlowBuilder("fan").state("text", str, input=True).state("words", list[str])
    builder.function("split", split, reads=["text"], writes=["words"])
    for index in range(3):
        builder.state(f"w{index}", str).function(
            f"pick{index}", lambda words, i=index: words[i], reads=["words"], writes=[f"w{index}"]
        )
        builder.edge("split", f"pick{index}")

    async def join(w0: str, w1: str, w2: str) -> str:
        return "-".join([w2, w1, w0])

    builder.state("joined", str).function("join", join, reads=["w0", "w1", "w2"], writes=["joined"])
    builder.edge(START, "split").edge(["pick0", "pick1", "pick2"], "join").edge("join", END)
    flow = builder.compile()
    state = await flow.ainvoke({"text": "one two three"})
    assert state["joined"] == "three-two-one"


@pytest.mark.parametrize(
    ("python_type", "expression"),
    [
        (str, "str"),
        (list[int], "list[int]"),
        (dict[str, float], "dict[str, float]"),
        (Optional[bool], "optional[bool]"),  # noqa: UP045
        (int | None, "optional[int]"),
        ("enum", "enum"),
    ],
)
def test_type_expressions(python_type: object, expression: str) -> None:
    assert type_expression(python_type) == expression
