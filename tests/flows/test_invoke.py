"""`Flow.invoke` and `ainvoke` outside a project: what runs, and what says to open the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepladder import ConfigError, FlowBuilder, UserError, compile_flow, flow_from_dict

SAMPLE = Path(__file__).parent / "sample_project"


async def shout(text: str) -> str:
    return text.upper()


def words(loud: str) -> int:
    return len(loud.split())


def llm_flow() -> FlowBuilder:
    return (
        FlowBuilder("review")
        .state("review", "str", input=True)
        .state("sentiment", "enum", values=["positive", "negative"])
        .node({"id": "classify", "kind": "classify", "tier": "small", "reads": ["review"],
               "labels": ["positive", "negative"], "output": "sentiment"})
    )  # fmt: skip


def test_invoke_on_a_flow_with_llm_nodes_says_to_run_it_with_its_project() -> None:
    flow = llm_flow().compile(project_root=str(SAMPLE))
    with pytest.raises(UserError) as raised:
        flow.invoke({"review": "great"})
    message = str(raised.value)
    assert "flow 'review' needs model tiers (small)" in message
    assert f'stepladder.open_project("{SAMPLE}")' in message
    assert "project.run('review', {...})" in message
    assert "models=ModelPool(...)" in message


async def test_ainvoke_without_models_says_to_await_the_project_run() -> None:
    flow = llm_flow().compile()
    with pytest.raises(UserError, match=r"await project\.arun\('review'"):
        await flow.ainvoke({"review": "great"})


def test_a_flow_searching_a_collection_without_a_store_fails_at_the_node() -> None:
    spec = flow_from_dict(
        {"name": "ask", "state": {"question": {"type": "str", "input": True},
                                  "passages": "list[dict]"},
         "nodes": [{"id": "search", "kind": "retrieve", "collection": "faq", "query": "question",
                    "output": "passages"}]}
    )  # fmt: skip
    with pytest.raises(ConfigError, match="the run has no store"):
        compile_flow(spec).invoke({"question": "why?"})  # async node, run on its own loop


def test_invoke_runs_async_function_nodes_on_a_loop_of_its_own() -> None:
    flow = (
        FlowBuilder("loud")
        .state("text", "str", input=True)
        .state("loud", "str")
        .state("count", "int")
        .function("shout", shout, reads=["text"], writes=["loud"])
        .function("words", words, reads=["loud"], writes=["count"])
        .compile()
    )
    assert flow.async_nodes == {"shout"}
    assert flow.invoke({"text": "a b c"}) == {"text": "a b c", "loud": "A B C", "count": 3}


async def test_invoke_in_a_running_loop_says_to_await_ainvoke() -> None:
    flow = FlowBuilder("loud").state("text", "str", input=True).state("loud", "str")
    compiled = flow.function("shout", shout, reads=["text"], writes=["loud"]).compile()
    with pytest.raises(UserError, match=r"await flow\.ainvoke"):
        compiled.invoke({"text": "a"})
    assert await compiled.ainvoke({"text": "a"}) == {"text": "a", "loud": "A"}


def test_compile_takes_the_project_root_as_a_string() -> None:
    flow = (
        FlowBuilder("triage")
        .state("ticket", "flows.triage_steps:Ticket", input=True)
        .state("text", "str")
        .function("normalize", "flows.triage_steps:normalize", reads=["ticket"], writes=["text"])
        .compile(project_root=str(SAMPLE))
    )
    assert flow.project_root == SAMPLE
