"""The service with the real embedded model (SmolLM2 on llama.cpp) as tier `small`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import write_project
from tests.serve.helpers import Server, metric, serving

pytestmark = pytest.mark.slow

SETTINGS = """
name: embedded
tiers:
  small: {runtime: llamacpp, model: smollm2-135m, max_tokens: 32, parallel: 2}
"""
SENTIMENT = """
name: sentiment
state:
  review: {type: str, input: true}
  sentiment: {type: enum, values: [positive, negative]}
nodes:
  - id: classify
    kind: classify
    tier: small
    reads: [review]
    instructions: Decide whether the review is positive or negative.
    labels: [positive, negative]
    output: sentiment
"""
REVIEWS = ["I love it, works perfectly.", "Broke after a day, awful.", "Great value!", "Terrible."]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve") / "embedded"
    project = write_project(root, {"flows/sentiment.yaml": SENTIMENT}, SETTINGS)
    with serving(project) as running:
        yield running


def test_runs_on_the_embedded_model_concurrently(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json()["tiers"]["small"]["status"] == "idle"

    async def four() -> list[httpx.Response]:
        async with server.async_client(timeout=300) as client:
            posts = (client.post("/flows/sentiment/runs", json={"review": r}) for r in REVIEWS)
            return list(await asyncio.gather(*posts))

    responses = asyncio.run(four())
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    for response in responses:
        run = response.json()
        assert run["state"]["sentiment"] in ("positive", "negative")
        assert run["usage"]["calls"] >= 1 and run["usage"]["prompt_tokens"] > 0
    with server.client() as client:
        tier = client.get("/healthz").json()["tiers"]["small"]
        assert tier["status"] == "up" and tier["url"].startswith("http://127.0.0.1:")
        text = client.get("/metrics").text
    labels = {"flow": "sentiment", "tier": "small"}
    calls = sum(r.json()["usage"]["calls"] for r in responses)
    assert metric(text, "stepladder_model_calls_total", **labels) == calls
    tokens = sum(r.json()["usage"]["prompt_tokens"] for r in responses)
    assert metric(text, "stepladder_tokens_total", direction="input", **labels) == tokens
