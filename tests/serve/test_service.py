"""`stepladder serve` in a real process: runs, streams, 422s, 404s, auth, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.serve.helpers import TOKEN_VARIABLE, Server, metric, serving, sse_events
from tests.serve.projects import function_project

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = function_project(tmp_path_factory.mktemp("serve") / "functions")
    with serving(project, env={TOKEN_VARIABLE: TOKEN}) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(TOKEN) as authorized:
        yield authorized


def test_start_up_names_the_flows_and_the_skipped_file(server: Server, client: httpx.Client):
    assert "serving 3 flow(s)" in server.stderr and "(explode, greet, wait)" in server.stderr
    assert "skipped flow broken:" in server.stderr and "teleport" in server.stderr
    assert "auth: on" in server.stderr and TOKEN not in server.stderr
    listed = client.get("/flows").json()
    assert [f["name"] for f in listed["flows"]] == ["explode", "greet", "wait"]
    assert "teleport" in listed["skipped"]["broken"]


def test_a_run_returns_its_final_state_and_stays_readable(client: httpx.Client) -> None:
    response = client.post("/flows/greet/runs", json={"name": "Ada", "times": 2})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "finished" and run["flow"] == "greet"
    assert run["state"] == {"name": "Ada", "times": 2, "greeting": "hello Ada hello Ada",
                            "length": 19}  # fmt: skip
    assert run["run_id"].startswith("run-") and run["thread_id"] is None
    assert response.headers["x-run-id"] == run["run_id"]
    assert len(run["trace_id"]) == 32 and run["usage"]["calls"] == 0
    again = client.get(f"/runs/{run['run_id']}")
    assert again.status_code == 200
    assert again.json()["state"] == run["state"]


def test_stream_sends_each_node_update_then_the_final_run(client: httpx.Client) -> None:
    response = client.post("/flows/greet/runs", params={"stream": "true"}, json={"name": "Bo"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["update", "update", "final"]
    assert events[0][1] == {"node": "compose", "update": {"greeting": "hello Bo"}}
    assert events[1][1] == {"node": "measure", "update": {"length": 8}}
    final = events[2][1]
    assert final["status"] == "finished" and final["state"]["length"] == 8
    assert final["run_id"] == response.headers["x-run-id"]


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, ["body", "name"], "missing"),
        ({"name": "Ada", "times": "many"}, ["body", "times"], "int_parsing"),
        ({"name": "Ada", "nmae": "x"}, ["body", "nmae"], "extra_forbidden"),
    ],
)
def test_input_that_does_not_fit_is_a_422_naming_the_field(
    client: httpx.Client, body: dict[str, object], loc: list[str], kind: str
) -> None:
    response = client.post("/flows/greet/runs", json=body)
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_input"
    assert [(d["loc"], d["type"]) for d in answer["detail"]] == [(loc, kind)]
    assert answer["message"].startswith(".".join(loc) + ":")


def test_a_body_that_is_not_json_is_a_422(client: httpx.Client) -> None:
    response = client.post(
        "/flows/greet/runs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_flows_and_runs_are_404s(client: httpx.Client) -> None:
    response = client.post("/flows/nope/runs", json={})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_flow"
    assert response.json()["flows"] == ["explode", "greet", "wait"]
    missing = client.get("/runs/run-0000")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_run"
    nowhere = client.get("/nowhere")
    assert nowhere.status_code == 404
    assert nowhere.json() == {"error": "not_found", "detail": "GET /nowhere: Not Found."}


def test_the_bearer_token_guards_everything_but_healthz(server: Server) -> None:
    with server.client() as anonymous:
        refused = anonymous.post("/flows/greet/runs", json={"name": "Ada"})
        assert refused.status_code == 401
        assert TOKEN_VARIABLE in refused.json()["detail"]
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/metrics").status_code == 401
        assert anonymous.get("/healthz").status_code == 200
    with server.client("wrong") as wrong:
        assert wrong.get("/flows").status_code == 401
        assert wrong.get("/flows").json()["detail"] == "the bearer token is not valid."
    with server.client(TOKEN) as right:
        assert right.get("/flows").status_code == 200


def test_openapi_has_each_flows_input_and_state(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["greet_input"]["required"] == ["name"]
    assert schemas["greet_input"]["additionalProperties"] is False
    assert set(schemas["greet_input"]["properties"]) == {"name", "times"}
    state = schemas["greet_state"]["properties"]
    assert set(state) == {"name", "times", "greeting", "length"}
    assert state["length"]["description"] == "Characters in the greeting."
    run = schemas["greet_run"]["properties"]
    assert run["state"]["$ref"] == "#/components/schemas/greet_state"
    operation = document["paths"]["/flows/greet/runs"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/greet_input"
    ok = operation["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"] == "#/components/schemas/greet_run"
    assert "text/event-stream" in ok
    assert {"422", "503"} <= set(operation["responses"])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_runs_execute_concurrently(server: Server) -> None:
    async def fifty() -> list[httpx.Response]:
        async with server.async_client(TOKEN) as client:
            responses = await asyncio.gather(
                *(client.post("/flows/wait/runs", json={"seconds": 0.5}) for _ in range(50))
            )
            return list(responses)

    responses = asyncio.run(fifty())
    assert [r.status_code for r in responses] == [200] * 50
    assert {r.json()["state"]["waited"] for r in responses} == {0.5}
    assert len({r.json()["run_id"] for r in responses}) == 50
    assert max(r.json()["state"]["alongside"] for r in responses) > 1  # runs overlapped


def test_a_run_on_a_thread_is_checkpointed_and_one_thread_runs_once(server: Server) -> None:
    async def overlapping() -> tuple[httpx.Response, httpx.Response]:
        async with server.async_client(TOKEN) as client:
            params = {"thread_id": "wait-thread-1"}
            first = asyncio.create_task(
                client.post("/flows/wait/runs", params=params, json={"seconds": 3})
            )
            for _ in range(200):  # until the server has the first run
                running = await client.get("/runs/wait-thread-1")
                if running.status_code == 200 and running.json()["status"] == "running":
                    break
                await asyncio.sleep(0.05)
            second = await client.post("/flows/wait/runs", params=params, json={"seconds": 0})
            return await first, second

    first, second = asyncio.run(overlapping())
    assert first.status_code == 200 and first.json()["run_id"] == "wait-thread-1"
    assert first.json()["thread_id"] == "wait-thread-1"
    assert second.status_code == 409 and second.json()["error"] == "run_in_progress"
    with server.client(TOKEN) as client:
        bad = client.post("/flows/wait/runs", params={"thread_id": "no spaces"}, json={})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "thread_id"]


def test_a_failing_node_is_a_500_and_the_service_keeps_serving(client: httpx.Client) -> None:
    failed = client.post("/flows/explode/runs", json={"name": "Ada"})
    assert failed.status_code == 500
    body = failed.json()
    assert body["error"] == "node_failed"
    assert "node 'explode': ValueError: cannot greet Ada" in body["detail"]
    run = client.get(f"/runs/{body['run_id']}").json()
    assert run["status"] == "failed" and run["error"]["error"] == "node_failed"
    assert client.post("/flows/greet/runs", json={"name": "Ada"}).status_code == 200


def test_metrics_count_runs_errors_and_latency(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    assert client.post("/flows/greet/runs", json={"name": "Cy"}).status_code == 200
    assert client.post("/flows/explode/runs", json={"name": "Cy"}).status_code == 500
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE stepladder_runs_total counter" in text
    assert "# TYPE stepladder_run_duration_seconds histogram" in text
    assert "# HELP stepladder_tokens_total" in text
    finished = {"flow": "greet", "status": "finished"}
    runs = metric(text, "stepladder_runs_total", **finished)
    assert runs == metric(before, "stepladder_runs_total", **finished) + 1
    errors = metric(text, "stepladder_run_errors_total", flow="explode", kind="node_failed")
    assert errors == metric(before, "stepladder_run_errors_total", flow="explode",
                            kind="node_failed") + 1  # fmt: skip
    count = metric(text, "stepladder_run_duration_seconds_count", flow="greet")
    assert count == metric(text, "stepladder_run_duration_seconds_bucket", flow="greet", le="+Inf")
    assert count >= runs
    assert metric(text, "stepladder_runs_in_progress", flow="greet") == 0
