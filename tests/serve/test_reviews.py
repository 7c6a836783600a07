"""The service with model tiers: a run paused for a person and resumed (also after a restart),
503s when a tier is down or cannot start, per-tier metrics and the health of each tier.

The `small` tier is a fake OpenAI-style server whose answer is always too long for the `desk`
flow's reply node; `frontier` has no key, so the ladder goes small -> human.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.escalation.helpers import KEYLESS
from tests.fake_chat import chat_server
from tests.serve.helpers import Server, closed_port, metric, serving, sse_events
from tests.serve.projects import TOO_LONG, desk_project

NO_KEY: dict[str, str | None] = {KEYLESS: None}


@pytest.fixture(scope="module")
def chat() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with chat_server(TOO_LONG) as served:
        yield served


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, chat: tuple[int, Any]) -> Path:
    return desk_project(tmp_path_factory.mktemp("serve") / "desk", chat[0], closed_port())


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    with serving(project, env=NO_KEY) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as plain:
        yield plain


def pause(client: httpx.Client, message: str = " where is my order? ") -> dict[str, Any]:
    response = client.post("/flows/desk/runs", json={"message": message})
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    assert run["status"] == "paused"
    return run


def test_a_run_handed_to_a_person_pauses_and_resumes(client: httpx.Client) -> None:
    run = pause(client)
    run_id = run["run_id"]
    assert run_id.startswith("desk-") and run["thread_id"] == run_id
    assert run["state"]["text"] == "where is my order?" and "reply" not in run["state"]
    (review,) = run["reviews"]
    assert (review["node"], review["reason"], review["candidate_tier"]) == (
        "reply", "invalid", "small",
    )  # fmt: skip
    assert review["answer_schema"]["properties"]["reply"]["maxLength"] == 10
    assert run["resume"] == f"/runs/{run_id}/resume"
    assert client.get(f"/runs/{run_id}").json()["status"] == "paused"

    wrong = client.post(f"/runs/{run_id}/resume", json={"answer": {"answer": "x"}})
    assert wrong.status_code == 422
    locs = [d["loc"] for d in wrong.json()["detail"]]
    assert locs == [["body", "answer", "answer"], ["body", "answer", "reply"]]
    too_long = client.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "also too long"}})
    assert too_long.status_code == 422, too_long.text
    assert "at most 10 characters" in too_long.json()["message"]
    assert too_long.json()["detail"][0]["loc"] == ["body"]

    done = client.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "On its way"}})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "finished"
    assert done.json()["state"]["sent"] == "sent: On its way"
    again = client.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "x"}})
    assert again.status_code == 409 and again.json()["error"] == "not_paused"
    assert client.post("/runs/nope/resume", json={"answer": {}}).status_code == 404


def test_a_paused_run_streams_and_resumes_as_a_stream(client: httpx.Client) -> None:
    response = client.post("/flows/desk/runs", params={"stream": True}, json={"message": "hi"})
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["update", "final"]
    final = events[-1][1]
    assert final["status"] == "paused"
    resumed = client.post(
        f"/runs/{final['run_id']}/resume", params={"stream": True}, json={"answer": {"reply": "ok"}}
    )
    events = sse_events(resumed.text)
    assert [e[1].get("node") for e in events] == ["reply", "after", None]
    assert events[-1][1]["state"]["sent"] == "sent: ok"


def test_another_server_reads_and_resumes_a_paused_run(project: Path, client: httpx.Client):
    run_id = pause(client)["run_id"]
    with serving(project, env=NO_KEY) as restarted, restarted.client() as fresh:
        found = fresh.get(f"/runs/{run_id}")
        assert found.status_code == 200, found.text
        run = found.json()
        assert run["status"] == "paused" and run["flow"] == "desk"
        assert run["state"]["text"] == "where is my order?"
        assert run["reviews"][0]["node"] == "reply"
        done = fresh.post(f"/runs/{run_id}/resume", json={"answer": {"reply": "Shipped"}})
        assert done.status_code == 200, done.text
        assert done.json()["state"]["sent"] == "sent: Shipped"
        assert fresh.get(f"/runs/{run_id}").json()["status"] == "finished"


def test_a_model_server_that_is_down_is_a_503_and_the_service_goes_on(
    client: httpx.Client,
) -> None:
    down = client.post("/flows/ask_down/runs", json={"message": "hello"})
    assert down.status_code == 503, down.text
    body = down.json()
    assert body["error"] == "model_unavailable"
    assert (
        "tier 'down'" in body["detail"]
        and "Check that the model server is running" in (body["detail"])
    )
    assert client.get(f"/runs/{body['run_id']}").json()["status"] == "failed"
    pause(client)  # the next run still reaches its model and pauses


def test_a_tier_that_cannot_start_is_a_503(client: httpx.Client) -> None:
    locked = client.post("/flows/ask_locked/runs", json={"message": "hello"})
    assert locked.status_code == 503
    assert locked.json()["error"] == "model_unavailable"
    assert "tier 'locked' cannot start" in locked.json()["detail"]
    assert KEYLESS in locked.json()["detail"]
    streamed = client.post("/flows/ask_locked/runs", params={"stream": True}, json={"message": "x"})
    assert streamed.status_code == 503  # before the stream starts: a plain JSON error


def test_a_stream_whose_model_fails_ends_with_an_error_event(client: httpx.Client) -> None:
    response = client.post("/flows/ask_down/runs", params={"stream": True}, json={"message": "x"})
    assert response.status_code == 200
    ((name, data),) = sse_events(response.text)
    assert name == "error" and data["error"] == "model_unavailable"
    assert data["run"]["status"] == "failed" and data["run_id"] == data["run"]["run_id"]


def test_health_reports_each_tier(client: httpx.Client) -> None:
    client.post("/flows/ask_down/runs", json={"message": "hello"})
    client.post("/flows/ask_locked/runs", json={"message": "hello"})
    report = client.get("/healthz")
    assert report.status_code == 200
    health = report.json()
    tiers = health["tiers"]
    assert health["status"] == "degraded"
    assert tiers["small"]["status"] == "up" and tiers["small"]["required"]
    assert tiers["down"]["status"] == "down"
    assert tiers["locked"]["status"] == "down" and KEYLESS in tiers["locked"]["detail"]
    assert tiers["frontier"] == {
        "runtime": "litellm", "status": "no_key", "required": False,
        "detail": f"its API key variable {KEYLESS} is not set",
    }  # fmt: skip
    assert client.get("/healthz", params={"strict": True}).status_code == 503


def test_metrics_count_model_calls_tokens_and_escalations_per_tier(client: httpx.Client):
    before = client.get("/metrics").text
    paused = pause(client)
    asked = client.post("/flows/ask_small/runs", json={"message": "hello"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["state"]["reply"] == "far too long for ten"
    client.post("/flows/ask_down/runs", json={"message": "hello"})
    text = client.get("/metrics").text

    def grew(name: str, **labels: str) -> float:
        return metric(text, name, **labels) - metric(before, name, **labels)

    small = {"flow": "ask_small", "tier": "small"}
    assert grew("stepladder_model_calls_total", **small) == 1
    assert grew("stepladder_tokens_total", direction="input", **small) == 3
    assert grew("stepladder_tokens_total", direction="output", **small) == 5
    assert grew("stepladder_cost_usd_total", **small) == asked.json()["usage"]["cost_usd"] > 0
    desk = {"flow": "desk", "tier": "small"}
    assert grew("stepladder_model_calls_total", **desk) == paused["usage"]["calls"] == 1
    assert grew("stepladder_escalations_total", flow="desk", tier="human") == 1
    assert grew("stepladder_runs_total", flow="desk", status="paused") == 1
    assert grew("stepladder_run_errors_total", flow="ask_down", kind="model_unavailable") == 1
    assert grew("stepladder_runs_total", flow="ask_down", status="failed") == 1
