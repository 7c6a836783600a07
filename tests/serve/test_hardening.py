"""The service under hostile or careless clients, in a real process: body limits, a blocking
node that does not stall the service, one writer per thread, bad text and ids, step limits,
runs found after a restart, and stream events that match the published schema."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.serve.helpers import Server, serving, sse_events
from tests.serve.projects import hardening_project

TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hardening_project(tmp_path_factory.mktemp("hard") / "project")


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    with serving(project, "--max-body", "4KiB", "--max-steps", "6") as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client(timeout=TIMEOUT_S) as plain:
        yield plain


async def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        await asyncio.sleep(0.02)


def test_a_blocking_node_stalls_neither_health_nor_other_runs(server: Server, project: Path):
    flows = project / "flows"

    async def scenario() -> tuple[httpx.Response, list[float], httpx.Response, httpx.Response]:
        async with server.async_client(timeout=TIMEOUT_S) as client:
            params = {"thread_id": "spin-1"}
            spinning = asyncio.create_task(
                client.post("/flows/spin/runs", params=params, json={"name": "Ada"})
            )
            await _wait_for(flows / "spinning")
            seconds = []
            for _ in range(5):
                started = time.perf_counter()
                health = await client.get("/healthz")
                seconds.append(time.perf_counter() - started)
                assert health.status_code == 200 and health.json()["runs_in_progress"] >= 1
            other = await client.post("/flows/echo/runs", json={"name": "Bo"})
            again = await client.post("/flows/spin/runs", params=params, json={"name": "Cy"})
            cli = await asyncio.to_thread(_cli_run_on, project, "spin-1")
            assert cli.returncode == 2, cli.stderr
            assert "thread 'spin-1' has a run in progress (pid " in cli.stderr
            (flows / "go").touch()
            return await spinning, seconds, other, again

    spun, seconds, other, again = asyncio.run(scenario())
    print(f"/healthz during a blocking run: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"max {max(seconds) * 1000:.1f} ms")  # fmt: skip
    # Every /healthz answered while the node still spun (it stops only when `go` appears,
    # after them) and saw the run in progress: had the node run on the event loop, none could
    # have answered before it finished. How fast they answered is printed, not asserted (a
    # busy machine may deschedule the server); benchmarks/serve_health.py measures it.
    assert other.status_code == 200 and other.json()["state"]["said"] == "Bo"
    assert again.status_code == 409 and again.json()["error"] == "run_in_progress"
    assert spun.status_code == 200 and spun.json()["state"]["result"] == "spun Ada"


def _cli_run_on(project: Path, thread: str) -> subprocess.CompletedProcess[str]:
    """`stepladder run spin --thread THREAD` in the served project, in another process."""
    command = [sys.executable, "-m", "stepladder", "--project", str(project), "run", "spin",
               "--input", '{"name": "Di"}', "--thread", thread]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_a_body_over_the_limit_is_a_413_that_says_how_to_raise_it(client: httpx.Client) -> None:
    too_large = client.post("/flows/echo/runs", json={"name": "x" * 5000})
    assert too_large.status_code == 413
    body = too_large.json()
    assert body["error"] == "content_too_large" and body["max_body"] == 4096
    assert "4 KiB (4096 bytes)" in body["detail"] and "--max-body" in body["detail"]
    chunks = (b'{"name": "' + b"y" * 1000 for _ in range(6))  # no Content-Length: counted
    chunked = client.post(
        "/flows/echo/runs", content=chunks, headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413 and chunked.json()["error"] == "content_too_large"
    fits = client.post("/flows/echo/runs", json={"name": "x" * 3000})
    assert fits.status_code == 200


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "content", "headers", "status", "kind"),
    [
        ("POST", "/flows/echo/runs", b'{"name": "a\\ud800b"}', JSON, 422, "string_unicode"),
        ("POST", "/flows/echo/runs", b'{"name": "\xff\xfe"}', JSON, 422, "json_invalid"),
        ("POST", "/flows/echo/runs", b'{"name": ' + b"[" * 1900 + b"]" * 1900 + b"}", JSON, 422,
         "json_invalid"),
        ("POST", "/flows/echo/runs", b'{"name": "Ada"}', {"content-type": "text/plain"}, 415,
         "unsupported_media_type"),
        ("POST", "/flows/echo/runs", b'{"name": "Ada"}', {"content-type": ""}, 415,
         "unsupported_media_type"),
        ("GET", "/runs/%C3%A9%E4%B8%AD", b"", {}, 404, "unknown_run"),
        ("GET", "/runs/a%1Fb", b"", {}, 404, "unknown_run"),
        ("POST", "/runs/%C3%A9/resume", b'{"answer": {}}', JSON, 404, "unknown_run"),
        ("POST", "/runs/x/resume", b'{"answer": {"a": "\\udfff"}}', JSON, 422, "string_unicode"),
        ("POST", "/flows/echo/runs?thread_id=%C3%A9", b'{"name": "a"}', JSON, 422,
         "string_pattern_mismatch"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_with_a_json_message(
    client: httpx.Client,
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    kind: str,
) -> None:
    response = client.request(method, path, content=content or None, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    found = body["detail"][0]["type"] if isinstance(body["detail"], list) else body["error"]
    assert found == kind
    assert (body.get("message") or body["detail"]).strip()


def test_a_thread_belongs_to_one_flow_over_http(client: httpx.Client) -> None:
    params = {"thread_id": "owned-1"}
    assert client.post("/flows/echo/runs", params=params, json={"name": "a"}).status_code == 200
    refused = client.post("/flows/loop/runs", params=params, json={})
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "thread_of_another_flow"
    assert "thread 'owned-1' belongs to flow 'echo'" in body["detail"]
    assert client.get("/runs/owned-1").json()["flow"] == "echo"  # the refusal recorded nothing


def test_a_loop_that_never_exits_is_a_422_naming_the_step_limit(client: httpx.Client) -> None:
    stopped = client.post("/flows/loop/runs", json={})
    assert stopped.status_code == 422
    body = stopped.json()
    assert body["error"] == "step_limit"
    assert "flow 'loop' took 6 steps without reaching its end" in body["message"]
    assert "--max-steps" in body["message"]
    run = client.get(f"/runs/{body['run_id']}").json()
    assert run["status"] == "failed" and run["error"]["error"] == "step_limit"


def test_stream_events_match_the_published_schema(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    echo = client.post("/flows/echo/runs", params={"stream": "true"}, json={"name": "Ed"})
    loop = client.post("/flows/loop/runs", params={"stream": "true"}, json={})
    echo_events, loop_events = sse_events(echo.text), sse_events(loop.text)
    assert [name for name, _ in echo_events] == ["update", "final"]
    assert [name for name, _ in loop_events] == ["update"] * 6 + ["error"]
    for path, events in (("/flows/echo/runs", echo_events), ("/flows/loop/runs", loop_events)):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]
        for name, data in events:
            _check_event(document, content["text/event-stream"]["itemSchema"], name, data)
    assert loop_events[-1][1]["error"] == "step_limit"


def _check_event(document: dict[str, Any], item: dict[str, Any], name: str, data: Any) -> None:
    """Validate one event against the item schema: its name, and its data's content schema."""
    text = json.dumps(data)
    jsonschema.validate({"event": name, "data": text}, item)
    [branch] = [b for b in item["oneOf"] if b["properties"]["event"]["const"] == name]
    schema = {**branch["properties"]["data"]["contentSchema"], "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(json.loads(text))


def test_runs_are_found_after_a_restart(tmp_path: Path) -> None:
    project = hardening_project(tmp_path / "project")
    with serving(project) as first, first.client(timeout=TIMEOUT_S) as client:
        plain = client.post("/flows/echo/runs", json={"name": "Flo"}).json()
        threaded = client.post(
            "/flows/echo/runs", params={"thread_id": "kept-1"}, json={"name": "Gus"}
        ).json()
        failed = client.post("/flows/loop/runs", json={}).json()
    with serving(project) as second, second.client(timeout=TIMEOUT_S) as client:
        found = client.get(f"/runs/{plain['run_id']}")
        assert found.status_code == 200
        assert found.json() == plain
        again = client.get("/runs/kept-1").json()
        assert again["status"] == "finished" and again["state"] == threaded["state"]
        lost = client.get(f"/runs/{failed['run_id']}").json()
        assert lost["status"] == "failed" and lost["error"]["error"] == "step_limit"
