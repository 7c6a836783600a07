from pathlib import Path

import pytest

from stepladder import FlowCompileError, RunError, compile_flow, flow_from_dict, load_flow

SAMPLE = Path(__file__).parent / "sample_project"
SNAPSHOTS = Path(__file__).parent / "snapshots"


def triage():  # type: ignore[no-untyped-def]
    return compile_flow(load_flow(SAMPLE / "flows" / "triage.yaml"), project_root=SAMPLE)


async def test_conditional_on_state_value_and_join() -> None:
    flow = triage()
    state = await flow.ainvoke({"ticket": {"text": "Where is my  PARCEL? It is late"}})
    assert state["category"] == "shipping"
    assert state["reply"] == "shipping team: where is my parcel? it is late"
    assert state["tags"] == ["parcel", "audited"]


async def test_router_output_picks_the_branch() -> None:
    flow = triage()
    state = await flow.ainvoke({"ticket": {"text": "refund please", "priority": 5}})
    assert state["reply"] == "human review: refund please"
    assert "category" not in state


async def test_default_case() -> None:
    state = await triage().ainvoke({"ticket": {"text": "hello there"}})
    assert state["category"] == "other"
    assert state["reply"] == "human review: hello there"


def test_mermaid_snapshot() -> None:
    expected = (SNAPSHOTS / "triage.mmd").read_text()
    assert triage().mermaid() == expected


def node(node_id: str, call: str, reads: list[str], writes: list[str]) -> dict[str, object]:
    return {"id": node_id, "kind": "function", "call": call, "reads": reads, "writes": writes}


def test_missing_case_without_default_is_a_run_error() -> None:
    spec = flow_from_dict(
        {
            "name": "branchy",
            "state": {"mood": {"type": "str", "input": True}, "out": "str"},
            "nodes": [node("a", "stepladder.flows.spec:FlowSpec", [], [])],
            "edges": [
                {"from": "START", "to": "a"},
                {"from": "a", "when": "mood", "cases": {"happy": "END"}},
            ],
        }
    )
    flow = compile_flow(spec, objects={"stepladder.flows.spec:FlowSpec": lambda: None})
    with pytest.raises(RunError, match="matches no case"):
        flow.invoke({"mood": "grumpy"})


def test_cycle_with_exit_compiles() -> None:
    spec = flow_from_dict(
        {
            "name": "loop",
            "state": {
                "n": {"type": "int", "input": True},
                "done": {"type": "bool", "default": False},
            },
            "nodes": [node("step", "m:step", ["n"], ["n", "done"])],
            "edges": [
                {"from": "START", "to": "step"},
                {"from": "step", "when": "done", "cases": {True: "END", False: "step"}},
            ],
        }
    )

    def step(n: int) -> dict[str, object]:
        return {"n": n + 1, "done": n + 1 >= 3}

    flow = compile_flow(spec, objects={"m:step": step})
    assert flow.invoke({"n": 0}) == {"n": 3, "done": True}


def test_errors_are_collected_with_paths() -> None:
    spec = flow_from_dict(
        {
            "name": "bad",
            "state": {"query": "str", "answer": "str"},
            "nodes": [
                node("a", "m:f", ["qury"], ["answer"]),
                node("a", "m:f", [], []),
                node("c", "m:f", ["answer"], []),
            ],
            "edges": [{"from": "START", "to": "a"}, {"from": "a", "to": "ENDD"}],
        }
    )
    with pytest.raises(FlowCompileError) as caught:
        compile_flow(spec)
    message = str(caught.value)
    assert "nodes[0].reads[0]: unknown state key 'qury'; did you mean 'query'?" in message
    assert "nodes[1].id: duplicate node id 'a'" in message
    assert "edges[1].to: unknown node 'ENDD'; did you mean 'END'?" in message


def test_two_conditional_edges_from_one_node_are_a_compile_error() -> None:
    branch = {"from": "a", "when": "query", "cases": {"x": "END"}, "default": "END"}
    spec = flow_from_dict(
        {
            "name": "twice",
            "state": {"query": {"type": "str", "input": True}},
            "nodes": [node("a", "m:f", ["query"], [])],
            "edges": [{"from": "START", "to": "a"}, branch, {**branch, "cases": {"y": "END"}}],
        }
    )
    with pytest.raises(
        FlowCompileError,
        match=r"edges\[2\]: 'a' already has a conditional edge \(edges\[1\]\).*merge their `cases`",
    ):
        compile_flow(spec)
