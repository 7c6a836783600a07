"""The LangGraph SDK's own client (`langgraph_sdk`, async and sync) against a real
`stepladder serve` process on loopback: assistants, threads, runs, streams, a review answered
by resume, and the errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS
from tests.fake_chat import chat_server
from tests.serve.helpers import Server, serving
from tests.serve.projects import DESK, EXPLODE, GREET, STEPS, TOO_LONG


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with chat_server(TOO_LONG) as (port, _):
        url = f"http://127.0.0.1:{port}/v1"
        settings = (
            "name: desk\ntiers:\n"
            f'  small: {{runtime: openai-compatible, base_url: "{url}", model: m}}\n'
            f"  frontier: {{runtime: litellm, model: openai/gpt-4.1-mini, "
            f"api_key_env: {KEYLESS}}}\n"
            "ladder: [small, frontier, human]\n"
        )
        files = {"flows/steps.py": STEPS, "flows/greet.yaml": GREET,
                 "flows/explode.yaml": EXPLODE, "flows/desk.yaml": DESK}  # fmt: skip
        project = write_project(tmp_path_factory.mktemp("lg") / "desk", files, settings)
        with serving(project, env={KEYLESS: None}) as running:
            yield running


async def test_assistants_one_per_flow(server: Server) -> None:
    client = get_client(url=server.url)
    found = await client.assistants.search()
    assert sorted(a["graph_id"] for a in found) == ["desk", "explode", "greet"]
    greet = (await client.assistants.search(graph_id="greet"))[0]
    assert greet["name"] == "greet"
    assert await client.assistants.get(greet["assistant_id"]) == greet
    assert (await client.assistants.get("greet"))["assistant_id"] == greet["assistant_id"]


async def test_a_run_on_a_thread_and_its_state(server: Server) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create(metadata={"user": "ada"})
    assert thread["status"] == "idle"
    values = await client.runs.wait(thread["thread_id"], "greet", input={"name": "Ada"})
    assert values["greeting"] == "hello Ada" and values["length"] == 9
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["greeting"] == "hello Ada"
    assert state["next"] == [] and state["interrupts"] == []
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    again = await client.threads.get(thread["thread_id"])
    assert again["metadata"] == {"user": "ada"} and again["values"]["length"] == 9


async def test_streams_of_values_and_updates(server: Server) -> None:
    client = get_client(url=server.url)
    parts = [
        part
        async for part in client.runs.stream(
            None, "greet", input={"name": "Al", "times": 2}, stream_mode=["updates", "values"]
        )
    ]
    events = [part.event for part in parts]
    assert events == ["metadata", "updates", "values", "updates", "values"]
    assert parts[1].data == {"compose": {"greeting": "hello Al hello Al"}}
    assert parts[3].data == {"measure": {"length": 17}}
    assert parts[4].data == {"name": "Al", "times": 2, "greeting": "hello Al hello Al",
                             "length": 17}  # fmt: skip


async def test_create_then_join_and_stateless_wait(server: Server) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "greet", input={"name": "Bo"})
    assert run["thread_id"] == thread["thread_id"] and run["status"] in ("running", "success")
    joined = await client.runs.join(thread["thread_id"], run["run_id"])
    assert joined["greeting"] == "hello Bo"
    stateless = await client.runs.wait(None, "greet", input={"name": "Cy"})
    assert stateless["length"] == 8


async def test_a_review_is_an_interrupt_answered_by_resume(server: Server) -> None:
    client = get_client(url=server.url)
    thread_id = (await client.threads.create())["thread_id"]
    paused = await client.runs.wait(thread_id, "desk", input={"message": " my order? "})
    (interrupt,) = paused["__interrupt__"]
    assert interrupt["value"]["node"] == "reply"
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["reply"]
    assert [i["id"] for i in state["interrupts"]] == [interrupt["id"]]
    assert (await client.threads.get(thread_id))["status"] == "interrupted"
    done = await client.runs.wait(thread_id, "desk", command={"resume": {"reply": "on its way"}})
    assert done["sent"] == "sent: on its way"
    assert (await client.threads.get_state(thread_id))["next"] == []


async def test_unknown_things_are_404s_and_bad_input_a_422(server: Server) -> None:
    client = get_client(url=server.url)
    with pytest.raises(NotFoundError, match="Assistant 'nope' not found"):
        await client.assistants.get("nope")
    missing = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=f"Thread '{missing}' not found"):
        await client.threads.get(missing)
    with pytest.raises(NotFoundError):
        await client.threads.get_state(missing)
    with pytest.raises(httpx.HTTPStatusError) as unknown:  # runs.wait raises httpx's own error
        await client.runs.wait(None, "nope", input={})
    assert unknown.value.response.status_code == 404
    with pytest.raises(UnprocessableEntityError, match="times"):
        await client.runs.create(None, "greet", input={"name": "Ada", "times": "often"})
    with pytest.raises(httpx.HTTPStatusError) as bad:
        await client.runs.wait(None, "greet", input={"name": "Ada", "times": "often"})
    assert bad.value.response.status_code == 422
    failed: dict[str, Any] = await client.runs.wait(
        None, "explode", input={"name": "Ada"}, raise_error=False
    )
    assert "cannot greet Ada" in failed["__error__"]["message"]


def test_the_sync_client(server: Server) -> None:
    client = get_sync_client(url=server.url)
    thread = client.threads.create()
    values = client.runs.wait(thread["thread_id"], "greet", input={"name": "Di"})
    assert values["greeting"] == "hello Di"
    modes = [p.event for p in client.runs.stream(None, "greet", input={"name": "Ed"},
                                                   stream_mode="updates")]  # fmt: skip
    assert modes == ["metadata", "updates", "updates"]
    assert client.threads.get_state(thread["thread_id"])["values"]["length"] == 8
