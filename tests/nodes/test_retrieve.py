"""The retrieve node against a real on-disk Chroma store with the packaged embedding model."""

import json
from typing import Any

import pytest

from stepladder import FlowBuilder, FlowCompileError, FlowSpecError, compile_flow, flow_from_dict
from stepladder.errors import ConfigError, NodeError, NodeInputError, UserError
from stepladder.flows import Flow, run_flow
from stepladder.retrieval import Store
from stepladder.retrieval.ingest import ingest
from tests.retrieval.embedded import store_in

DOCS = [
    {"id": "r1", "text": "Refunds reach your card within five business days.", "topic": "refund"},
    {"id": "s1", "text": "Parcels ship within two days and arrive in a week.", "topic": "shipping"},
    {"id": "a1", "text": "Reset your password from the sign-in page.", "topic": "account"},
    {"id": "r2", "text": "A refund needs the order number and a reason.", "topic": "refund"},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("retrieve")
    store = store_in(folder)
    path = folder / "help.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    ingest(store, "help", [path], id_field="id")
    store.collection("empty", create=True)
    return store


def top_ids(passages: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["record_id"] for p in passages]


def search_flow(**retrieve: Any) -> Flow:
    node = {"id": "search", "kind": "retrieve", "collection": "help", "query": "question"}
    node.update(output="passages", **retrieve)
    return (
        FlowBuilder("helpdesk")
        .state("question", str, input=True)
        .state("passages", "list[dict]")
        .state("best", "optional[str]")
        .node(node)
        .function("pick", lambda passages: passages[0]["text"] if passages else None,
                  reads=["passages"], writes=["best"])
        .compile()
    )  # fmt: skip


async def test_passages_feed_the_next_node(store: Store) -> None:
    result = await run_flow(
        search_flow(k=2), {"question": "when do I get my money back?"}, store=store
    )
    passages = result.state["passages"]
    assert len(passages) == 2
    assert set(passages[0]) == {"id", "text", "score", "metadata"}
    assert passages[0]["metadata"]["topic"] == "refund"
    assert passages[0]["score"] >= passages[1]["score"]
    assert result.state["best"] == passages[0]["text"]
    assert [node for node, _ in result.updates] == ["search", "pick"]


async def test_where_filters_by_metadata(store: Store) -> None:
    flow = search_flow(k=5, where={"topic": "refund"})
    state = await flow.ainvoke({"question": "how long does shipping take?"}, store=store)
    assert sorted(top_ids(state["passages"])) == ["r1", "r2"]


async def test_min_score_drops_weak_passages(store: Store) -> None:
    flow = search_flow(k=4, min_score=0.3)
    state = await flow.ainvoke({"question": "I forgot my password"}, store=store)
    assert top_ids(state["passages"]) == ["a1"]


async def test_missing_collection_fails_at_run_start(store: Store) -> None:
    seen: list[str] = []
    flow = (
        FlowBuilder("lookup")
        .state("question", str, input=True)
        .state("passages", "list[dict]")
        .function("first", lambda question: seen.append(question), reads=["question"])
        .node({"id": "search", "kind": "retrieve", "collection": "manuals",
               "query": "question", "output": "passages"})
        .compile()
    )  # fmt: skip
    with pytest.raises(ConfigError) as error:
        await run_flow(flow, {"question": "hi"}, store=store)
    assert "collection 'manuals', which is not in the store (collections: empty, help)" in str(
        error.value
    )
    assert "`stepladder ingest manuals PATH...`" in str(error.value)
    assert seen == []  # no node ran


async def test_empty_collection_fails_at_run_start(store: Store) -> None:
    flow = search_flow(collection="empty")
    with pytest.raises(ConfigError, match=r"'empty', which is empty\. Fill it with `stepladder"):
        await run_flow(flow, {"question": "hi"}, store=store)


async def test_a_run_without_a_store() -> None:
    assert search_flow().collections == {"help"}
    with pytest.raises(ConfigError, match="searches collection\\(s\\) help, but the run was given"):
        await run_flow(search_flow(), {"question": "hi"})
    with pytest.raises(ConfigError, match=r"node 'search' retrieves .* the run has no store"):
        await search_flow().ainvoke({"question": "hi"})


async def test_an_empty_query_is_a_node_error(store: Store) -> None:
    with pytest.raises(NodeError, match="the query 'question' is '  '"):
        await search_flow().ainvoke({"question": "  "}, store=store)


def test_reads_and_writes_default_to_query_and_output() -> None:
    spec = flow_from_dict(
        {
            "name": "f",
            "state": {"q": {"type": "str", "input": True}, "hits": "list[dict]"},
            "nodes": [{"id": "s", "kind": "retrieve", "collection": "faq", "query": "q",
                       "output": "hits", "k": 3}],
        }
    )  # fmt: skip
    node = spec.nodes[0]
    assert (node.reads, node.writes) == (["q"], ["hits"])


def test_spec_errors() -> None:
    state = {
        "q": {"type": "str", "input": True},
        "other": {"type": "str", "input": True},
        "hits": "list[dict]",
    }
    node = {"id": "s", "kind": "retrieve", "collection": "faq", "query": "q", "output": "hits"}
    with pytest.raises(FlowCompileError, match="the query key 'q' must be in the node's reads"):
        compile_flow(flow_from_dict({"name": "f", "state": state,
                                     "nodes": [{**node, "reads": ["other"]}]}))  # fmt: skip
    with pytest.raises(FlowSpecError, match="collection"):
        flow_from_dict({"name": "f", "state": state, "nodes": [{**node, "collection": "a b"}]})
    with pytest.raises(FlowSpecError, match="k"):
        flow_from_dict({"name": "f", "state": state, "nodes": [{**node, "k": 0}]})


async def test_an_empty_query_is_the_callers_mistake(store: Store) -> None:
    """Over HTTP a 422 and in the CLI exit 2: the input must change, not stepladder."""
    with pytest.raises(NodeInputError) as caught:
        await search_flow().ainvoke({"question": ""}, store=store)
    assert isinstance(caught.value, UserError)
    assert "Give a non-empty 'question' in the input" in str(caught.value)
