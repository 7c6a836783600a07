"""The studio's flows API: flows listed and shown (input schema, picture), runs streamed,
a pending review answered, errors as messages; the service given, or made and closed."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stepladder.config import load_project
from stepladder.serve import Service, load_flows
from stepladder.studio import create_studio_app
from tests.conftest import write_project
from tests.escalation.helpers import KEYLESS
from tests.fake_chat import chat_server
from tests.serve.helpers import closed_port, sse_events
from tests.serve.projects import BROKEN, GREET, STEPS, TOO_LONG
from tests.studio.flow_project import studio_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with chat_server(TOO_LONG) as (port, _):
        yield studio_project(tmp_path_factory.mktemp("studio") / "desk", port, closed_port())


@pytest.fixture
def client(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv(KEYLESS, raising=False)  # no key for the frontier tier: small -> human
    with TestClient(create_studio_app(project)) as studio:
        yield studio


def events(client: TestClient, path: str, body: Any) -> list[tuple[str, Any]]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


def test_flows_are_listed_with_their_nodes_and_inputs(client: TestClient) -> None:
    listed = client.get("/api/flows").json()
    flows = {flow["name"]: flow for flow in listed["flows"]}
    assert set(flows) == {"greet", "desk", "ask_small", "ask_down", "ask_locked"}
    assert flows["greet"]["nodes"] == 2 and flows["desk"]["nodes"] == 3
    assert flows["greet"]["inputs"] == ["name", "times", "loud", "mood", "tags"]
    assert (flows["greet"]["tiers"], flows["greet"]["reaches_human"]) == ([], False)
    assert (flows["desk"]["tiers"], flows["desk"]["reaches_human"]) == (["small"], True)
    assert listed["skipped"] == {}


def test_a_flow_shows_its_input_schema_nodes_and_picture(client: TestClient) -> None:
    flow = client.get("/api/flows/greet").json()
    schema = flow["input_schema"]
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"]["description"] == "Who to greet."
    assert schema["properties"]["times"]["default"] == 2
    assert [n["id"] for n in flow["nodes"]] == ["compose", "measure"]
    assert flow["nodes"][0]["kind"] == "function"
    svg = ET.fromstring(flow["svg"])
    drawn = {g.get("data-node") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert {"START", "compose", "measure", "END"} <= drawn
    missing = client.get("/api/flows/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no flow 'nope' here; flows: ask_down, ask_locked")


def test_a_run_streams_each_node_update_then_its_final_state(client: TestClient) -> None:
    run = events(client, "/api/flows/greet/runs", {"name": "Ada", "loud": True, "tags": ["x"]})
    assert run[:2] == [
        ("update", {"node": "compose", "update": {"greeting": "HELLO ADA HELLO ADA (glad) #x"}}),
        ("update", {"node": "measure", "update": {"length": 29}}),
    ]
    name, final = run[2]
    assert (name, final["status"], final["state"]["length"]) == ("final", "finished", 29)
    shown = client.get(f"/api/flow-runs/{final['run_id']}").json()
    assert shown["status"] == "finished" and shown["state"] == final["state"]


def test_a_pending_review_is_answered_and_the_run_ends(client: TestClient) -> None:
    first = events(client, "/api/flows/desk/runs", {"message": " where is it? "})
    assert first[0] == ("update", {"node": "first", "update": {"text": "where is it?"}})
    name, paused = first[-1]
    assert (name, paused["status"]) == ("final", "paused")
    (review,) = paused["reviews"]
    assert (review["node"], review["reason"]) == ("reply", "invalid")
    assert review["answer_schema"]["properties"]["reply"]["maxLength"] == 10
    resume = f"/api/flow-runs/{paused['run_id']}/resume"

    wrong = client.post(resume, json={"answer": {"answer": "x"}})
    assert wrong.status_code == 422
    assert "answer.answer: not an output of node 'reply'" in wrong.json()["detail"]
    too_long = client.post(resume, json={"answer": {"reply": "far too long"}})
    assert too_long.status_code == 200  # the answer's values are checked as the run resumes
    assert sse_events(too_long.text)[-1][0] == "error"
    assert "at most 10 characters" in sse_events(too_long.text)[-1][1]["message"]

    done = events(client, resume, {"answer": {"reply": "On its way"}})
    assert [data["node"] for name, data in done if name == "update"] == ["reply", "after"]
    name, final = done[-1]
    assert (name, final["status"]) == ("final", "finished")
    assert final["state"]["sent"] == "sent: On its way"
    again = client.post(resume, json={"answer": {"reply": "twice"}})
    assert again.status_code == 409
    assert "waits for no review" in again.json()["detail"]


def test_errors_are_json_messages(client: TestClient) -> None:
    bad = client.post("/api/flows/greet/runs", json={"name": "Ada", "times": "many"})
    assert bad.status_code == 422
    assert "input.times" in bad.json()["detail"]
    locked = client.post("/api/flows/ask_locked/runs", json={"message": "hi"})
    assert locked.status_code == 503  # before the stream starts: a plain JSON error
    assert locked.json()["error"] == "model_unavailable"
    assert "tier 'locked' cannot start" in locked.json()["detail"]
    ((name, data),) = events(client, "/api/flows/ask_down/runs", {"message": "hi"})
    assert (name, data["error"], data["run"]["status"]) == ("error", "model_unavailable", "failed")
    assert "Check that the model server is running" in data["detail"]
    unknown = client.post("/api/flows/nope/runs", json={})
    assert unknown.status_code == 404
    not_json = client.post("/api/flow-runs/x/resume", json={"reply": "no answer key"})
    assert not_json.status_code == 422
    assert not_json.json()["detail"].startswith("answer: Field required")
    assert client.get("/api/flow-runs/nope").status_code == 404


def test_a_given_service_is_used_and_left_open(project: Path) -> None:
    loaded = load_project(root=project)
    service = Service(loaded, load_flows(loaded))
    app = create_studio_app(project, service=service)
    with TestClient(app) as studio:
        run = events(studio, "/api/flows/greet/runs", {"name": "Bo"})
        assert run[-1][1]["status"] == "finished"
    assert service.registry.get(run[-1][1]["run_id"]) is not None  # the run went through it
    assert not service.node_pool._shutdown  # left open: it belongs to whoever gave it
    asyncio.run(service.close())


def test_a_service_made_by_the_studio_is_closed_with_it(project: Path) -> None:
    app = create_studio_app(project)
    with TestClient(app) as studio:
        assert studio.get("/api/flows").status_code == 200
        service = app.state.studio_flows._service
        assert service is not None
    assert service.node_pool._shutdown


def test_a_flow_file_that_does_not_load_says_why(tmp_path: Path) -> None:
    files = {"flows/steps.py": STEPS, "flows/greet.yaml": GREET, "flows/broken.yaml": BROKEN}
    root = write_project(tmp_path / "half", files)
    with TestClient(create_studio_app(root)) as studio:
        listed = studio.get("/api/flows").json()
        assert [flow["name"] for flow in listed["flows"]] == ["greet"]
        assert "teleport" in listed["skipped"]["broken"]
        shown = studio.get("/api/flows/broken")
        assert shown.status_code == 404
        assert shown.json()["detail"].startswith("flow file 'broken' does not load: ")
